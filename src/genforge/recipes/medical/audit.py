"""(3) Synthetic images per class with a memorization audit and a quality filter: near-copies of
training images, implausible samples and (filter "label") off-label samples are dropped,
counted and redrawn."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from genforge.recipes.medical.config import LABEL_NETS, LABEL_SEED, Log, MedicalConfig
from genforge.recipes.medical.data import Staged


@dataclass
class Synthetic:
    images: torch.Tensor  # (S, C, H, W) kept samples, quantised to 8 bits
    labels: torch.Tensor
    seeds: list[tuple[int, int]]  # (batch seed, index in batch) of each kept sample
    drawn: int
    flagged: int  # near-copies dropped
    implausible: int  # farther from every training image, or rougher, than any held-out real image
    rounds: int
    audit: dict[str, Any]
    closest: list[tuple[torch.Tensor, torch.Tensor, float, bool]]  # sample, nearest, dist, flagged
    off_label: int = 0  # real-trained classifiers gave their asked class p < 0.5; dropped


def _quantise(x: torch.Tensor) -> torch.Tensor:
    """What a PNG keeps: 8-bit levels, back in [-1, 1]."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1


def label_checker(
    staged: Staged, cfg: MedicalConfig
) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """A vote of `LABEL_NETS` classifiers (`cfg.classifier`, `cfg.classifier_steps` steps)
    trained on the real training images only: `check(x, label)` is True where their mean
    probability of `label` is at least 0.5.

    A conditional generator trained on a few images per class draws many samples that do not
    show their class (on 50 phantoms per class, 30 % of "healthy" draws look like lesions); as
    training data they are label noise. The held-out images are never used, so the utility test
    stays a test on unseen data."""
    from genforge.evaluate.utility import CLASSIFIERS

    train = CLASSIFIERS[cfg.classifier]
    nets = [train(staged.train_x, staged.train_y, cfg.classifier_steps, LABEL_SEED + i)
            for i in range(LABEL_NETS)]  # fmt: skip

    def check(x: torch.Tensor, label: int) -> torch.Tensor:
        with torch.no_grad():
            p = torch.stack([net(x).softmax(1)[:, label] for net in nets]).mean(0)
        return p >= 0.5

    return check


def roughness(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute Laplacian per image (N,): pixel-scale noise. A failed denoising trajectory
    leaves speckle all over the image, while the head stays in place, so its pixel distance to the
    nearest training image can look ordinary while its roughness cannot."""
    import torch.nn.functional as F

    c = x.shape[1]
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    kernel = kernel.expand(c, 1, 3, 3).to(x)
    lap = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=c)
    return lap.abs().mean(dim=(1, 2, 3))


@dataclass
class _Draws:
    """Everything drawn so far: the kept samples, the counts, and every draw's audit."""

    far: float  # implausible beyond this RMS distance to the nearest training image
    rough: float  # ... or beyond this roughness
    on_label: Callable[[torch.Tensor, int], torch.Tensor] | None
    kept_x: list[torch.Tensor] = field(default_factory=list)
    kept_y: list[torch.Tensor] = field(default_factory=list)
    kept_seeds: list[tuple[int, int]] = field(default_factory=list)
    drawn: int = 0
    flagged: int = 0
    implausible: int = 0
    off_label: int = 0
    rounds: int = 0
    all_x: list[torch.Tensor] = field(default_factory=list)
    all_flag: list[torch.Tensor] = field(default_factory=list)
    all_dist: list[torch.Tensor] = field(default_factory=list)
    all_idx: list[torch.Tensor] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # the last audit's calibration


def _draw_round(pipe: Any, staged: Staged, label: int, n: int, seed: int, missing: int,
                d: _Draws) -> int:  # fmt: skip
    """Draw `n` samples of `label`, audit them and keep up to `missing`; returns how many."""
    from genforge.evaluate.memorization import audit

    x = _quantise(pipe.sample(n, seed=seed, label=label))
    aud = audit(x, staged.train_x, staged.test_x)
    d.summary = aud.summary()
    d.drawn += n
    d.flagged += aud.num_flagged
    odd = (aud.pixel_dist > d.far) | (roughness(x) > d.rough)
    d.implausible += int((odd & ~aud.flagged).sum())
    drop = aud.flagged | odd
    if d.on_label is not None:  # off-label among the otherwise kept
        off = ~d.on_label(x, label) & ~drop
        d.off_label += int(off.sum())
        drop |= off
    d.all_x.append(x)
    d.all_flag.append(aud.flagged)
    d.all_dist.append(aud.pixel_dist)
    d.all_idx.append(aud.pixel_index)
    ok = (~drop).nonzero().flatten()[:missing]
    d.kept_x.append(x[ok])
    d.kept_y.append(torch.full((len(ok),), label, dtype=torch.long))
    d.kept_seeds += [(seed, int(i)) for i in ok]
    return len(ok)


def _draw_class(pipe: Any, staged: Staged, label: int, need: int, cfg: MedicalConfig,
                d: _Draws, log: Log) -> None:  # fmt: skip
    """Up to `cfg.audit_rounds` rounds until `need` samples of `label` are kept."""
    missing = need
    class_drawn = 0
    for r in range(cfg.audit_rounds):
        if missing <= 0:
            break
        d.rounds = max(d.rounds, r + 1)
        if r == 0:
            n = missing
        else:  # enough for this class's keep rate so far (at least 1 in 4), plus a margin
            rate = max(0.25, (need - missing) / class_drawn)
            n = math.ceil(missing / rate) + max(2, missing // 4)
        class_drawn += n
        seed = cfg.seed * 1_000_003 + label * 1000 + r  # reproducible: genforge sample --seed
        missing -= _draw_round(pipe, staged, label, n, seed, missing, d)
    name = staged.class_names[label]
    log(f"  {name}: {need - missing} synthetic kept" + (f", {missing} short" if missing else ""))


def _closest(d: _Draws, staged: Staged, empty: torch.Tensor) -> list[Any]:
    """The 8 draws closest to a training image: (sample, nearest, distance, flagged)."""
    xs = torch.cat(d.all_x) if d.all_x else empty
    dist = torch.cat(d.all_dist) if d.all_dist else torch.zeros(0)
    closest = []
    for i in dist.argsort()[:8].tolist():
        j = int(torch.cat(d.all_idx)[i])
        closest.append((xs[i], staged.train_x[j], float(dist[i]), bool(torch.cat(d.all_flag)[i])))
    return closest


def sample_audited(
    pipe: Any, staged: Staged, need: dict[int, int], cfg: MedicalConfig, log: Log
) -> Synthetic:
    """Draw `need[label]` samples per class; drop near-copies of training images, implausible
    samples and (quality filter "label") off-label ones, and redraw (up to `cfg.audit_rounds`
    rounds).

    Both distance bounds are calibrated on the held-out real images' RMS pixel distances to
    their nearest training image: a near-copy is closer than half their 5th percentile
    (`evaluate.memorization.audit`); an implausible sample (a failed denoising trajectory, a
    collapsed blob) is farther than the farthest held-out real image, or rougher (`roughness`)
    than the roughest one. Off-label: see `label_checker`."""
    from genforge.evaluate.memorization import nearest

    far = float(nearest(staged.test_x, staged.train_x)[0].max())
    rough = float(roughness(staged.test_x).max())
    if cfg.quality_filter == "none":
        far = rough = float("inf")
    check_labels = cfg.quality_filter == "label" and any(n > 0 for n in need.values())
    on_label = label_checker(staged, cfg) if check_labels else None  # no draws: no classifiers
    d = _Draws(far, rough, on_label)
    for label in sorted(need):
        _draw_class(pipe, staged, label, need[label], cfg, d, log)
    c, s = staged.train_x.shape[1], staged.train_x.shape[-1]
    empty = torch.zeros(0, c, s, s)
    calibration = ("pixel_threshold", "val_pixel_median", "calibration_items")
    return Synthetic(
        images=torch.cat(d.kept_x) if d.kept_x else empty,
        labels=torch.cat(d.kept_y) if d.kept_y else torch.zeros(0, dtype=torch.long),
        seeds=d.kept_seeds,
        drawn=d.drawn,
        flagged=d.flagged,
        implausible=d.implausible,
        off_label=d.off_label,
        rounds=d.rounds,
        audit={
            **{k: d.summary.get(k) for k in calibration},
            "implausible_threshold": far,
            "roughness_threshold": rough,
        },
        closest=_closest(d, staged, empty),
    )
