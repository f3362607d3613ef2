"""The visible training loop: step, log, guard, sample, checkpoint."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.core.io import append_line, replace_dir
from genforge.core.run import Run
from genforge.train.trainer import Trainer, check_finite


class MetricsLogger:
    """metrics.jsonl (one JSON object per log step) and TensorBoard scalars/images."""

    def __init__(self, run: Run, tensorboard: bool = True):
        self.run = run
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(log_dir=str(run.tb_dir))

    def log(self, step: int, values: dict[str, float]) -> None:
        append_line(self.run.metrics_path, json.dumps({"step": step, **values}))
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(f"train/{k}", v, step)

    def image(self, step: int, grid) -> None:  # grid: uint8 (H, W, C)
        if self.tb is not None:
            self.tb.add_image("samples", grid, step, dataformats="HWC")

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if not enabled:
        return nullcontext(None)
    return Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[losses]}"),
    )


# what "better" means for each metric --keep-best accepts ("fid" names the Fréchet distance
# in whatever feature space the evaluation uses; the logged key is eval_fd)
KEEP_BEST = {"fd": "lower", "fid": "lower", "precision": "higher", "recall": "higher",
             "accuracy": "higher", "val_loss": "lower"}  # fmt: skip


def check_eval_config(cfg: Any) -> None:
    """Fail early on inconsistent --eval-every / --keep-best / --early-stop settings."""
    if cfg.eval_every < 0:
        raise GenforgeError(f"--eval-every must be >= 0, got {cfg.eval_every}")
    if cfg.keep_best is not None and cfg.keep_best not in KEEP_BEST:
        raise GenforgeError(
            f"unknown --keep-best metric '{cfg.keep_best}'; choose one of {', '.join(KEEP_BEST)}"
        )
    if (cfg.keep_best or cfg.early_stop) and not cfg.eval_every:
        raise GenforgeError("--keep-best and --early-stop need --eval-every K")
    if cfg.early_stop and not cfg.keep_best:
        raise GenforgeError("--early-stop needs --keep-best METRIC to know what improving means")


class EvalGuard:
    """Evaluation during training: logs eval_* values, keeps the best checkpoint in best/,
    and says when `early_stop` evaluations in a row brought no improvement."""

    def __init__(self, cfg: Any, run: Run, evaluate: Callable):
        check_eval_config(cfg)
        self.cfg, self.run, self.evaluate_fn = cfg, run, evaluate
        self.key = {"fid": "fd"}.get(cfg.keep_best, cfg.keep_best) if cfg.keep_best else None
        self.lower = KEEP_BEST.get(cfg.keep_best or "", "lower") == "lower"
        self.best: float | None = None
        self.since_best = 0
        marker = run.best_dir / "best.json"
        if self.key and marker.exists():  # resumed: the best so far stays the bar
            self.best = json.loads(marker.read_text())["value"]

    def evaluate(
        self, trainer: Trainer, run: Run, step: int, logger: Any, saved: bool, meta: dict
    ) -> dict[str, float]:
        values = self.evaluate_fn(trainer, run, self.cfg.eval_samples)
        logged = {f"eval_{k}": float(v) for k, v in values.items()}
        if self.key is not None:
            if self.key not in values:
                raise GenforgeError(
                    f"--keep-best {self.cfg.keep_best}: this run's evaluation gives "
                    f"{', '.join(values)}"
                )
            v = float(values[self.key])
            if self.best is None or (v < self.best if self.lower else v > self.best):
                self.best, self.since_best = v, 0
                if not saved:
                    trainer.save(meta)
                self._keep_best(step, v)
                logged["eval_best"] = 1.0
            else:
                self.since_best += 1
        if logger:
            logger.log(step, logged)
        return logged

    def _keep_best(self, step: int, value: float) -> None:
        import shutil

        stage = self.run.path / ".best.tmp"
        shutil.rmtree(stage, ignore_errors=True)
        shutil.copytree(self.run.model_dir, stage)
        (stage / "best.json").write_text(
            json.dumps({"step": step, "metric": self.key, "value": value})
        )
        replace_dir(stage, self.run.best_dir)

    def should_stop(self) -> bool:
        return bool(self.cfg.early_stop) and self.since_best >= self.cfg.early_stop


class StopRequest:
    """SIGINT/SIGTERM ask the loop to stop after the current step (a second Ctrl-C aborts)."""

    def __init__(self):
        self.requested = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def fit(
    trainer: Trainer,
    run: Run,
    meta: dict[str, Any],
    progress: bool = True,
    stop_after: int | None = None,
    preview: Callable[[Trainer, Run, int, MetricsLogger | None], None] | None = None,
    evaluate: Callable[[Trainer, Run, int], dict[str, float]] | None = None,
    throughput: tuple[str, int] = ("images", 1),
) -> Run:
    """Train until `cfg.steps` (or `stop_after` more steps), checkpointing along the way.

    Ctrl-C (or SIGTERM) finishes the current step, saves a checkpoint and raises a
    GenforgeError telling how to resume; a NaN/inf loss stops the run and keeps the last good
    checkpoint.

    `preview` writes the run's samples every `sample_every` steps (the modality's preview
    handler; None: no previews); `evaluate` is the `--eval-every` hook; `throughput` is
    (unit, units per training item), e.g. ("tokens", 128) for text windows of 128 tokens: the
    log records `<unit>_per_s`.
    """
    cfg = trainer.cfg
    logger = MetricsLogger(run) if trainer.accelerator.is_main_process else None
    guard = EvalGuard(cfg, run, evaluate) if cfg.eval_every and evaluate is not None else None
    if guard is not None and trainer.accelerator.num_processes > 1:
        raise GenforgeError("--eval-every runs in single-process training only")
    end = cfg.steps if stop_after is None else min(cfg.steps, trainer.step_count + stop_after)
    n_critic = getattr(trainer.model.config, "n_critic", 1)
    unit, per_item = throughput
    rate_key = f"{unit}_per_s"
    units_per_step = cfg.batch_size * n_critic * trainer.accelerator.num_processes * per_item
    t_log, n_log = time.perf_counter(), 0
    try:
        with StopRequest() as stop, _progress(progress) as bar:
            task = (
                bar.add_task(
                    "train", total=cfg.steps, completed=trainer.step_count, rate="", losses=""
                )
                if bar
                else None
            )
            while trainer.step_count < end:
                logs = trainer.step()
                step, n_log = trainer.step_count, n_log + 1
                is_last = step == end or stop.requested
                if step % cfg.log_every == 0 or step % cfg.checkpoint_every == 0 or is_last:
                    values = {k: float(v) for k, v in logs.items()}  # one device sync per log
                    check_finite(step, values, run)
                    elapsed = time.perf_counter() - t_log
                    values[rate_key] = n_log * units_per_step / max(elapsed, 1e-9)
                    values["lr"] = next(iter(trainer.opts.values())).param_groups[0]["lr"]
                    t_log, n_log = time.perf_counter(), 0
                    if logger:
                        logger.log(step, values)
                    if bar is not None:
                        losses = "  ".join(
                            f"{k} {v:.3f}" for k, v in values.items() if k.startswith("loss")
                        )
                        bar.update(task, rate=f"{values[rate_key]:,.0f} {unit}/s", losses=losses)
                if bar is not None:
                    bar.update(task, completed=step)
                if logger and preview is not None and (step % cfg.sample_every == 0 or is_last):
                    preview(trainer, run, step, logger)
                saved = step % cfg.checkpoint_every == 0 or is_last
                if saved:
                    trainer.save(meta)
                if guard is not None and (step % cfg.eval_every == 0 or is_last):
                    values = guard.evaluate(trainer, run, step, logger, saved, meta)
                    if bar is not None:
                        bar.console.print(
                            f"step {step}: " + "  ".join(f"{k} {v:.4g}" for k, v in values.items())
                        )
                    if guard.should_stop():
                        if not saved:
                            trainer.save(meta)
                        break
                if stop.requested:
                    raise GenforgeError(
                        f"interrupted; checkpoint saved at step {step}; continue with: "
                        f"genforge train {meta['model']} --resume {run.name}"
                    )
    except KeyboardInterrupt:
        raise GenforgeError(
            f"aborted; the last checkpoint (step {run.step}) is kept; continue with: "
            f"genforge train {meta['model']} --resume {run.name}"
        ) from None
    finally:
        if logger:
            logger.close()
    return run
