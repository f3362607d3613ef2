"""`genforge bench eval`: how long FD takes on N images, on the current device.

A stand-in "generated" set (digits drawn with replacement plus a little noise) goes through
batched feature extraction and the float64 Fréchet distance against the reference set (the
training digits); the median of several timed repeats is reported, with the feature space's
set-up time (training a domain network, or none when cached).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from genforge.bench.common import median, sync


@dataclass
class EvalBench:
    """What `genforge bench eval` measures (its options, with their defaults)."""

    images: int = 10_000  # generated images to score
    image_size: int = 32
    repeats: int = 5  # timed repeats (the median is reported)
    batch_size: int = 512  # feature extraction batch size
    features: str = "domain"  # domain or inception
    device: str = "auto"  # auto, cpu or cuda


@dataclass
class EvalBenchResult:
    bench: EvalBench
    device: torch.device
    space_label: str  # the feature space, in words
    cached: bool | None  # the space came from the cache (None: the space does not say)
    setup_s: float  # seconds to make the feature space (training it, unless cached)
    references: int  # reference images
    times: list[float]  # seconds per repeat: features of the N images + FD
    fd: float

    @property
    def median(self) -> float:
        return median(self.times)


def run_eval_bench(bench: EvalBench) -> EvalBenchResult:
    from genforge.core.device import pick_device
    from genforge.data import load_images
    from genforge.evaluate.features import feature_space
    from genforge.evaluate.image_metrics import frechet_distance

    b = bench
    dev = pick_device(b.device)
    ds = load_images("digits", image_size=b.image_size, seed=0)
    train, val = ds.split(0.1, seed=0)
    t0 = time.perf_counter()
    space = feature_space(b.features, train.images, train.labels, "digits", device=dev,
                          val=(val.images, val.labels))  # fmt: skip
    setup = time.perf_counter() - t0
    ref = space.features(train.images, batch_size=b.batch_size)
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, len(ds), (b.images,), generator=g)  # a stand-in "generated" set
    noise = torch.randn(b.images, *ds.images.shape[1:], generator=g)
    fake = (ds.images[idx] + 0.1 * noise).clamp(-1, 1)
    times = []
    for _ in range(b.repeats):
        sync(dev)
        t = time.perf_counter()
        fd = frechet_distance(ref, space.features(fake, batch_size=b.batch_size))
        times.append(time.perf_counter() - t)
    cached = bool(space.info.get("cached")) if space.kind != "inception" else None
    return EvalBenchResult(b, dev, space.label, cached, setup, len(ref), times, fd)


def eval_lines(res: EvalBenchResult) -> list[str]:
    """The device and feature space, then the timing and the FD."""
    b, med, times = res.bench, res.median, res.times
    space = "cached" if res.cached else f"trained in {res.setup_s:.1f} s"
    return [
        f"device {res.device}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}; "
        f"feature space: {res.space_label} ({space})"
        if res.cached is not None
        else f"device {res.device}; feature space: {res.space_label}",
        f"FD on {b.images:,} {b.image_size}x{b.image_size} images vs {res.references:,} references: "
        f"median {med:.2f} s over {b.repeats} (range {min(times):.2f}-{max(times):.2f} s), "
        f"{b.images / med:,.0f} images/s; FD = {res.fd:.4g}",
    ]
