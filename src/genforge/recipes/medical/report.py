"""The medical-augment report: the verdict, then one section per stage, rendered from
templates/report.html.j2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from genforge.core.images import make_grid
from genforge.evaluate.report import png_img
from genforge.evaluate.result import Section
from genforge.recipes.medical.audit import Synthetic
from genforge.recipes.medical.config import LABEL_NETS, STAGING, MedicalConfig
from genforge.recipes.medical.data import Staged
from genforge.recipes.report import Verdict, picture, report_macros, write_recipe_report

CLASSIFIER_TEXT = {
    "pooled": "VGG-style, BatchNorm, global max pooling, trained on randomly shifted images",
    "domain": "genforge's domain classifier",
}


def verdict_of(summary: dict[str, Any]) -> Verdict:
    """PASS when augmenting raises held-out accuracy with a 95% CI above zero; CAUTION when the
    gain is positive but not significant or near-copies were dropped; FAIL when it does not help."""
    u = summary["utility"]
    sc, gain = u["scores"], u["gain"]["accuracy"]
    real, both = sc["real"]["accuracy"], sc["real+synthetic"]["accuracy"]
    reasons = [
        f"held-out real accuracy: real only {real['mean']:.3f} ± {real['ci95']:.3f}, "
        f"real + synthetic {both['mean']:.3f} ± {both['ci95']:.3f} (95% CI, {u['seeds']} seeds, "
        f"{u['test_items']} held-out real images)",
        f"paired gain {gain['mean']:+.3f} ± {gain['ci95']:.3f} accuracy; AUC "
        f"{sc['real']['auc']['mean']:.3f} -> {sc['real+synthetic']['auc']['mean']:.3f}",
    ]
    if "synthetic" in sc:
        syn = sc["synthetic"]["accuracy"]
        reasons.append(
            f"synthetic only (train on synthetic, test on real): {syn['mean']:.3f} ± {syn['ci95']:.3f}"
        )
    a = summary["audit"]
    reasons.append(
        f"memorization audit: {a['flagged_dropped']} of {a['drawn']} samples were near-copies of "
        f"training images and were dropped; {a['implausible_dropped']} implausible ones too"
        + (f", and {a['off_label_dropped']} that classifiers trained on the real images did not "
           "see as their class" if summary["config"]["quality_filter"] == "label" else "")
    )  # fmt: skip
    lo = gain["mean"] - gain["ci95"]
    if gain["mean"] > 0 and lo > 0:
        level, head = "ok", "augmentation helps on held-out real data"
    elif gain["mean"] > 0:
        level, head = "warn", "augmentation may help, but the gain is within the seed-to-seed noise"
    else:
        level, head = (
            "bad",
            "augmentation does not help on held-out real data: use the real images alone",
        )
    if level == "ok" and a["flagged_dropped"]:
        level = "warn"
        head += " (some samples were near-copies and were dropped; check the audit)"
    return Verdict(level, head, reasons)


def sample_grid(real: torch.Tensor, synthetic: torch.Tensor, k: int = 8) -> np.ndarray:
    """Two rows: k real images over k synthetic ones (uint8 grid)."""
    c, s = real.shape[1], real.shape[-1]
    blank = torch.ones(c, s, s)

    def row(x: torch.Tensor) -> list[torch.Tensor]:
        items = list(x[:k])
        return items + [blank] * (k - len(items))

    return make_grid(torch.stack(row(real) + row(synthetic)), nrow=k)


# ---------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------


def _macros() -> Any:
    return report_macros("genforge.recipes.medical")


def data_section(cfg: MedicalConfig, staged: Staged, summary: dict[str, Any]) -> Section:
    rows = [[n, c["found"], c["train"], c["heldout"], c["unused"], summary["synthetic_per_class"][n]]
            for n, c in staged.counts.items()]  # fmt: skip
    skipped = [[s.path, s.reason] for s in staged.skipped[:50]]
    return Section("Data", str(_macros().data(cfg, staged.duplicates, rows, skipped)))


def dicom_section(staged: Staged) -> Section:
    d = staged.dicom
    windows = ", ".join(f"{k}: {v}" for k, v in sorted(d["windows"].items()))
    html_ = _macros().dicom(d["files"], windows, d["deid_rows"])
    return Section("DICOM conversion and de-identification", str(html_))


def generator_section(summary: dict[str, Any], the_run: Any, staged: Staged) -> Section:
    train_s = summary["timings_s"].get("train_s")
    html_ = _macros().generator(summary["model"], summary["model_reason"], the_run, train_s,
                                staged.class_names[-1])  # fmt: skip
    return Section("Generator", str(html_))


def samples_section(cfg: MedicalConfig, staged: Staged, syn: Synthetic) -> Section:
    grids = []
    width = min(640, 8 * 4 * cfg.image_size)
    for k, name in enumerate(staged.class_names):
        grid = sample_grid(staged.train_x[staged.train_y == k], syn.images[syn.labels == k])
        grids.append((name, picture(png_img(grid, f"{name}: real vs synthetic", width=width))))
    return Section("Samples per class", str(_macros().samples(grids)))


def audit_section(cfg: MedicalConfig, syn: Synthetic, summary: dict[str, Any]) -> Section:
    pairs = []
    for x, nearest_img, dist, flagged in syn.closest:
        pair = make_grid(torch.stack([x, nearest_img]), nrow=2)
        pairs.append([picture(png_img(pair, "sample | nearest training image", width=128)),
                      dist, "yes (dropped)" if flagged else "no"])  # fmt: skip
    html_ = _macros().audit(summary["audit"], cfg.quality_filter == "label", LABEL_NETS, pairs)
    return Section("Memorization audit", str(html_))


def utility_section(summary: dict[str, Any]) -> Section:
    u = summary["utility"]
    rows = []
    for key, by in u["scores"].items():
        acc, auc = by["accuracy"], by["auc"]
        rows.append([key, acc["mean"], acc["ci95"], auc["mean"], auc["ci95"],
                     ", ".join(f"{v:.3f}" for v in acc["values"])])  # fmt: skip
    html_ = _macros().utility(u, CLASSIFIER_TEXT[u["classifier"]], rows)
    return Section("Downstream utility on held-out real images", str(html_))


def output_section(path: Path, summary: dict[str, Any]) -> Section:
    marks = ", ".join(f"{k}: {v}" for k, v in summary["marks"].items()) or "none"
    html_ = _macros().output(str(path.parent), STAGING, summary["files"], marks)
    return Section("Output", str(html_))


def write_report(
    path: Path, cfg: MedicalConfig, staged: Staged, syn: Synthetic, summary: dict[str, Any],
    the_run: Any, pdf: bool,
) -> list[Path]:  # fmt: skip
    sections = [data_section(cfg, staged, summary)]
    if staged.dicom["files"]:
        sections.append(dicom_section(staged))
    sections += [
        generator_section(summary, the_run, staged),
        samples_section(cfg, staged, syn),
        audit_section(cfg, syn, summary),
        utility_section(summary),
        output_section(path, summary),
    ]
    subtitle = (f"{cfg.data} · {summary['model']} run {the_run.name} · seed {cfg.seed} · "
                f"{sum(summary['synthetic_per_class'].values())} synthetic images")  # fmt: skip
    return write_recipe_report(path, title="Medical image augmentation", subtitle=subtitle,
                               verdict=verdict_of(summary), sections=sections, pdf=pdf)  # fmt: skip
