"""`genforge bench sample`: how fast each diffusion sampler draws images from one run.

Each sampler draws `n` images `repeats` times (after a one-image warm-up); the median images/s
is reported, and the images of all repeats are kept for the quality measure (FD), so speed and
quality come from the same samples.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.generate.diffusion import SAMPLERS, DiffusionPipeline


@dataclass
class SamplerBench:
    sampler: str
    steps: int
    images_per_s: list[float]
    images: torch.Tensor  # (repeats * n, C, H, W) in [-1, 1]
    labels: torch.Tensor | None  # (repeats * n,) for conditional runs

    @property
    def median(self) -> float:
        return statistics.median(self.images_per_s)


def parse_samplers(spec: str) -> list[tuple[str, int | None]]:
    """ "ddpm:1000,ddim:50,dpm-solver++" -> [("ddpm", 1000), ("ddim", 50), ("dpm-solver++", None)]"""
    out = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        name, _, steps = item.partition(":")
        if name not in SAMPLERS:
            raise GenforgeError(f"unknown sampler '{name}'; known: {', '.join(sorted(SAMPLERS))}")
        if steps and not steps.isdigit():
            raise GenforgeError(f"steps of sampler '{name}' must be a whole number, got {steps!r}")
        out.append((name, int(steps) if steps else None))
    if not out:
        raise GenforgeError("--samplers is empty; e.g. ddpm:1000,ddim:50,dpm-solver++:20")
    return out


def bench_sampler(
    run: Run,
    sampler: str,
    steps: int | None,
    n: int,
    repeats: int,
    device: str = "auto",
    seed: int = 0,
    guidance: float | None = None,
    eta: float | None = None,
) -> SamplerBench:
    """Time `repeats` draws of `n` images with `sampler` (seeds seed, seed+1, ...); a
    conditional run samples at `guidance` (None: the run's default); `eta` applies to ddim."""
    if n < 1 or repeats < 1:
        raise GenforgeError("--n and --repeats must be at least 1")
    pipe = DiffusionPipeline(run, device, sampler=sampler, steps=steps, guidance=guidance,
                             eta=eta if sampler == "ddim" else None)  # fmt: skip
    pipe.sample(1, seed=seed)  # warm-up: first-call allocations, kernel selection
    rates, images, labels = [], [], []
    for r in range(repeats):
        if pipe.device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        images.append(pipe.sample(n, seed=seed + r))  # on the CPU: synchronised
        rates.append(n / (time.perf_counter() - t))
        y = pipe.labels_for(n)
        if y is not None:
            labels.append(y)
    used = len(pipe.scheduler().timesteps)
    return SamplerBench(
        sampler, used, rates, torch.cat(images), torch.cat(labels) if labels else None
    )
