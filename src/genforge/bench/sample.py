"""`genforge bench sample`: how fast each diffusion sampler draws images (or clips, from a
`vdm`/`cvdm` video run) from one run.

Each sampler draws `n` images `repeats` times (after a one-image warm-up); the median images/s
(clips/s) is reported, and the images of all repeats are kept for the quality measure (FD), so
speed and quality come from the same samples. Video runs are timed only: `genforge eval RUN`
scores their clips.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.table import Table

from genforge.bench.common import Log, check_at_least_one, median, torch_threads
from genforge.core.errors import GenforgeError
from genforge.core.run import Run, resolve_run
from genforge.generate.diffusion import SAMPLERS, DiffusionPipeline, make_sampler


@dataclass
class SampleBench:
    """What `genforge bench sample` measures (its options, with their defaults)."""

    run: str | None = None  # a trained diffusion run (name or path); required
    model: str = "ddpm"  # the run's model family (ddpm, cddpm, vdm or cvdm)
    samplers: str = "ddpm:1000,ddim:50,dpm-solver++:20"  # comma list of sampler:steps
    n: int = 64  # images (clips) per timed repeat
    repeats: int = 3  # timed repeats (the median is reported)
    fd: bool | None = None  # the FD of each sampler's images (None: image runs yes, video no)
    device: str = "auto"
    runs_dir: Path | None = None  # where runs live (default ./runs)
    guidance: float | None = None  # guidance scale of a conditional run (None: the run's own)
    eta: float | None = None  # the ddim rows' eta: 0 deterministic (default) to 1


@dataclass
class SamplerBench:
    sampler: str
    steps: int
    images_per_s: list[float]  # clips per second for video runs
    images: torch.Tensor  # (repeats * n, C, H, W) in [-1, 1]; clips (.., C, T, H, W)
    labels: torch.Tensor | None  # (repeats * n,) for conditional runs

    @property
    def median(self) -> float:
        return median(self.images_per_s)


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
    device: str,
    seed: int = 0,
    guidance: float | None = None,
    eta: float | None = None,
) -> SamplerBench:
    """Time `repeats` draws of `n` images (clips, from a video run) with `sampler` (seeds
    seed, seed+1, ...); a conditional run samples at `guidance` (None: the run's default);
    `eta` applies to ddim on image runs."""
    check_at_least_one(n=n, repeats=repeats)
    if run.read_config().get("modality") == "video":
        from genforge.generate.video import VideoPipeline

        if eta is not None:
            raise GenforgeError("--eta applies to image diffusion runs; video runs' ddim is eta 0")
        vpipe = VideoPipeline(run, device, sampler=sampler, steps=steps, guidance=guidance)
        draw, pipe = (lambda k, s: vpipe.sample(k, seed=s)), vpipe
        used = len(make_sampler(vpipe.sampler, vpipe.model.scheduler, vpipe.steps).timesteps)
    else:
        ipipe = DiffusionPipeline(run, device, sampler=sampler, steps=steps, guidance=guidance,
                                  eta=eta if sampler == "ddim" else None)  # fmt: skip
        draw, pipe = (lambda k, s: (ipipe.sample(k, seed=s), ipipe.labels_for(k))), ipipe
        used = len(ipipe.scheduler().timesteps)
    draw(1, seed)  # warm-up: first-call allocations, kernel selection
    rates, images, labels = [], [], []
    for r in range(repeats):
        if pipe.device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        x, y = draw(n, seed + r)  # on the CPU: synchronised
        rates.append(n / (time.perf_counter() - t))
        images.append(x)
        if y is not None:
            labels.append(y)
    return SamplerBench(
        sampler, used, rates, torch.cat(images), torch.cat(labels) if labels else None
    )


@dataclass
class SampleBenchResult:
    bench: SampleBench
    results: list[SamplerBench]
    fds: list[tuple[float, str] | None]  # (FD, the metric's label) per sampler; None: --no-fd
    accs: list[float | None]  # conditional accuracy per sampler (conditional runs)
    floor: float | None = None  # FD of held-out real images to the same reference
    n_real: int = 0  # how many held-out real images the floor used
    unit: str = "img"  # what is counted per second: img, or clips for video runs


def run_sample_bench(bench: SampleBench, log: Log = print) -> SampleBenchResult:
    """Time each sampler of `bench.samplers` on the run; with `fd` (image runs, by default),
    score every sampler's images against one reference set (and the held-out real images, the
    floor). Video runs are timed only."""
    if bench.run is None:
        raise GenforgeError(
            f"bench sample needs --run: a trained {bench.model} run (genforge train {bench.model} ...)"
        )
    the_run = resolve_run(bench.run, bench.runs_dir)
    trained = the_run.read_config()["model"]
    if trained != bench.model:
        raise GenforgeError(f"run '{the_run.name}' is a {trained} run, not {bench.model}")
    plan = parse_samplers(bench.samplers)
    video = the_run.read_config().get("modality") == "video"
    if video and bench.fd:
        raise GenforgeError("bench sample times video runs only (no --fd); genforge eval RUN "
                            "scores their clips")  # fmt: skip
    what = "clips" if video else "images"
    log(f"run {the_run.name} (step {the_run.step}), {bench.n} {what} x {bench.repeats} repeats, "
        f"{torch_threads()}")  # fmt: skip
    b = bench
    results = [
        bench_sampler(the_run, s, k, b.n, b.repeats, b.device, guidance=b.guidance, eta=b.eta)
        for s, k in plan
    ]
    res = SampleBenchResult(bench, results, [None] * len(results), [None] * len(results),
                            unit="clips" if video else "img")  # fmt: skip
    if bench.fd is not False and not video:  # evaluation's measures, domain feature space
        from genforge.evaluate.image import ImageEvaluator, conditional_accuracy

        ev = ImageEvaluator(the_run, features="auto")  # one reference set for every sampler
        res.fds = [(ev.fd(r.images), ev.fd_label) for r in results]
        res.accs = [
            conditional_accuracy(the_run, r.images, r.labels) if r.labels is not None else None
            for r in results
        ]
        res.floor, res.n_real = ev.fd_real_floor(), len(ev.data.val)
    return res


def rate(x: float) -> str:
    """Two decimals, or three significant digits below 1/s (1000-step DDPM draws 0.029 clips/s
    on one CPU thread, which two decimals would round to 0.03)."""
    return f"{x:,.2f}" if x >= 1 else f"{x:.3g}"


def sample_table(res: SampleBenchResult) -> Table:
    """One row per sampler: steps, images/s or clips/s (median and range), speed relative to
    the first, FD, FD relative to the first, conditional accuracy."""
    eta, fds, base = res.bench.eta, res.fds, res.results[0]
    table = Table("sampler", "steps", f"{res.unit}/s", "range", "speed", "FD", "FD vs first",
                  "cond. acc")  # fmt: skip
    for r, f, acc in zip(res.results, fds, res.accs, strict=True):
        table.add_row(
            r.sampler + (f" (eta {eta:g})" if eta is not None and r.sampler == "ddim" else ""),
            str(r.steps), rate(r.median),
            f"{rate(min(r.images_per_s))}-{rate(max(r.images_per_s))}",
            f"{r.median / base.median:.1f}x",
            f"{f[0]:.3f}" if f else "-",
            f"{100 * (f[0] / fds[0][0] - 1):+.0f}%" if f and fds[0] and fds[0][0] else "-",
            f"{100 * acc:.1f}%" if acc is not None else "-",
        )  # fmt: skip
    return table


def sample_notes(res: SampleBenchResult) -> list[str]:
    """The lines under the table: which FD, and its floor on real images."""
    if res.unit == "clips":
        return ["clips/s: whole clips (every frame) per second; FD is not measured here, "
                "genforge eval RUN scores the clips"]  # fmt: skip
    if not res.fds[0]:
        return []
    notes = [f"FD: {res.fds[0][1]} ({len(res.results[0].images)} images per sampler)"]
    if res.floor is not None:
        notes.append(f"FD of {res.n_real} held-out real images to the same "
                     f"reference: {res.floor:.3f} (the floor; FD falls with more images)")  # fmt: skip
    return notes
