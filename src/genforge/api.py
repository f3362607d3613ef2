"""The Python entry points: `genforge.train(...)`, `genforge.load(...)` and `train_run(...)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.core.run import Run, resolve_run
from genforge.models import get_entry, modality_of
from genforge.train import launch
from genforge.train.card import write_model_card


def train_run(model: str | None = None, data: str | None = None, **options: Any) -> Run:
    """Train `model` on `data` and return the Run folder (see `genforge.train.launch.train` for
    every option: name, resume, steps, batch_size, image_size, latent_dim, ...). The modality's
    evaluation hook is passed along, so `eval_every` works for the modalities that have one."""
    if model is not None:
        name = get_entry(model).modality
    elif options.get("resume") is not None:
        name = modality_of(
            resolve_run(options["resume"], options.get("runs_dir")).read_config()
        ).name
    else:
        return launch.train(model, data, **options)  # the launcher explains what is missing
    from genforge.data.modalities import get_modality

    hook = get_modality(name).handler("train_eval")
    return launch.train(model, data, evaluate=hook, **options)


def feedback_round(
    run: str | Path | Run,
    *,
    runs_dir: str | Path | None = None,
    db: str | Path | None = None,
    checks: int = 200,
    force: bool = False,
    progress: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """One feedback round (`genforge train --resume RUN --feedback`): continue `run` for
    `feedback_steps` more steps (or up to `steps`) learning from its ratings, keep the weights
    from before in feedback/round-N/model, and check diversity and memorisation on `checks`
    fresh samples before and after. Returns the round's record (also in config.yaml).

    Raises GenforgeError when the family cannot learn from ratings, there are none usable, or
    the previous round lowered diversity (pass `force=True` to go on anyway).
    """
    import json

    from genforge.core.config import from_dict
    from genforge.evaluate import feedback_guard
    from genforge.safety.feedback import FeedbackStore
    from genforge.safety.provenance import default_db_path
    from genforge.train import feedback as fb
    from genforge.train.config import TrainConfig

    r = run if isinstance(run, Run) else resolve_run(run, runs_dir)
    cfg = r.read_config()
    if r.read_meta() is None:
        raise GenforgeError(f"run '{r.name}' has no checkpoint yet; train it first")
    done = r.feedback_rounds()
    if done and done[-1].get("diversity_fell") and not force:
        raise GenforgeError(
            f"stopped: diversity fell in feedback round {done[-1]['round']} of '{r.name}' "
            f"({'; '.join(done[-1]['diversity_fell'])}); its weights from before are in "
            f"{r.before_feedback_dir()}. Rate a broader set, or pass --set feedback_force=true"
        )
    family = get_entry(cfg["model"]).family
    store = FeedbackStore(db or default_db_path(runs_dir))
    data = fb.collect(r, store, getattr(family, "feedback", None))
    tcfg = from_dict(
        TrainConfig,
        {
            **cfg["train"],
            **{k: v for k, v in options.items() if k in TrainConfig.__dataclass_fields__},
        },
    )
    fb.per_step(tcfg)  # a bad feedback_share fails before anything runs
    steps = int(options.pop("steps", None) or r.step + tcfg.feedback_steps)
    if steps <= r.step:
        raise GenforgeError(f"--steps {steps} is not past the run's step {r.step}")
    n = len(done) + 1
    kept = fb.keep_before(r, n)
    before = feedback_guard.checks(r, kept, n=checks, seed=n)
    start = json.loads((kept / "meta.json").read_text())["step"]
    data.start_step = start
    train_run(resume=r.path, runs_dir=runs_dir, feedback=data, progress=progress, steps=steps,
              **options)  # fmt: skip
    after = feedback_guard.checks(r, n=checks, seed=n)
    entry = {
        "round": n,
        "steps": [start, r.step],
        "kind": data.kind,
        "share": tcfg.feedback_share,
        "weight": tcfg.feedback_weight,
        **({"dpo_beta": tcfg.dpo_beta} if data.kind == "preference" else {}),
        **{k: v for k, v in data.summary().items() if k != "output_ids"},
        "outputs": data.summary()["output_ids"],
        "before": before,
        "after": after,
        "diversity_fell": feedback_guard.fell(before, after),
        "previous_weights": str(kept.relative_to(r.path)),
    }
    fb.record_round(r, entry)
    write_model_card(r)
    return entry


def train(model: str, data: str | None = None, **options: Any) -> Any:
    """Train `model` on `data` and return the loaded result (see `train_run`)."""
    return load(train_run(model, data, **options))


def load(run: str | Path | Run, device: str = "auto") -> Any:
    """Load a trained Run (name, path or Run) as its modality's pipeline: an ImagePipeline
    (`.sample(n, seed=...)`), a TextPipeline (`.complete(prompt, ...)`), a TablePipeline
    (`.sample(n, seed)` rows) or an AudioPipeline (`.sample(n, seed)` clips)."""
    r = run if isinstance(run, Run) else resolve_run(run)
    if r.read_meta() is None:
        raise GenforgeError(f"run '{r.name}' has no checkpoint yet; train it first")
    return modality_of(r.read_config()).handler("pipeline")(r, device=device)


# ---------------------------------------------------------------------------------------
# Real-vs-generated detectors: staged data, trained by the shared trainer, then measured
# ---------------------------------------------------------------------------------------


def train_detector(
    real: str | Path,
    fake: str | Path,
    *,
    eval_fake: str | Path | None = None,
    samples: int | None = None,
    target_fpr: float | None = None,
    name: str | None = None,
    runs_dir: str | Path | None = None,
    **options: Any,
) -> tuple[Run, Any]:
    """Train a real-vs-generated image detector (models/detector.py) and evaluate it.

    Args:
        real: real images: a folder or an embedded set (digits, photos, ...).
        fake: generated images: a folder, or a genforge run sampled `samples` times.
        eval_fake: a generator family held out of training (folder or run), for the
            cross-family AUC.
        samples: images drawn from a run given as `fake`/`eval_fake` (default: as many as the
            real images, at most 2000).
        target_fpr: the false-positive rate the threshold is calibrated to (default 0.05).
        name, runs_dir, **options: as for `train_run` (steps, image_size, batch_size, ...).

    Returns:
        (the detector Run, its EvalResult; report.html and detector.json are in the run).
    """
    from genforge.core.run import new_run_path, runs_root
    from genforge.evaluate import evaluate_run
    from genforge.evaluate.report import write_report

    default = f"{Path(str(real)).name}-vs-{Path(str(fake)).name}-detector"
    run_name = new_run_path(name, default, runs_dir).name  # a free name, checked before work
    staged = runs_root(runs_dir) / ".detector-data" / run_name
    if staged.exists():  # left by a run of that name that was since deleted
        import shutil

        shutil.rmtree(staged)
    n_real = _stage(real, staged / "real", options.get("image_size"), None)
    _check_calibration(n_real, options.get("val_fraction"), staged)
    n = samples if samples is not None else min(max(n_real, 1), 2000)
    _stage(fake, staged / "generated", options.get("image_size"), n)
    _write_detector_datasheet(staged, real, fake)
    run = train_run("detector", str(staged), name=run_name, runs_dir=runs_dir, **options)
    result = evaluate_run(run, eval_fake=eval_fake, n=samples,
                          **({} if target_fpr is None else {"target_fpr": target_fpr}))  # fmt: skip
    write_report(run, result)
    return run, result


def _check_calibration(n_real: int, val_fraction: float | None, staged: Path) -> None:
    """Fail before training when too few real images would be held out to calibrate on."""
    from genforge.data.dataset import ImageDataConfig

    share = ImageDataConfig.val_fraction if val_fraction is None else float(val_fraction)
    if round(n_real * share) < 8:
        import shutil

        shutil.rmtree(staged)
        raise GenforgeError(
            f"{n_real} real images hold out {round(n_real * share)} at val_fraction {share}; "
            "calibrating the threshold needs at least 8 (two halves of 4): give more real "
            "images or a larger --set val_fraction"
        )


def _stage(source: str | Path, folder: Path, image_size: int | None, n: int | None) -> int:
    """Write the images of `source` into `folder`: an embedded set's images, a folder's image
    files (copied), or `n` samples of a run (genforge PNGs). Returns how many."""
    import shutil

    from genforge.core.images import save_png, to_uint8
    from genforge.data.dataset import is_embedded
    from genforge.data.images import IMAGE_EXTENSIONS

    folder.mkdir(parents=True)
    p = Path(str(source))
    if is_embedded(str(source)) and not p.exists():
        from genforge.data.embedded import load_embedded

        images = load_embedded(str(source), image_size).images
        for i, img in enumerate(images):
            save_png(folder / f"{source}-{i:05d}.png", to_uint8(img))
        return len(images)
    if p.is_dir() and not (p / "config.yaml").exists():
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS
                       and not any(part.startswith(".") for part in f.relative_to(p).parts))  # fmt: skip
        if not files:
            raise GenforgeError(f"no image files in {p}")
        for i, f in enumerate(files):
            shutil.copyfile(f, folder / f"{i:05d}-{f.name}")
        return len(files)
    from genforge.generate.image import open_pipeline

    pipe = open_pipeline(resolve_run(str(source)))
    params = {"run": pipe.run.name, "kind": "detector-training-sample"}
    for start in range(0, n or 0, 256):
        batch = pipe.sample(min(256, n - start), seed=start)
        for i, img in enumerate(batch):
            save_png(folder / f"{pipe.run.name}-{start + i:05d}.png", to_uint8(img),
                     {**params, "index": start + i})  # fmt: skip
    return n or 0


def _write_detector_datasheet(staged: Path, real: str | Path, fake: str | Path) -> None:
    """A datasheet for the staged data when every source's licence is known: the real images'
    datasheet and, for generated images, their folder's or their run's training data."""
    import yaml

    from genforge.core.io import write_text
    from genforge.data.dataset import is_embedded
    from genforge.data.governance import datasheet_of

    licences = []
    for src in (real, fake):
        p = Path(str(src))
        if (p.is_dir() and not (p / "config.yaml").exists()) or is_embedded(str(src)):
            sheet = datasheet_of(str(src), is_embedded(str(src)) and not p.exists())
            sheets = [sheet.license] if sheet else [None]
        else:  # a run: the licences of what it learned from
            prov = resolve_run(str(src)).read_config().get("provenance") or {}
            sheets = [
                (s.get("datasheet") or {}).get("license") for s in prov.get("sources") or [{}]
            ]
        licences += sheets
    if None in licences or not licences:
        return
    unique = list(dict.fromkeys(licences))
    sheet = {"source": f"detector data: real images from {real}, generated images from {fake}",
             "license": " AND ".join(f"({x})" if " " in x else x for x in unique)}  # fmt: skip
    write_text(staged / "datasheet.yaml", yaml.safe_dump(sheet, sort_keys=False))
