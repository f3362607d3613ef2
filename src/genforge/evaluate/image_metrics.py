"""Image metrics on features or pixels: FD/KID/IS through torchmetrics, k-NN manifold
precision/recall and density/coverage, PSNR/SSIM, label histograms.

Distribution metrics take features already extracted (one batched pass per image set, reused
by every metric); torchmetrics gets them through an identity "feature extractor", so its own
float64 Fréchet and polynomial-kernel code does the statistics.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.evaluate.result import Metric


class _Given(nn.Module):
    """An identity 'feature extractor': the features are computed beforehand."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _check(real: torch.Tensor, fake: torch.Tensor, need: int = 2) -> None:
    if len(real) < need or len(fake) < need:
        raise GenforgeError(
            f"need at least {need} real and {need} generated items, got {len(real)} and {len(fake)}"
        )
    if real.shape[1] != fake.shape[1]:
        raise GenforgeError(f"feature sizes differ: {real.shape[1]} vs {fake.shape[1]}")


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D), in float64."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check(real, fake)
    fid = FrechetInceptionDistance(feature=_Given(real.shape[1]))
    fid.update(real.double(), real=True)
    fid.update(fake.double(), real=False)
    return float(fid.compute())


def kernel_distance(
    real: torch.Tensor,
    fake: torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float, int]:
    """KID (squared MMD, cubic polynomial kernel): (mean, std, subset size used).

    `subset_size` is capped at the smaller sample count instead of failing on small sets.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    _check(real, fake)
    size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():  # "will save all extracted features": that is the point
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(
            feature=_Given(real.shape[1]), subsets=subsets, subset_size=size
        )
    kid.update(real.double(), real=True)
    kid.update(fake.double(), real=False)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # KID draws its subsets from the global RNG
    try:
        mean, std = kid.compute()
    finally:
        torch.random.set_rng_state(state)
    return float(mean), float(std), size


def inception_score(logits: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """IS = exp(E KL(p(y|x) || p(y))) from classifier logits (N, K): (mean, std over splits)."""
    from torchmetrics.image.inception import InceptionScore

    splits = max(1, min(splits, len(logits) // 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        metric = InceptionScore(feature=_Given(logits.shape[1]), splits=splits)
    metric.update(logits.double())
    state = torch.random.get_rng_state()
    torch.manual_seed(0)  # IS shuffles before splitting
    try:
        mean, std = metric.compute()
    finally:
        torch.random.set_rng_state(state)
    return float(mean), float(std)


def _kth_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(x, x)  # (N, N)
    return d.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0


def manifold_metrics(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> dict[str, float]:
    """k-NN manifold estimates (Kynkäänniemi et al. 2019; Naeem et al. 2020).

    precision: share of generated items inside some real item's k-NN ball (fidelity);
    recall: share of real items inside some generated item's k-NN ball (diversity);
    density: average count of real balls holding a generated item, / k (can exceed 1);
    coverage: share of real balls that hold at least one generated item.
    """
    _check(real, fake, need=k + 1)
    real, fake = real.double(), fake.double()
    r_real, r_fake = _kth_radius(real, k), _kth_radius(fake, k)
    d = torch.cdist(fake, real)  # (F, R)
    inside = d <= r_real.unsqueeze(0)  # fake j inside real i's ball
    precision = inside.any(1).double().mean()
    recall = (d <= r_fake.unsqueeze(1)).any(0).double().mean()
    density = inside.double().sum(1).mean() / k
    coverage = (d.min(0).values <= r_real).double().mean()
    return {
        "precision": float(precision),
        "recall": float(recall),
        "density": float(density),
        "coverage": float(coverage),
    }


def realism_scores(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Per-sample closeness to the real manifold in [0, 1]: 1 inside some real k-NN ball,
    falling as radius / distance outside (the realism score of Kynkäänniemi et al., capped)."""
    real, fake = real.double(), fake.double()
    radius = _kth_radius(real, k)
    ratio = radius.unsqueeze(0) / torch.cdist(fake, real).clamp_min(1e-12)  # (F, R)
    return ratio.max(1).values.clamp(max=1.0).float()


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 2.0) -> float:
    """Peak signal-to-noise ratio in dB (images in [-1, 1] have data_range 2)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(pred.double(), target.double(), data_range=data_range))


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 2.0) -> float:
    """Structural similarity, Gaussian window 11, sigma 1.5 (Wang et al. 2004), batch mean.

    The SSIM map is averaged over the pixels whose window lies inside the image, as in the
    reference implementation (and scikit-image); torchmetrics averages the padded border too,
    which shifts small images' values, so the map is taken from torchmetrics and cropped here.
    """
    from torchmetrics.functional.image import structural_similarity_index_measure

    if min(pred.shape[-2:]) < 11:
        raise GenforgeError(
            f"SSIM needs images of at least 11x11 pixels, got {tuple(pred.shape[-2:])}"
        )
    _, full = structural_similarity_index_measure(
        pred.double(), target.double(), data_range=data_range, return_full_image=True,
        reduction="none",
    )  # fmt: skip
    return float(full[..., 5:-5, 5:-5].mean())


def class_histogram_check(
    pred_fake: torch.Tensor, real_labels: torch.Tensor, num_classes: int
) -> dict[str, Any]:
    """Compare the predicted-class histogram of samples with the real label histogram.

    Returns KL(real || generated) in nats (with add-one smoothing on the generated counts),
    the number of classes covered (holding at least a quarter of their real share), and both
    histograms. A collapsed generator covers few classes and has a large KL.
    """
    fake_counts = torch.bincount(pred_fake, minlength=num_classes).double()
    real_counts = torch.bincount(real_labels, minlength=num_classes).double()
    p = real_counts / real_counts.sum()
    q = (fake_counts + 1) / (fake_counts.sum() + num_classes)
    kl = float((p * (p.clamp_min(1e-12) / q).log()).sum())
    share = fake_counts / fake_counts.sum().clamp_min(1)
    covered = int((share >= 0.25 * p).logical_and(p > 0).sum())
    return {
        "kl": kl,
        "classes_covered": covered,
        "num_classes": int((p > 0).sum()),
        "fake_counts": [int(c) for c in fake_counts],
        "real_counts": [int(c) for c in real_counts],
    }


def nan() -> float:
    return math.nan


def ssim_metric(
    key: str, label: str, pred: torch.Tensor, target: torch.Tensor, note: str
) -> Metric:
    """SSIM, or NaN with the reason below 11×11 pixels (its Gaussian window)."""
    if min(pred.shape[-2:]) < 11:
        return Metric(key, label, math.nan, "higher", "not defined below 11×11 pixels")
    return Metric(key, label, ssim(pred, target), "higher", note)
