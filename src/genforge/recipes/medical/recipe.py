"""`run`: the five stages of medical-augment in order, timed, with the summary and report."""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.core.io import write_json
from genforge.recipes.medical import generate
from genforge.recipes.medical.audit import Synthetic, sample_audited
from genforge.recipes.medical.config import (
    EMBEDDED_SETS,
    GENERATORS,
    QUALITY_FILTERS,
    RECIPE,
    STAGING,
    Log,
    MedicalConfig,
)
from genforge.recipes.medical.data import Staged, class_folders, stage_real
from genforge.recipes.medical.estimate import estimate
from genforge.recipes.medical.output import write_dataset
from genforge.recipes.medical.report import write_report
from genforge.recipes.medical.utility import measure_utility


@dataclass
class MedicalResult:
    out: Path
    run: Any
    report: list[Path]
    summary: dict[str, Any]


def check_config(cfg: MedicalConfig) -> None:
    """One-line errors before any work (nothing is written yet)."""
    from genforge.evaluate.utility import CLASSIFIERS

    if cfg.generator not in GENERATORS:
        raise GenforgeError(
            f"unknown generator {cfg.generator!r}; choose one of {', '.join(GENERATORS)}"
        )
    if cfg.quality_filter not in QUALITY_FILTERS:
        raise GenforgeError(
            f"unknown quality filter {cfg.quality_filter!r}; choose one of {', '.join(QUALITY_FILTERS)}"
        )
    if cfg.run is not None and (
        cfg.steps is not None or cfg.model_options or cfg.name or cfg.generator != "auto"
    ):
        raise GenforgeError(
            "--run reuses a trained generator; --generator, --steps, --set and --name apply to "
            "a new one"
        )
    if cfg.classifier not in CLASSIFIERS:
        raise GenforgeError(
            f"unknown classifier {cfg.classifier!r}; choose one of {', '.join(CLASSIFIERS)}"
        )
    if cfg.target_per_class < 1:
        raise GenforgeError(f"--target-per-class must be at least 1, got {cfg.target_per_class}")
    if cfg.real_per_class is not None and cfg.real_per_class < 2:
        raise GenforgeError(f"--real-per-class must be at least 2, got {cfg.real_per_class}")
    if cfg.seeds < 2:
        raise GenforgeError(
            f"--seeds must be at least 2 for a confidence interval, got {cfg.seeds}"
        )
    if not 0.0 < cfg.heldout_fraction < 1.0:
        raise GenforgeError(f"held-out fraction must be in (0, 1), got {cfg.heldout_fraction}")
    if cfg.steps is not None and cfg.steps < 1:
        raise GenforgeError(f"--steps must be at least 1, got {cfg.steps}")
    _check_data(cfg)


def _check_data(cfg: MedicalConfig) -> None:
    if cfg.data not in EMBEDDED_SETS and not Path(cfg.data).expanduser().exists():
        raise GenforgeError(
            f"no such folder: {cfg.data} (give a folder with one subfolder per class, or "
            f"{' / '.join(EMBEDDED_SETS)} for the embedded demo)"
        )
    if cfg.data not in EMBEDDED_SETS:
        class_folders(Path(cfg.data).expanduser())  # two class folders at least, before any work
    if cfg.data in EMBEDDED_SETS and cfg.window is not None:
        raise GenforgeError("--window applies to DICOM files; the phantoms are already gray levels")
    out = Path(cfg.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GenforgeError(f"--out {out} exists and is not an empty folder; choose a new folder")


# ---------------------------------------------------------------------------------------
# The stages
# ---------------------------------------------------------------------------------------


def generator_stage(cfg: MedicalConfig, staged: Staged, progress: bool, log: Log,
                    timings: dict[str, float]) -> tuple[Any, str, str]:  # fmt: skip
    """(2/5) The generator Run: reused (`--run`) or trained; (run, model name, why)."""
    if cfg.run is not None:
        the_run, model = generate.reuse_run(cfg, staged)
        why = (
            f"the existing run '{the_run.name}' (--run, {the_run.step} steps), checked to "
            "have trained on exactly these training images."
        )
        log(estimate(cfg, staged, model, generate.open_sampler(the_run, model)).describe())
        log(f"(2/5) reusing {model} run {the_run.name}: trained on these training images")
        return the_run, model, why
    per_class = {n: c["train"] for n, c in staged.counts.items()}
    model, why = generate.choose_generator(cfg.generator, min(per_class.values()))
    log(estimate(cfg, staged, model).describe())
    log(f"(2/5) training {model}: {why.split(':')[0]}")
    t = time.perf_counter()
    # through the module: scripts/gpu_medical.py sizes the steps by replacing train_generator
    the_run = generate.train_generator(cfg, staged, model, progress)
    timings["train_s"] = time.perf_counter() - t
    log(f"  run: {the_run.path}")
    return the_run, model, why


def sampling_stage(cfg: MedicalConfig, staged: Staged, the_run: Any, model: str,
                   log: Log) -> tuple[Synthetic, Any]:  # fmt: skip
    """(3/5) Synthetic images up to `target_per_class` per class, audited; (them, pipeline)."""
    log(f"(3/5) sampling up to {cfg.target_per_class} images per class, auditing near-copies")
    pipe = generate.open_sampler(the_run, model)
    per_class = {n: c["train"] for n, c in staged.counts.items()}
    need = {
        k: max(0, cfg.target_per_class - per_class[n]) for k, n in enumerate(staged.class_names)
    }
    return sample_audited(pipe, staged, need, cfg, log), pipe


def summarize(cfg: MedicalConfig, staged: Staged, syn: Synthetic, the_run: Any, model: str,
              why: str, utility: dict[str, Any], marks: dict[str, int], files: int,
              timings: dict[str, float]) -> dict[str, Any]:  # fmt: skip
    """summary.json: what was done, counted and measured."""
    return {
        "recipe": RECIPE,
        "data": cfg.data,
        "config": {k: v for k, v in asdict(cfg).items() if k != "model_options"},
        "model_options": cfg.model_options,
        "run": the_run.name,
        "model": model,
        "model_reason": why,
        "classes": staged.class_names,
        "counts": staged.counts,
        "synthetic_per_class": {
            n: int((syn.labels == k).sum()) for k, n in enumerate(staged.class_names)
        },
        "skipped_files": len(staged.skipped),
        "duplicates_dropped": staged.duplicates,
        "dicom_files": staged.dicom["files"],
        "audit": {
            "drawn": syn.drawn,
            "flagged_dropped": syn.flagged,
            "implausible_dropped": syn.implausible,
            "off_label_dropped": syn.off_label,
            "rounds": syn.rounds,
            **syn.audit,
        },
        "utility": utility,
        "marks": marks,
        "files": files,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }


def run(cfg: MedicalConfig, log: Log = print, progress: bool = False) -> MedicalResult:
    """Run the whole recipe (see the package docstring). Returns where everything went."""
    check_config(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    try:
        t = time.perf_counter()
        log(f"(1/5) staging real images from {cfg.data}")
        staged = stage_real(cfg, out, log)
        timings["stage_s"] = time.perf_counter() - t
        per_class = {n: c["train"] for n, c in staged.counts.items()}
        log(
            f"  training: {per_class}; held out: { {n: c['heldout'] for n, c in staged.counts.items()} }"
        )
        the_run, model, why = generator_stage(cfg, staged, progress, log, timings)

        t = time.perf_counter()
        syn, pipe = sampling_stage(cfg, staged, the_run, model, log)
        timings["sample_s"] = time.perf_counter() - t

        log(
            f"(4/5) downstream utility: {cfg.seeds} seeds x 3 training sets, {len(staged.test_x)} held-out real images"
        )
        t = time.perf_counter()
        utility = measure_utility(staged, syn, cfg, log)
        timings["utility_s"] = time.perf_counter() - t

        log("(5/5) writing the augmented dataset, manifest and report")
        params = generate.sampling_params(pipe)
        rows, marks = write_dataset(out, staged, syn, the_run, params, cfg.runs_dir)
    except BaseException:
        if not any(p for p in out.iterdir() if p.name != STAGING):
            shutil.rmtree(out, ignore_errors=True)  # nothing of value yet: a rerun starts clean
        raise
    summary = summarize(cfg, staged, syn, the_run, model, why, utility, marks, len(rows), timings)
    write_json(out / "summary.json", summary)
    report = write_report(out / "report.html", cfg, staged, syn, summary, the_run, pdf=cfg.pdf)
    return MedicalResult(out, the_run, report, summary)
