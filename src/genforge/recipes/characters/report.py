"""The characters report: the verdict, then accuracy, diversity, the editing grid, the sprite
sheet, the data and training, rendered from templates/report.html.j2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from genforge.core.images import make_grid
from genforge.core.run import Run
from genforge.evaluate.report import png_img, training_curves
from genforge.evaluate.result import Section
from genforge.recipes.characters.config import SLICE_FLOOR, TARGET_ACCURACY
from genforge.recipes.characters.metrics import slice_text, slices_text
from genforge.recipes.report import Verdict, picture, report_macros, write_recipe_report


def verdict_of(m: dict[str, Any]) -> Verdict:
    """PASS when every attribute reaches TARGET_ACCURACY with varied looks and no subgroup falls
    below SLICE_FLOOR; CAUTION when usable with care or the judge is unreliable; else FAIL."""
    acc = m["attribute_accuracy_generated"]
    slices = m.get("worst_slice", {})
    worst_name = min(acc, key=acc.get)
    worst = acc[worst_name]
    judge_worst = min(m["judge_accuracy_real_heldout"].values())
    reasons = [
        "attribute accuracy on generated images (judge = a classifier trained on the real "
        "training images): " + ", ".join(f"{n} {a:.1%}" for n, a in acc.items()),
        f"all attributes right at once: {m['all_attributes_right']:.1%} of {m['generated']} images",
        *([f"worst subgroup per attribute: {slices_text(slices)}"] if slices else []),
        f"judge accuracy on held-out real images: worst attribute {judge_worst:.1%}",
        f"diversity within a condition (judge features): generated {m['diversity_generated']:.3g} "
        f"vs real {m['diversity_real']:.3g} (ratio {m['diversity_ratio']:.2f})",
        f"FD in the judge's feature space (not FID): {m['fd_judge_features']:.4g}; real vs real "
        f"{m['fd_judge_features_real_vs_real']:.4g}",
    ]
    if judge_worst < 0.9:
        return Verdict("warn", f"the judge itself is unreliable (worst held-out real accuracy "
                       f"{judge_worst:.1%}); the accuracies below are uncertain", reasons)  # fmt: skip
    ratio = m["diversity_ratio"]
    if worst >= TARGET_ACCURACY and ratio >= 0.5:
        weak = {n: s for n, s in slices.items() if s["accuracy"] < SLICE_FLOOR}
        if weak:
            n, s = min(weak.items(), key=lambda kv: kv[1]["accuracy"])
            return Verdict("warn", f"usable with care: {n} is right {acc[n]:.1%} overall but "
                           f"only {slice_text(s)}", reasons)  # fmt: skip
        return Verdict("ok", f"characters follow every attribute (worst: {worst_name} "
                       f"{worst:.1%} ≥ {TARGET_ACCURACY:.0%}) with varied looks", reasons)  # fmt: skip
    if worst >= 0.7 and ratio >= 0.25:
        why = (f"{worst_name} is right only {worst:.1%} of the time (target "
               f"{TARGET_ACCURACY:.0%})" if worst < TARGET_ACCURACY
               else f"low diversity within a condition (ratio {ratio:.2f})")  # fmt: skip
        return Verdict("warn", f"usable with care: {why}", reasons)
    why = (f"{worst_name} is right only {worst:.1%} of the time" if worst < 0.7
           else f"collapsed diversity (ratio {ratio:.2f})")  # fmt: skip
    return Verdict("bad", f"do not use yet: {why}; train longer or on more data", reasons)


def _macros() -> Any:
    return report_macros("genforge.recipes.characters")


def sections(m: dict[str, Any], grid: np.ndarray, sheet: torch.Tensor, run: Run,
             rep: Any) -> list[Section]:  # fmt: skip
    """The report's sections after the verdict (Training only when the run logged losses)."""
    slices = m.get("worst_slice", {})
    acc_rows = [
        [n, m["attribute_accuracy_generated"][n],
         slice_text(slices[n]) if n in slices else "",
         m["judge_accuracy_real_heldout"][n], len(v), 1 / len(v)]
        for n, v in m["attributes"].items()
    ]  # fmt: skip
    combos = (f"all {m['combinations']} combinations" if m["all_combinations"]
              else f"{m['combinations']} random combinations")  # fmt: skip
    edit_rows = [[r["attribute"], r["target_hit"], r["others_kept"]] for r in m["editing"]]
    data_rows = [[n, ", ".join(f"{v} ({c})" for v, c in cnt.items())]
                 for n, cnt in rep.attributes.items()]  # fmt: skip
    t = _macros()
    out = [
        Section("Attribute accuracy", str(t.accuracy(m, acc_rows, combos))),
        Section("Diversity and distance (judge feature space)", str(t.diversity(m))),
        Section("Single-attribute editing",
                str(t.editing(picture(png_img(grid, "editing grid")), edit_rows))),
        Section("Sprite sheet",
                str(t.sheet(picture(png_img(make_grid(sheet, nrow=8), "sprite sheet"))))),
        Section("Data", str(t.data(rep, data_rows))),
    ]  # fmt: skip
    curves = training_curves(run)
    if curves:
        out.append(Section("Training", str(t.training(picture(curves), m, run.name))))
    return out


def write_report(path: Path, run: Run, m: dict[str, Any], verdict: Verdict,
                 sections: list[Section], pdf: bool) -> list[Path]:  # fmt: skip
    return write_recipe_report(
        path,
        title="Virtual characters: attribute-conditional generation",
        subtitle=f"run {run.name}, step {m['step']}, data {m['data']}",
        verdict=verdict,
        sections=sections,
        pdf=pdf,
    )
