"""Memorization audit: is a sample a near-copy of a training image?

For every sample, the nearest training image in pixel space (RMS difference per pixel) and in
feature space. What counts as "near" is calibrated on real data the model never saw: held-out
validation images are also compared with the training set, and a sample is flagged when it is
closer to a training image than `factor` times the `quantile` of those held-out distances, in
either space. Held-out images are by construction new images of the same kind, so a sample
that much closer than them is a copy, not a good sample.

Without held-out images (a LoRA's handful of instance photos: every one was trained on), the
calibration is leave-one-out: each training image's distance to its nearest *other* training
image stands for the distance of a new real image of the subject.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from genforge.core.errors import GenforgeError


def nearest(
    queries: torch.Tensor, refs: torch.Tensor, chunk: int = 1024, skip_self: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest reference of each query by RMS distance over the flattened items.

    Returns (distances (Q,), indices (Q,)); chunked so memory stays O(chunk x R).
    """
    q = queries.flatten(1).double()
    r = refs.flatten(1).double()
    scale = q.shape[1] ** 0.5  # L2 -> root-mean-square per element
    dists, idxs = [], []
    for i in range(0, len(q), chunk):
        d = torch.cdist(q[i : i + chunk], r)  # (c, R)
        if skip_self:
            d[torch.arange(len(d)), torch.arange(i, i + len(d))] = float("inf")
        v, j = d.min(1)
        dists.append(v / scale)
        idxs.append(j)
    return torch.cat(dists), torch.cat(idxs)


@dataclass
class Audit:
    pixel_dist: torch.Tensor  # (S,) RMS pixel distance to the nearest training image
    pixel_index: torch.Tensor  # (S,) its index in the training set
    feat_dist: torch.Tensor | None
    feat_index: torch.Tensor | None
    pixel_threshold: float
    feat_threshold: float | None
    flagged: torch.Tensor  # (S,) bool
    calibration: dict[str, Any] = field(default_factory=dict)

    @property
    def num_flagged(self) -> int:
        return int(self.flagged.sum())

    def closest(self, k: int = 8) -> list[int]:
        """Indices of the k samples closest to a training image in pixel space."""
        return self.pixel_dist.argsort()[:k].tolist()

    def summary(self) -> dict[str, Any]:
        return {
            "samples": len(self.flagged),
            "flagged": self.num_flagged,
            "flagged_rate": float(self.flagged.double().mean()) if len(self.flagged) else 0.0,
            "pixel_threshold": self.pixel_threshold,
            "feature_threshold": self.feat_threshold,
            "min_pixel_distance": float(self.pixel_dist.min()) if len(self.pixel_dist) else None,
            **self.calibration,
        }


def audit(
    samples: torch.Tensor,
    train: torch.Tensor,
    val: torch.Tensor | None,
    sample_feats: torch.Tensor | None = None,
    train_feats: torch.Tensor | None = None,
    val_feats: torch.Tensor | None = None,
    quantile: float = 0.05,
    factor: float = 0.5,
) -> Audit:
    """Flag samples that are near-copies of training images.

    Args:
        samples: generated images (S, C, H, W) in [-1, 1].
        train: the training images the model saw.
        val: held-out real images (calibration: how close is a *new* real image?); None:
            leave-one-out calibration on `train` itself (then `val_feats` is not used).
        *_feats: the same sets in a feature space (optional).
        quantile, factor: threshold = factor * quantile of the held-out nearest distances.
    """
    loo = val is None
    if loo and len(train) < 2:
        raise GenforgeError("the memorization audit needs at least 2 training images to "
                            "calibrate on (leave-one-out)")  # fmt: skip
    if not loo and len(val) < 2:
        raise GenforgeError(
            "the memorization audit needs held-out real images to calibrate on; "
            "train with --set val_fraction=0.1 (or more)"
        )
    p_dist, p_idx = nearest(samples, train)
    v_dist, _ = nearest(train, train, skip_self=True) if loo else nearest(val, train)
    p_thr = factor * float(torch.quantile(v_dist, quantile))
    flagged = p_dist < p_thr
    calib = {
        "calibration": "leave-one-out" if loo else "held-out",
        "calibration_items": len(v_dist),
        "quantile": quantile,
        "factor": factor,
        "val_pixel_median": float(v_dist.median()),
    }
    f_dist = f_idx = None
    f_thr = None
    if loo:
        val_feats = train_feats
    if sample_feats is not None and train_feats is not None and val_feats is not None:
        f_dist, f_idx = nearest(sample_feats, train_feats)
        fv, _ = (
            nearest(train_feats, train_feats, skip_self=True)
            if loo
            else nearest(val_feats, train_feats)
        )
        f_thr = factor * float(torch.quantile(fv, quantile))
        flagged = flagged | (f_dist < f_thr)
        calib["val_feature_median"] = float(fv.median())
    return Audit(p_dist, p_idx, f_dist, f_idx, p_thr, f_thr, flagged, calib)
