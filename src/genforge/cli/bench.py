"""`genforge bench train` (throughput, FLOPs and the device's peak, measured together) and
`genforge bench sample` (diffusion samplers: images/s and FD on one run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from genforge.cli.common import console, user_errors
from genforge.core.errors import GenforgeError

app = typer.Typer(help="Benchmarks (figures, not tests).", no_args_is_help=True)


@app.command("train")
@user_errors
def train_bench(
    model: Annotated[str, typer.Option(help="Model to train.")] = "dcgan",
    image_size: Annotated[int, typer.Option(help="Image size.")] = 64,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 64,
    precision: Annotated[
        str, typer.Option(help="fp32, bf16, fp16, or a comma list.")
    ] = "fp32,bf16",
    steps: Annotated[int, typer.Option(help="Steps per timed repeat.")] = 10,
    repeats: Annotated[int, typer.Option(help="Timed repeats (the median is reported).")] = 5,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    compile: Annotated[bool, typer.Option(help="torch.compile the networks.")] = False,
    baseline: Annotated[
        bool, typer.Option(help="Also time the classic DataLoader DCGAN loop.")
    ] = True,
) -> None:
    """Training images/s, step time, FLOPs/image, achieved GFLOP/s vs. the matmul peak."""
    import torch

    from genforge.train.bench import bench_classic, bench_genforge, matmul_peak
    from genforge.train.config import TrainConfig
    from genforge.train.trainer import make_accelerator

    precisions = [p.strip() for p in precision.split(",") if p.strip()]
    for p in precisions:
        if p not in ("fp32", "bf16", "fp16"):
            raise GenforgeError(f"unknown precision '{p}'; known: bf16, fp16, fp32")
    dev = make_accelerator(TrainConfig(device=device)).device
    threads = torch.get_num_threads()
    console.print(f"device {dev} ({torch.cuda.get_device_name() if dev.type == 'cuda' else f'{threads} CPU threads'}), "
                  f"torch {torch.__version__}, {model} {image_size}px, batch {batch_size}, "
                  f"median of {repeats} x {steps} steps")  # fmt: skip
    peaks = {"fp32": matmul_peak(dev, torch.float32), "bf16": matmul_peak(dev, torch.bfloat16)}
    if dev.type == "cuda":
        peaks["fp16"] = matmul_peak(dev, torch.float16)
    console.print("matmul peak: " + ", ".join(f"{k} {v:,.0f} GFLOP/s" for k, v in peaks.items()))

    results = []
    if baseline:
        results.append((bench_classic(image_size, batch_size, steps, repeats, device), "fp32"))
    for p in precisions:
        results.append(
            (bench_genforge(model, image_size, batch_size, p, steps, repeats, device, compile), p)
        )
    flops = next((r.flops_per_image for r, _ in results if r.flops_per_image), None)
    base = results[0][0].median if baseline else None
    table = Table(
        "loop", "img/s", "range", "ms/step", "GFLOP/img", "GFLOP/s", "%peak", "vs classic"
    )
    for r, p in results:
        f = r.flops_per_image or flops  # the classic loop runs the same networks
        achieved = r.median * f / 1e9 if f else None
        table.add_row(
            r.label, f"{r.median:,.1f}", f"{min(r.images_per_s):,.1f}-{max(r.images_per_s):,.1f}",
            f"{batch_size / r.median * 1000:,.1f}", f"{f / 1e9:.3f}" if f else "-",
            f"{achieved:,.1f}" if achieved else "-",
            f"{100 * achieved / peaks.get(p, peaks['fp32']):.0f}%" if achieved else "-",
            f"{r.median / base:.2f}x" if base else "-",
        )  # fmt: skip
    Console(width=max(console.width, 110)).print(table)


@app.command("sample")
@user_errors
def sample_bench(
    run: Annotated[str | None, typer.Option(help="A trained diffusion run (name or path).")] = None,
    model: Annotated[str, typer.Option(help="The run's model family (ddpm or cddpm).")] = "ddpm",
    samplers: Annotated[
        str, typer.Option(help="Comma list of sampler:steps.")
    ] = "ddpm:1000,ddim:50,dpm-solver++:20",
    n: Annotated[int, typer.Option(help="Images per timed repeat.")] = 64,
    repeats: Annotated[int, typer.Option(help="Timed repeats (the median is reported).")] = 3,
    fd: Annotated[bool, typer.Option(help="Also compute the FD of each sampler's images.")] = True,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
    guidance: Annotated[
        float | None,
        typer.Option(help="Guidance scale of a conditional run (default: the run's own)."),
    ] = None,
    eta: Annotated[
        float | None, typer.Option(help="The ddim rows' eta: 0 deterministic (default) to 1.")
    ] = None,
) -> None:
    """Diffusion sampling speed (images/s) and quality (FD) per sampler, on one run."""
    import torch

    from genforge.core.run import resolve_run
    from genforge.generate.bench import bench_sampler, parse_samplers

    if run is None:
        raise GenforgeError(
            f"bench sample needs --run: a trained {model} run (genforge train {model} ...)"
        )
    the_run = resolve_run(run, runs_dir)
    trained = the_run.read_config()["model"]
    if trained != model:
        raise GenforgeError(f"run '{the_run.name}' is a {trained} run, not {model}")
    plan = parse_samplers(samplers)
    console.print(f"run {the_run.name} (step {the_run.step}), {n} images x {repeats} repeats, "
                  f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")  # fmt: skip
    results = [
        bench_sampler(the_run, s, k, n, repeats, device, guidance=guidance, eta=eta)
        for s, k in plan
    ]
    fds: list[tuple[float, str] | None] = [None] * len(results)
    accs: list[float | None] = [None] * len(results)
    if fd:  # the Evaluation package's measures, in the run's domain feature space
        from genforge.evaluate.image import ImageEvaluator, conditional_accuracy

        ev = ImageEvaluator(the_run, features="auto")  # one reference set for every sampler
        fds = [(ev.fd(r.images), ev.fd_label) for r in results]
        accs = [
            conditional_accuracy(the_run, r.images, r.labels) if r.labels is not None else None
            for r in results
        ]
    base = results[0]
    table = Table("sampler", "steps", "img/s", "range", "speed", "FD", "FD vs first", "cond. acc")
    for r, f, acc in zip(results, fds, accs, strict=True):
        table.add_row(
            r.sampler + (f" (eta {eta:g})" if eta is not None and r.sampler == "ddim" else ""),
            str(r.steps), f"{r.median:,.2f}",
            f"{min(r.images_per_s):,.2f}-{max(r.images_per_s):,.2f}",
            f"{r.median / base.median:.1f}x",
            f"{f[0]:.3f}" if f else "-",
            f"{100 * (f[0] / fds[0][0] - 1):+.0f}%" if f and fds[0] and fds[0][0] else "-",
            f"{100 * acc:.1f}%" if acc is not None else "-",
        )  # fmt: skip
    Console(width=max(console.width, 110)).print(table)
    if fd and fds[0]:
        console.print(f"FD: {fds[0][1]} ({len(base.images)} images per sampler)")
        floor = ev.fd_real_floor()
        if floor is not None:
            console.print(f"FD of {len(ev.data.val)} held-out real images to the same "
                          f"reference: {floor:.3f} (the floor; FD falls with more images)")  # fmt: skip


@app.command("text")
@user_errors
def text_bench(
    budget: Annotated[float, typer.Option(help="Training seconds per model.")] = 180.0,
    batch_size: Annotated[int, typer.Option(help="Windows per step.")] = 12,
    context: Annotated[int, typer.Option(help="Context length (characters).")] = 64,
    baseline: Annotated[bool, typer.Option(help="Also train the plain PyTorch GPT.")] = True,
    clock: Annotated[
        str,
        typer.Option(help="wall, or cpu: budget in CPU seconds of this process (shared machines)."),
    ] = "wall",
    threads: Annotated[int | None, typer.Option(help="torch threads (default: torch's).")] = None,
    lr: Annotated[float, typer.Option(help="AdamW peak learning rate (both GPTs).")] = 6e-3,
    schedule: Annotated[
        str, typer.Option(help="cosine (to zero over the steps the budget allows) or constant.")
    ] = "cosine",
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay (both GPTs).")] = 0.1,
    compile: Annotated[
        bool, typer.Option(help="torch.compile the genforge GPT (compile time counts).")
    ] = False,
    dropout: Annotated[float, typer.Option(help="Dropout of the genforge GPT.")] = 0.0,
) -> None:
    """Char GPT (4 layers, 4 heads, 128 dims) on pydoc: training tokens/s vs a plain PyTorch
    GPT, held-out loss and bits/char after a fixed time vs a KN 5-gram, generation tokens/s."""
    import platform

    import torch

    from genforge.train.bench_text import run_text_bench

    if schedule not in ("cosine", "constant"):
        raise GenforgeError(f"--schedule must be cosine or constant, got {schedule!r}")
    if clock not in ("wall", "cpu"):
        raise GenforgeError(f"--clock must be wall or cpu, got {clock!r}")
    if threads is not None:
        torch.set_num_threads(threads)
    console.print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
                  f"{torch.get_num_threads()} threads; {budget:.0f} {clock} seconds of training per model")  # fmt: skip
    res = run_text_bench(budget_s=budget, batch_size=batch_size, block_size=context,
                         baseline=baseline, clock=clock, lr=lr, schedule=schedule,
                         weight_decay=weight_decay, compile=compile,
                         dropout=dropout,
                         log=console.print)  # fmt: skip
    table = Table("model", "steps", "tokens/s (wall)", "tokens/CPU-s", "val loss (nats/token)",
                  "val bits/char", "train bits/char")  # fmt: skip
    for r in res["runs"]:
        table.add_row(r.label, str(r.steps), f"{r.tokens_per_s:,.0f}", f"{r.tokens_per_cpu_s:,.0f}",
                      f"{r.val_loss:.3f}", f"{r.bpc:.3f}", f"{r.train_bpc:.3f}")  # fmt: skip
    table.add_row(
        "KN 5-gram (interpolated, counted)", "-", "-", "-", "-", f"{res['kn_bpc']:.3f}", "-"
    )
    Console(width=max(console.width, 110)).print(table)
    for b, v in res["gen"].items():
        console.print(
            f"generation (KV cache, sampling {context - 1} tokens): batch {b}: {v:,.0f} tokens/s"
        )


def _print_timings(timings, title: str) -> None:
    import torch

    console.print(f"{title}; torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
                  "medians of the repeats (the CPU may be shared: compare runs of one session)")  # fmt: skip
    table = Table("what", "median", "unit", "range")
    for t in timings:
        table.add_row(
            t.label, f"{t.median:,.2f}", t.unit, f"{min(t.rates):,.2f}-{max(t.rates):,.2f}"
        )
    Console(width=max(console.width, 110)).print(table)


@app.command("audio")
@user_errors
def audio_bench(
    model: Annotated[str, typer.Option(help="Audio model (wavegan, specvae).")] = "wavegan",
    sample_rate: Annotated[int, typer.Option(help="Sample rate in Hz.")] = 16000,
    seconds: Annotated[float, typer.Option(help="Clip length.")] = 1.0,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 16,
    model_size: Annotated[int | None, typer.Option(help="WaveGAN width d (default 32).")] = None,
    threads: Annotated[
        int | None, typer.Option(help="torch CPU threads (default: torch's).")
    ] = None,
    repeats: Annotated[int, typer.Option(help="Timed repeats.")] = 5,
) -> None:
    """Training clips/s and seconds of audio generated per second (batch 1; > 1 is faster than
    real time)."""
    import torch

    from genforge.train.bench_audio_table import bench_audio

    if threads:
        torch.set_num_threads(threads)
    timings = bench_audio(model, sample_rate, seconds, batch_size, repeats=repeats,
                          model_size=model_size)  # fmt: skip
    _print_timings(timings, f"{model}, {seconds:g} s at {sample_rate} Hz")


@app.command("tabular")
@user_errors
def tabular_bench(
    model: Annotated[str, typer.Option(help="Table model (ctgan, tvae, copula).")] = "ctgan",
    data: Annotated[str, typer.Option(help="Embedded table or CSV.")] = "breast_cancer",
    rows: Annotated[int, typer.Option(help="Rows to sample per timed repeat.")] = 100_000,
    threads: Annotated[
        int | None, typer.Option(help="torch CPU threads (default: torch's).")
    ] = None,
    repeats: Annotated[int, typer.Option(help="Timed repeats.")] = 5,
) -> None:
    """Training rows/s and synthetic rows/s (sampling + decoding to a table)."""
    import torch

    from genforge.train.bench_audio_table import bench_tabular

    if threads:
        torch.set_num_threads(threads)
    timings = bench_tabular(model, data, rows, repeats=repeats)
    _print_timings(timings, f"{model} on {data}")
    console.print(f"{rows:,} rows sampled and decoded in {rows / timings[1].median:.2f} s (median)")


@app.command("serve")
@user_errors
def serve_bench(
    run: Annotated[
        str | None, typer.Option(help="Run to serve (default: a fresh 1-step model).")
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where --run lives.")] = None,
    model: Annotated[str, typer.Option(help="Model of the fresh run.")] = "dcgan",
    image_size: Annotated[int, typer.Option(help="Image size of the fresh run.")] = 64,
    requests: Annotated[int, typer.Option(help="Requests per timed load.")] = 256,
    clients: Annotated[int, typer.Option(help="Concurrent HTTP clients.")] = 16,
    repeats: Annotated[int, typer.Option(help="Timed loads per setting (medians reported).")] = 3,
    batch_wait_ms: Annotated[float, typer.Option(help="Batch collection window.")] = 10.0,
    precision: Annotated[
        str, typer.Option(help="The server's generation arithmetic: fp32 or bf16.")
    ] = "fp32",
    batch_workers: Annotated[int, typer.Option(help="Batches in flight (batching on).")] = 2,
) -> None:
    """/v1/generate requests/s and p50/p99 latency on 127.0.0.1, batching off vs. on."""
    from genforge.serve.bench import bench_serve, median

    if precision not in ("fp32", "bf16"):
        raise GenforgeError(f"--precision must be fp32 or bf16, got {precision!r}")
    if requests < 1 or clients < 1 or repeats < 1:
        raise GenforgeError("--requests, --clients and --repeats must be at least 1")
    console.print(f"{requests} requests (n=1) from {clients} clients, median of {repeats} loads; "
                  f"{run or f'fresh {model} {image_size}px'} on CPU, {precision}")  # fmt: skip
    results = bench_serve(
        run,
        runs_dir,
        model,
        image_size,
        requests,
        clients,
        repeats,
        batch_wait_ms,
        precision,
        batch_workers,
    )
    table = Table("setting", "req/s", "range", "p50 ms", "p99 ms", "p99/p50", "vs off")
    base = None
    for label, loads in results:
        rps = median([r.rps for r in loads])
        p50 = median([r.pct(0.5) for r in loads]) * 1000
        p99 = median([r.pct(0.99) for r in loads]) * 1000
        base = base or rps
        table.add_row(label, f"{rps:,.1f}", f"{min(r.rps for r in loads):,.1f}-{max(r.rps for r in loads):,.1f}",
                      f"{p50:,.1f}", f"{p99:,.1f}", f"{p99 / p50:.2f}", f"{rps / base:.2f}x")  # fmt: skip
    console.print(table)


@app.command("watermark")
@user_errors
def watermark_bench() -> None:
    """Watermark survival under JPEG q75, 0.5x resize and a 10% crop (bundled photos)."""
    from genforge.safety.survival import survival

    table = Table("method", "PSNR dB", "edit", "id decoded", "detector right", "evidence used")
    for r in survival():
        det = "-" if r["detector"] is None else f"{r['detector']}/{r['n']}"
        ev = ", ".join(f"{k} {v}" for k, v in sorted(r["evidence"].items())) or "-"
        table.add_row(
            r["method"], f"{r['psnr']:.1f}", r["edit"], f"{r['watermark']}/{r['n']}", det, ev
        )
    Console(width=max(console.width, 120)).print(table)
    console.print(
        "detector = what `genforge watermark detect` uses (fixed dwtDct, then pHash lookup)"
    )


@app.command("eval")
@user_errors
def eval_bench(
    images: Annotated[int, typer.Option(help="Generated images to score.")] = 10_000,
    image_size: Annotated[int, typer.Option(help="Image size.")] = 32,
    repeats: Annotated[int, typer.Option(help="Timed repeats (the median is reported).")] = 5,
    batch_size: Annotated[int, typer.Option(help="Feature extraction batch size.")] = 512,
    features: Annotated[str, typer.Option(help="domain or inception.")] = "domain",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Time to compute FD on N images: batched feature extraction plus the float64 Fréchet
    distance against the reference set (digits), on the current device."""
    import statistics
    import time

    import torch

    from genforge.core.device import pick_device
    from genforge.data import load_images
    from genforge.evaluate.features import feature_space
    from genforge.evaluate.image_metrics import frechet_distance

    dev = pick_device(device)
    ds = load_images("digits", image_size=image_size, seed=0)
    train, val = ds.split(0.1, seed=0)
    t0 = time.perf_counter()
    space = feature_space(features, train.images, train.labels, "digits", device=dev,
                          val=(val.images, val.labels))  # fmt: skip
    setup = time.perf_counter() - t0
    ref = space.features(train.images, batch_size=batch_size)
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, len(ds), (images,), generator=g)  # a stand-in "generated" set
    fake = (ds.images[idx] + 0.1 * torch.randn(images, *ds.images.shape[1:], generator=g)).clamp(
        -1, 1
    )
    times = []
    for _ in range(repeats):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fd = frechet_distance(ref, space.features(fake, batch_size=batch_size))
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    console.print(
        f"device {dev}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}; "
        f"feature space: {space.label} ({'cached' if space.info.get('cached') else f'trained in {setup:.1f} s'})"
        if hasattr(space, "info")
        else f"device {dev}; feature space: {space.label}"
    )
    console.print(
        f"FD on {images:,} {image_size}x{image_size} images vs {len(ref):,} references: "
        f"median {med:.2f} s over {repeats} (range {min(times):.2f}-{max(times):.2f} s), "
        f"{images / med:,.0f} images/s; FD = {fd:.4g}"
    )


@app.command("finance-report")
@user_errors
def finance_report_bench(
    reports: Annotated[int, typer.Option(help="Seeded demo reports to write.")] = 20,
    seed: Annotated[int, typer.Option(help="First seed.")] = 0,
    stress_steps: Annotated[int, typer.Option(help="CTGAN steps per report.")] = 100,
    out: Annotated[Path, typer.Option(help="Folder for the reports.")] = Path("finance-bench"),
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Unverified numbers and direction words in the prose of N seeded SYNTHETIC demo reports
    (target: 0), from a fresh re-check of each written report."""
    import statistics

    from genforge.recipes.finance import bench_reports

    if reports < 1:
        raise GenforgeError(f"--reports must be at least 1, got {reports}")
    rows = bench_reports(reports, out, str(runs_dir) if runs_dir else None, seed, stress_steps,
                         say=lambda m: console.print(m, markup=False, highlight=False))  # fmt: skip
    table = Table("seed", "claims", "verified as drafted", "rewritten", "sentences removed",
                  "unverified (re-check)", "numbers matching no fact", "s", "verdict")  # fmt: skip
    for r in rows:
        table.add_row(str(r.seed), str(r.claims), str(r.verified_as_drafted), str(r.rewritten),
                      f"{r.removed}/{r.sentences}", str(r.unverified), str(r.without_fact),
                      f"{r.seconds:.1f}", r.verdict)  # fmt: skip
    Console(width=max(console.width, 110)).print(table)
    claims = sum(r.claims for r in rows)
    console.print(
        f"{reports} reports: {sum(r.unverified for r in rows)} unverified claims in the final prose "
        f"(target 0); {sum(r.without_fact for r in rows)} numbers matching no fact; "
        f"{claims} claims checked, {sum(r.verified_as_drafted for r in rows)} verified as drafted, "
        f"{sum(r.rewritten for r in rows)} rewritten, {sum(r.removed for r in rows)} of "
        f"{sum(r.sentences for r in rows)} sentences removed; median "
        f"{statistics.median(r.seconds for r in rows):.1f} s per report",
        markup=False,
        highlight=False,
    )
