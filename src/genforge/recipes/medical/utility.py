"""(4) Downstream utility: the same small CNN trained on real, real+synthetic and synthetic
images, scored on the held-out real images over several seeds."""

from __future__ import annotations

from typing import Any

import torch

from genforge.recipes.medical.audit import Synthetic
from genforge.recipes.medical.config import Log, MedicalConfig
from genforge.recipes.medical.data import Staged


def measure_utility(staged: Staged, syn: Synthetic, cfg: MedicalConfig, log: Log) -> dict[str, Any]:
    """Accuracy/AUC on the held-out real images for real, real+synthetic and synthetic training
    sets (the synthetic set is the one written out), plus the paired gain of augmenting."""
    from genforge.evaluate.utility import compare_training_sets, paired_difference

    real = (staged.train_x, staged.train_y)
    both = (torch.cat([staged.train_x, syn.images]), torch.cat([staged.train_y, syn.labels]))
    sets = {"real": lambda s: real, "real+synthetic": lambda s: both}
    if len(syn.images) and len(set(syn.labels.tolist())) >= 2:
        sets["synthetic"] = lambda s: (syn.images, syn.labels)

    def tick(key: str, seed: int) -> None:
        if key == "real":
            log(f"  seed {seed + 1}/{cfg.seeds}")

    scores = compare_training_sets(
        sets,
        staged.test_x,
        staged.test_y,
        cfg.seeds,
        cfg.classifier_steps,
        tick,
        classifier=cfg.classifier,
    )
    gain = {}
    for metric in ("accuracy", "auc"):
        m, ci = paired_difference(
            scores["real+synthetic"][metric]["values"], scores["real"][metric]["values"]
        )
        gain[metric] = {"mean": m, "ci95": ci}
    return {"scores": scores, "gain": gain, "test_items": len(staged.test_x),
            "train_real": len(staged.train_x), "train_synthetic": len(syn.images),
            "classifier": cfg.classifier, "classifier_steps": cfg.classifier_steps,
            "seeds": cfg.seeds}  # fmt: skip
