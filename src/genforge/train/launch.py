"""`train()`: resolve configs, create or reopen the Run, build the model, fit, write the card."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from genforge.core.config import from_dict, to_dict
from genforge.core.errors import GenforgeError
from genforge.core.io import write_json
from genforge.core.run import Run, new_run_path, resolve_run
from genforge.core.version import __version__
from genforge.data.governance import check_use, run_provenance, source_record
from genforge.data.images import scan_image_folder
from genforge.data.modalities import Modality, Split, get_modality
from genforge.models import build_model, get_entry, modality_of, model_config
from genforge.models.base import GenerativeModel
from genforge.train.card import write_model_card
from genforge.train.config import TrainConfig
from genforge.train.feedback import FeedbackSet, attach
from genforge.train.loop import check_eval_config, fit
from genforge.train.trainer import Trainer, resolve_precision

TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}


def split_options(model: str, options: dict[str, Any]) -> tuple[dict, dict, dict]:
    """Sort flat keyword options into (data, train, model) overrides; unknown keys fail."""
    entry = get_entry(model)
    model_keys = {f.name for f in dataclasses.fields(entry.family.Config)}
    data_keys = {f.name for f in dataclasses.fields(get_modality(entry.modality).data_config)}
    data_keys -= {"source"}
    data, train, mdl, unknown = {}, {}, {}, []
    for k, v in options.items():
        k = k.replace("-", "_")
        if k in data_keys:
            data[k] = v
        elif k in TRAIN_KEYS:
            train[k] = v
        elif k in model_keys:
            mdl[k] = v
        else:
            unknown.append(k)
    if unknown:
        valid = sorted(data_keys | TRAIN_KEYS | model_keys)
        raise GenforgeError(
            f"unknown config key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"for {model}; valid keys: {', '.join(valid)}"
        )
    return data, train, mdl


def _seed_everything(seed: int) -> None:
    from accelerate.utils import set_seed

    set_seed(seed)


def train(
    model: str | None = None,
    data: str | None = None,
    *,
    name: str | None = None,
    resume: str | Path | None = None,
    runs_dir: str | Path | None = None,
    progress: bool = False,
    stop_after: int | None = None,
    evaluate: Callable[[Trainer, Run, int], dict[str, float]] | None = None,
    use: str | None = None,
    feedback: FeedbackSet | None = None,
    **options: Any,
) -> Run:
    """Train `model` on `data` and return the Run.

    Args:
        model: a registered model name (`genforge.models.MODELS`), e.g. "dcgan".
        data: an embedded set ("digits", "phantoms", "photos", ...) or a folder/file of the
            model's modality (images, text, audio, a CSV table); default: the modality's demo set.
        name: run name (default "<data>-<model>", made unique).
        resume: name or path of a run to continue from its last checkpoint.
        runs_dir: where runs live (default ./runs or $GENFORGE_RUNS).
        progress: show a progress bar.
        stop_after: stop after this many steps (the run stays resumable).
        evaluate: the `--eval-every` hook, (trainer, run, n) -> {metric: value}; the caller
            passes the modality's "train_eval" handler (`genforge.api.train` does), so that
            training never imports evaluation.
        use: what the model will be used for (commercial, research, personal, internal;
            default unspecified), recorded with each source's datasheet in config.yaml so that
            licences forbidding it are flagged (`genforge runs show`, the model card).
        feedback: with `resume`, every step also learns from these rated outputs.
        **options: config keys of the data (image_size, channels, val_fraction, augment), the
            training (steps, batch_size, lr, precision, seed, ...) or the model (latent_dim, ...).

    Returns:
        The Run folder with weights, samples, metrics and model card.
    """
    from accelerate import PartialState

    procs = PartialState()  # under `accelerate launch`, one of several processes
    if procs.num_processes > 1 and resume is None and name is None:
        raise GenforgeError(
            "training with several processes needs --name, so all of them share one run"
        )
    if name is not None and resume is not None:
        raise GenforgeError(
            "--name and --resume do not go together: --resume names the run to continue"
        )
    if model is None and resume is None:
        raise GenforgeError("which model? e.g. genforge train dcgan --data digits")
    if feedback is not None and resume is None:
        raise GenforgeError("--feedback continues a trained run: pass --resume RUN")
    dataset = None  # loaded once: by _create for a new run, below otherwise
    if procs.is_main_process:  # only the main process creates or updates the run folder
        if resume is not None:
            run, cfg = _reopen(resume, model, data, runs_dir, options, use)
        else:
            run, cfg, dataset = _create(model, data, name, runs_dir, options, use)
    procs.wait_for_everyone()
    if not procs.is_main_process:
        run = resolve_run(resume if resume is not None else name, runs_dir)
        cfg = run.read_config()

    modality = modality_of(cfg)
    train_cfg = from_dict(TrainConfig, cfg["train"])
    if train_cfg.eval_every and evaluate is None:
        raise GenforgeError(_no_eval_hook(modality, cfg["model"]))
    if dataset is None:
        split = modality.load_split(cfg)
    else:  # loaded by _create: split it as load_split would
        data_cfg = modality.data_config_of(cfg["data"])
        split = Split(data_cfg, dataset, *dataset.split(data_cfg.val_fraction, train_cfg.seed))
    spec = modality.spec_of(split.dataset)  # may carry what the data fixed (a text tokenizer)
    if spec.to_dict() != cfg["spec"]:
        raise GenforgeError(
            f"the data of run '{run.name}' no longer matches the run (spec {spec.to_dict()} "
            f"vs {cfg['spec']}); it changed since the run started"
        )
    _seed_everything(train_cfg.seed)
    # a resumed run rebuilds from its checkpoint (e.g. its copy of a pretrained text encoder)
    saved = run.model_dir if resume is not None else None
    family = build_model(cfg["model"], spec, cfg["model_config"], model_dir=saved)
    if resume is None and isinstance(family, GenerativeModel):
        family.load_init()  # --init: a local folder's weights, before the first step
    meta = {"model": cfg["model"], "modality": modality.name, "spec": spec.to_dict(),
            "genforge_version": __version__}  # fmt: skip
    try:
        if family.count_based:  # n-gram: fitted by counting, no steps
            fit_counts(family, split.train, run, meta, procs.is_main_process)
            if procs.is_main_process:
                _write_data_report(run, modality, split)
                write_model_card(run)
            return run
        trainer = Trainer(family, split.train, train_cfg, split.data_config, run=run)
        if resume is not None:
            trainer.restore(run)
            attach(trainer, feedback)  # a feedback round; nothing without one
        elif procs.is_main_process:
            _write_data_report(run, modality, split)
        fit(
            trainer,
            run,
            meta,
            progress=progress and procs.is_main_process,
            stop_after=stop_after,
            preview=modality.handler("preview"),
            evaluate=evaluate,
            throughput=(modality.unit, modality.units_per_item(spec)),
        )
    except BaseException:
        # A new run that failed before its first checkpoint holds nothing worth keeping, and
        # leaving it would block retrying with the same --name.
        if resume is None and procs.is_main_process and run.read_meta() is None:
            shutil.rmtree(run.path, ignore_errors=True)
        raise
    if procs.is_main_process:
        write_model_card(run)
    return run


def _write_data_report(run: Run, modality: Modality, split: Split) -> None:
    """data_report.json: what the data report says, plus the split's sizes (which evaluation
    checks when it rebuilds the split) and how it was made."""
    sizes = modality.split_sizes(split)
    write_json(run.data_report_path, {**split.dataset.report.to_dict(), **sizes})


def fit_counts(family: Any, train_set: Any, run: Run, meta: dict[str, Any], main: bool) -> None:
    """Fit a count-based family (n-gram) on the training token stream and checkpoint it."""
    from genforge.core.checkpoint import save_checkpoint

    family.fit(train_set.stream_ids)
    if main:
        from genforge.core.io import append_line, write_text

        text = family.preview_text(None, train_set.tokenizer, seed=meta.get("seed", 0) + 12345)
        write_text(run.samples_dir / "latest.txt", f"# {run.name}, counts fitted\n\n{text}")
        ngrams = sum(v.numel() for k, v in family.state_dict().items() if k.endswith(".counts"))
        append_line(run.metrics_path, json.dumps({"step": 1, "distinct_ngrams": ngrams}))
        old = run.model_dir if run.model_dir.exists() else None
        save_checkpoint(run, step=1, weights=family.state_dict(), ema_weights=None, meta=meta,
                        state={}, extra=lambda d: family.save_extra(d, old))  # fmt: skip


def _no_eval_hook(modality: Modality, model: str) -> str:
    """Why --eval-every cannot run: the modality has no evaluation during training, or the
    caller passed no hook."""
    if modality.handlers.get("train_eval") is None:
        return modality.no_train_eval.format(name=modality.name, model=model)
    return (
        "--eval-every needs the evaluation hook: train through genforge.api.train or the CLI, "
        "or pass evaluate=get_modality(...).handler('train_eval')"
    )


@dataclass
class Resolved:
    """A new run's configs, resolved from a model name, data and flat options, with its data."""

    modality: Modality
    data_config: Any
    train_config: TrainConfig
    model_config: Any
    model_options: dict[str, Any]
    dataset: Any
    spec: Any


def resolve(model: str, data: str | None, options: dict[str, Any]) -> Resolved:
    """Sort `options` into data, training and model configs (unknown keys fail), load the data
    and check that the model can be built for it; nothing is written."""
    data_opts, train_opts, model_opts = split_options(model, options)
    entry = get_entry(model)
    modality = get_modality(entry.modality)
    _check_domains(model, getattr(entry.family, "domains", None), data_opts)
    data = data or modality.default_data
    mcfg = model_config(model, model_opts)
    if issubclass(entry.family, GenerativeModel):  # --init: what the folder fixes, its hash
        before = to_dict(mcfg)
        mcfg = entry.family.resolve_config(mcfg, model_opts)
        model_opts = {**model_opts,
                      **{k: v for k, v in to_dict(mcfg).items() if before.get(k) != v}}  # fmt: skip
    tcfg = from_dict(TrainConfig, {**entry.train, **train_opts})
    tcfg = replace(tcfg, precision=resolve_precision(tcfg.precision, tcfg.device))
    check_eval_config(tcfg)
    if tcfg.eval_every and modality.handlers.get("train_eval") is None:
        raise GenforgeError(modality.no_train_eval.format(name=modality.name, model=model))
    source = modality.absolute(data)
    if data_opts.get("attributes"):  # config.yaml records where the labels came from
        data_opts["attributes"] = str(Path(data_opts["attributes"]).expanduser().resolve())
    dcfg = from_dict(modality.data_config, {"source": source, **data_opts})
    dataset = modality.load(dcfg, tcfg.seed)
    tcfg = modality.resolve_train(dcfg, dataset, tcfg)
    spec = modality.spec_of(dataset)
    family = build_model(model, spec, model_opts)  # fail on unsupported size / unlabeled data
    if isinstance(family, GenerativeModel):  # ... or an --init folder that does not fit
        family.check_init()
    return Resolved(modality, dcfg, tcfg, mcfg, model_opts, dataset, spec)


def _create(
    model: str, data: str | None, name: str | None, runs_dir, options: dict, use: str | None
) -> tuple[Run, dict, Any]:
    check_use(use)  # before the data is read
    r = resolve(model, data, options)
    run = Run(new_run_path(name, f"{r.dataset.name}-{model}", runs_dir))
    cfg = {
        "name": run.name,
        "model": model,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "genforge_version": __version__,
        "modality": r.modality.name,
        "data": r.modality.resolved_data(r.data_config, r.dataset),
        "spec": r.spec.to_dict(),
        "model_config": to_dict(r.model_config),
        "train": to_dict(r.train_config),
        "provenance": _provenance(r, use),
    }
    run.path.mkdir(parents=True, exist_ok=False)
    run.write_config(cfg)
    return run, cfg, r.dataset


@dataclass
class StepTiming:
    """What `time_steps` measured: seconds per training step, and the (briefly trained)
    family and training split, for timing its sampling and other stages too."""

    seconds_per_step: float
    steps: int  # the training steps the options ask for
    model: Any
    train_set: Any  # the training split it stepped on

    @property
    def total_seconds(self) -> float:
        return self.seconds_per_step * self.steps


def time_steps(model: str, data: str | None = None, timed: int = 3, **options: Any) -> StepTiming:
    """Measure a training step of `model` on `data` with `options` on this machine: a dry
    trainer (nothing written) takes one warm-up step, then the median of `timed` steps. For
    estimates of how long a training will take, before it starts."""
    import statistics
    import time

    r = resolve(model, data, options)
    train_set, _ = r.dataset.split(r.data_config.val_fraction, seed=r.train_config.seed)
    _seed_everything(r.train_config.seed)
    family = build_model(model, r.spec, r.model_options)
    trainer = Trainer(family, train_set, r.train_config, r.data_config, run=None)
    times = []
    for i in range(timed + 1):
        t = time.perf_counter()
        logs = trainer.step()
        _ = [float(v) for v in logs.values()]  # wait for the device
        if i:  # the first step warms up (allocations, kernel choice)
            times.append(time.perf_counter() - t)
    return StepTiming(statistics.median(times), r.train_config.steps, family, train_set)


def _check_domains(model: str, kind: str | None, data_opts: dict[str, Any]) -> None:
    """Two-domain families need --domain-a/--domain-b (pix2pix) or accept them (cyclegan);
    every other family trains on --data. Sets data_opts["paired"] from the family."""
    if data_opts.get("domain_b") and kind is None:
        raise GenforgeError(
            f"--domain-a/--domain-b are for two-domain models (cyclegan, pix2pix); {model} "
            "trains on --data"
        )
    if kind == "paired" and not data_opts.get("domain_b"):
        raise GenforgeError(
            f"{model} learns from paired folders: --domain-a ./sketches --domain-b ./photos "
            "(files paired by name)"
        )
    if kind is not None:
        data_opts["paired"] = kind == "paired"


def _provenance(r: Resolved, use: str | None) -> dict[str, Any]:
    """The run's declared use and, per source, its datasheet and the hash of the files used
    (data/governance.py); `--resume` keeps it as recorded."""
    report = getattr(r.dataset, "report", None)
    content = getattr(report, "content", None) or {}
    source = r.data_config.source
    sources = [source_record(source, r.modality.is_embedded(source), content)]
    domain_b = getattr(r.data_config, "domain_b", None)
    if domain_b:  # two-domain runs: each folder is a source of its own
        sources = [source_record(src, False, scan_image_folder(src).content)
                   for src in (source, domain_b)]  # fmt: skip
    return run_provenance(use, sources)


def _reopen(
    ref, model: str | None, data: str | None, runs_dir, options: dict, use: str | None = None
) -> tuple[Run, dict]:
    run = resolve_run(ref, runs_dir)
    cfg = run.read_config()
    recorded = (cfg.get("provenance") or {}).get("use", "unspecified")
    if use is not None and check_use(use) != recorded:
        raise GenforgeError(
            f"run '{run.name}' was declared for {recorded} use; --use cannot change on resume"
        )
    if model is not None and model != cfg["model"]:
        raise GenforgeError(f"run '{run.name}' is a {cfg['model']} run, not {model}")
    if (
        data is not None
        and data != cfg["data"]["source"]
        and str(Path(data).resolve()) != cfg["data"]["source"]
    ):
        raise GenforgeError(
            f"run '{run.name}' was trained on {cfg['data']['source']}; --data cannot change on resume"
        )
    _, train_opts, _ = split_options(cfg["model"], options)
    fixed = sorted(set(options) - set(train_opts))
    if fixed:
        raise GenforgeError(f"cannot change {', '.join(fixed)} when resuming run '{run.name}'")
    cfg["train"] = to_dict(from_dict(TrainConfig, {**cfg["train"], **train_opts}))
    check_eval_config(from_dict(TrainConfig, cfg["train"]))
    if run.read_meta() is None:
        raise GenforgeError(
            f"run '{run.name}' has no checkpoint yet; start it again without --resume"
        )
    if run.step >= cfg["train"]["steps"]:
        raise GenforgeError(
            f"run '{run.name}' already reached step {run.step} of {cfg['train']['steps']}; "
            "pass a larger --steps to train further"
        )
    run.write_config(cfg)
    return run, cfg
