"""`run`: the characters recipe's stages in order (see the package docstring)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genforge.core.errors import GenforgeError
from genforge.core.images import save_png
from genforge.core.io import write_json
from genforge.core.run import Run, resolve_run
from genforge.recipes.characters.config import DEMO_DATA, CharactersConfig, Log
from genforge.recipes.characters.estimate import estimate
from genforge.recipes.characters.judge import classify, train_attribute_classifier
from genforge.recipes.characters.metrics import (
    combinations,
    combo_ids,
    edit_scores,
    mean_pairwise_distance,
    slices_text,
    worst_slices,
)
from genforge.recipes.characters.pictures import (
    describe,
    editing_grid,
    open_character_run,
    write_sprite_sheet,
)
from genforge.recipes.characters.report import sections, verdict_of, write_report


@dataclass
class CharactersResult:
    run: Run
    report: list[Path]
    out_dir: Path
    verdict_level: str
    metrics: dict[str, Any] = field(default_factory=dict)


def resolve_data(data: str | None, attributes: str | Path | None,
                 demo: bool) -> tuple[str, Path | None]:  # fmt: skip
    """(image source, attributes CSV or None for the embedded sprites); one-line errors."""
    if demo:
        if data is not None or attributes is not None:
            raise GenforgeError("--demo uses the embedded sprites; drop --data/--attributes")
        return DEMO_DATA, None
    if data is None:
        raise GenforgeError(
            "which characters? --data FOLDER --attributes attributes.csv, or --demo"
        )
    if data == DEMO_DATA:
        return DEMO_DATA, None
    folder = Path(data).expanduser()
    if not folder.is_dir():
        raise GenforgeError(f"no such folder: {data}")
    csv_path = Path(attributes) if attributes is not None else folder / "attributes.csv"
    if not csv_path.exists() and attributes is not None and (folder / attributes).exists():
        csv_path = folder / attributes  # a bare name is looked up in the data folder too
    if not csv_path.exists():
        raise GenforgeError(
            f"no attributes file {csv_path}; give --attributes CSV (filename + one column per "
            "attribute)"
        )
    return str(folder), csv_path


# ---------------------------------------------------------------------------------------
# The stages
# ---------------------------------------------------------------------------------------


def train_stage(cfg: CharactersConfig, progress: bool, log: Log) -> Run:
    """(1) A new attrgan Run on the data, or the `--run` to evaluate."""
    if cfg.run is not None:
        return resolve_run(cfg.run, cfg.runs_dir)
    source, csv_path = resolve_data(cfg.data, cfg.attributes, cfg.demo)
    from genforge.train.launch import train

    steps = cfg.steps
    opts: dict[str, Any] = {"steps": steps, "batch_size": cfg.batch_size, "seed": cfg.seed,
                            "ngf": cfg.width, "ndf": cfg.d_width, "diffaug": cfg.diffaug,
                            "classifier_weight": cfg.classifier_weight,
                            "image_size": cfg.image_size,
                            "precision": cfg.precision, "lr_d": 4e-4,
                            "channels_last": False, "sample_every": max(1, min(500, steps)),
                            "checkpoint_every": max(1, min(1000, steps))}  # fmt: skip
    if cfg.device != "auto":
        opts["device"] = cfg.device
    if csv_path is not None:
        opts["attributes"] = str(csv_path)
    log(estimate(cfg, source, opts).describe())
    log(
        f"training attrgan on {source} for {cfg.steps} steps (batch {cfg.batch_size}, widths "
        f"G {cfg.width} / D {cfg.d_width}, {cfg.precision}"
        + (f", DiffAugment {cfg.diffaug}" if cfg.diffaug else "")
        + (f", classifier weight {cfg.classifier_weight:g}" if cfg.classifier_weight else "")
        + ")"
    )
    return train("attrgan", source, name=cfg.name, runs_dir=cfg.runs_dir, progress=progress,
                 **opts)  # fmt: skip


def load_stage(the_run: Run, pipe: Any, log: Log) -> tuple[Any, Any, Any]:
    """The run's own data and split: (training set, validation set, data report)."""
    from genforge.models import modality_of

    split = modality_of(the_run.read_config()).reload(the_run)
    dataset, train_set, val_set = split.dataset, split.train, split.val
    if train_set.images is None:
        raise GenforgeError("the characters recipe evaluates in memory; this folder is too big")
    values = pipe.spec.attribute_values
    rep = dataset.report
    log(f"data: {rep.num_images} images, attributes "
        + "; ".join(f"{n} ({', '.join(v)})" for n, v in values.items())
        + (f"; {len(rep.skipped)} files skipped" if rep.skipped else "")
        + (f"; {len(rep.attributes_unmatched)} CSV rows without an image"
           if rep.attributes_unmatched else ""))  # fmt: skip
    return train_set, val_set, rep


def generated_stage(pipe: Any, clf: Any, cfg: CharactersConfig, log: Log) -> dict[str, Any]:
    """(3) Every requested combination generated and judged: accuracy per attribute, all
    attributes at once, the worst subgroups; also the codes and judge features."""
    values = pipe.spec.attribute_values
    sizes = [len(v) for v in values.values()]
    combos, complete = combinations(sizes, cfg.max_combos, cfg.seed)
    codes = combos.repeat_interleave(cfg.samples_per_combo, dim=0)
    g = torch.Generator().manual_seed(cfg.seed + 1)
    z = pipe.model.latent(len(codes), generator=g)
    log(f"generating {len(codes)} images: {len(combos)} attribute combinations"
        f"{'' if complete else ' (random subset)'} x {cfg.samples_per_combo}")  # fmt: skip
    fake = pipe.generate(z, codes)
    fake_pred, fake_feat = classify(clf, fake)
    hits = fake_pred == codes
    return {"combos": combos, "complete": complete, "codes": codes, "features": fake_feat,
            "accuracy": hits.float().mean(0).tolist(),
            "all_right": float(hits.all(1).float().mean()),
            "slices": worst_slices(hits, codes, values)}  # fmt: skip


def diversity_stage(clf: Any, train_set: Any, real_feat: torch.Tensor,
                    gen: dict[str, Any], sizes: list[int]) -> dict[str, float]:  # fmt: skip
    """(4) Diversity within a condition and Fréchet distances in the judge's feature space."""
    from genforge.evaluate.image_metrics import frechet_distance

    _, train_feat = classify(clf, train_set.images)
    fake_feat = gen["features"]
    div_fake = mean_pairwise_distance(fake_feat, combo_ids(gen["codes"], sizes))
    div_real = mean_pairwise_distance(train_feat, combo_ids(train_set.attributes, sizes))
    fd = frechet_distance(real_feat, fake_feat) if len(real_feat) >= 2 else float("nan")
    n_ref = min(len(train_feat), len(fake_feat))
    fd_floor = (
        frechet_distance(real_feat, train_feat[:n_ref]) if len(real_feat) >= 2 else float("nan")
    )
    return {"diversity_generated": div_fake, "diversity_real": div_real,
            "diversity_ratio": div_fake / div_real if div_real else float("nan"),
            "fd_judge_features": fd, "fd_judge_features_real_vs_real": fd_floor}  # fmt: skip


def pictures_stage(pipe: Any, clf: Any, the_run: Run, cfg: CharactersConfig,
                   out_dir: Path) -> tuple[Any, list[dict], torch.Tensor, list[Path]]:  # fmt: skip
    """(5) The editing grid (judged) and the sprite sheet with its index, written to `out_dir`;
    (grid picture, editing scores, sheet images, sheet paths)."""
    values = pipe.spec.attribute_values
    grid, info = editing_grid(pipe, cfg.seed)
    edit_pred, _ = classify(clf, info["images"])
    edit_rows = edit_scores(edit_pred, info["codes"], info["rows"], list(values))
    params = {"run": the_run.name, "model": "attrgan", "step": pipe.step, "seed": cfg.seed}
    save_png(out_dir / "editing-grid.png", grid, {**params, "kind": "editing-grid",
                                                   "base": json.dumps(info["base"])})  # fmt: skip
    gs = torch.Generator().manual_seed(cfg.seed + 2)
    zs = pipe.model.latent(cfg.sheet_size, generator=gs)
    sheet_codes = pipe.model.random_codes(zs).cpu()
    sheet_imgs = pipe.generate(zs, sheet_codes)
    sheet_paths = write_sprite_sheet(sheet_imgs, describe(sheet_codes, values),
                                     out_dir / "sprite-sheet.png", params=params)  # fmt: skip
    return grid, edit_rows, sheet_imgs, sheet_paths


# ---------------------------------------------------------------------------------------
# The recipe
# ---------------------------------------------------------------------------------------


def run(cfg: CharactersConfig, log: Log = print, progress: bool = False) -> CharactersResult:
    """The whole recipe; returns the Run, report paths and metrics."""
    the_run = train_stage(cfg, progress, log)
    pipe = open_character_run(the_run, device=cfg.device)
    train_set, val_set, rep = load_stage(the_run, pipe, log)
    values = pipe.spec.attribute_values
    names, sizes = list(values), [len(v) for v in values.values()]

    # (2) The judge, trained on the real training images
    log(f"training the attribute classifier (judge) on {len(train_set)} real images")
    clf = train_attribute_classifier(train_set.images, train_set.attributes, sizes,
                                     steps=cfg.classifier_steps, seed=cfg.seed)  # fmt: skip
    ref = val_set if len(val_set) >= 2 else train_set
    real_pred, real_feat = classify(clf, ref.images)
    real_acc = (real_pred == ref.attributes).float().mean(0).tolist()

    gen = generated_stage(pipe, clf, cfg, log)
    spread = diversity_stage(clf, train_set, real_feat, gen, sizes)
    out_dir = Path(cfg.out) if cfg.out is not None else the_run.path / "characters"
    out_dir.mkdir(parents=True, exist_ok=True)
    grid, edit_rows, sheet_imgs, sheet_paths = pictures_stage(pipe, clf, the_run, cfg, out_dir)

    rcfg = the_run.read_config()
    tcfg, mcfg = rcfg["train"], rcfg.get("model_config", {})
    metrics = {
        "run": the_run.name, "step": pipe.step, "data": rcfg["data"]["source"],
        "attributes": values,
        "judge_accuracy_real_heldout": dict(zip(names, real_acc, strict=True)),
        "attribute_accuracy_generated": dict(zip(names, gen["accuracy"], strict=True)),
        "all_attributes_right": gen["all_right"],
        "worst_slice": gen["slices"],
        "combinations": len(gen["combos"]), "all_combinations": gen["complete"],
        "samples_per_combination": cfg.samples_per_combo, "generated": len(gen["codes"]),
        **spread,
        "editing": edit_rows,
        "training_steps": pipe.step, "configured_steps": tcfg["steps"],
        "batch_size": tcfg["batch_size"],
        "widths": {"generator": mcfg.get("ngf"), "discriminator": mcfg.get("ndf")},
        "diffaug": mcfg.get("diffaug", ""),
        "classifier_weight": mcfg.get("classifier_weight", 0.0),
    }  # fmt: skip
    write_json(out_dir / "metrics.json", metrics)
    verdict = verdict_of(metrics)
    report = write_report(out_dir / "report.html", the_run, metrics, verdict,
                          sections(metrics, grid, sheet_imgs, the_run, rep), cfg.pdf)  # fmt: skip
    log("attribute accuracy (judge on generated): "
        + ", ".join(f"{n} {a:.1%}" for n, a in metrics["attribute_accuracy_generated"].items()))  # fmt: skip
    if gen["slices"]:
        log(f"worst subgroup: {slices_text(gen['slices'])}")
    log(f"verdict: {verdict.level.upper()} — {verdict.headline}")
    log(f"report: {report[0]}" + (f" (+ {report[1].name})" if len(report) > 1 else ""))
    log(f"sprite sheet: {sheet_paths[0]} (index {sheet_paths[1].name}, {sheet_paths[2].name})")
    return CharactersResult(the_run, report, out_dir, verdict.level, metrics)


def run_characters(data: str | None = None, attributes: str | Path | None = None, *,
                   progress: bool = False, log: Log = print,
                   **options: Any) -> CharactersResult:  # fmt: skip
    """`run` with the options as keywords (`CharactersConfig`'s fields), for Python callers."""
    cfg = CharactersConfig(data=data, attributes=attributes, **options)
    return run(cfg, log=log, progress=progress)
