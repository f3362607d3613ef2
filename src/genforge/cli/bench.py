"""`genforge bench ...`: the benchmark commands. Each parses its options, calls its benchmark in
genforge.bench (which measures and lays out the table) and prints; an option left out is
left to the library, which holds every default (--help shows it).

The finance report benchmark is the finance recipe's: recipes sit above genforge.bench, so the
CLI calls it here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from genforge.bench.audio_table import (
    AudioBench,
    TableBench,
    TimingsResult,
    run_audio_bench,
    run_table_bench,
    timings_header,
    timings_table,
)
from genforge.bench.eval import EvalBench, eval_lines, run_eval_bench
from genforge.bench.sample import SampleBench, run_sample_bench, sample_notes, sample_table
from genforge.bench.seq2seq import Seq2SeqBench
from genforge.bench.serve import ServeBench, run_serve_bench, serve_table
from genforge.bench.text import TextBench, generation_lines, run_text_bench, text_table
from genforge.bench.train import TrainBench, run_train_bench, train_table
from genforge.bench.watermark import NOTE, run_watermark_bench, watermark_table
from genforge.cli.common import console, user_errors
from genforge.core.errors import GenforgeError

app = typer.Typer(help="Benchmarks (figures, not tests).", no_args_is_help=True)


def option(bench: type, field: str, help: str) -> Any:
    """A --flag whose default is the library's: None here (left out, the benchmark's dataclass
    fills it in), shown by --help as the dataclass's value."""
    default = {f.name: f.default for f in dataclasses.fields(bench)}[field]
    if default is None:
        return typer.Option(help=help)
    if isinstance(default, bool):
        name = field.replace("_", "-")
        return typer.Option(help=help, show_default=name if default else f"no-{name}")
    return typer.Option(help=help, show_default=str(default))


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave (None: left to the library's default)."""
    return {k: v for k, v in options.items() if v is not None}


def print_wide(table: Table, width: int = 110) -> None:
    Console(width=max(console.width, width)).print(table)


@app.command("train")
@user_errors
def train_bench(
    model: Annotated[str | None, option(TrainBench, "model", "Model to train.")] = None,
    image_size: Annotated[int | None, option(TrainBench, "image_size", "Image size.")] = None,
    batch_size: Annotated[int | None, option(TrainBench, "batch_size", "Batch size.")] = None,
    precision: Annotated[
        str | None, option(TrainBench, "precision", "fp32, bf16, fp16, or a comma list.")
    ] = None,
    steps: Annotated[int | None, option(TrainBench, "steps", "Steps per timed repeat.")] = None,
    repeats: Annotated[
        int | None, option(TrainBench, "repeats", "Timed repeats (the median is reported).")
    ] = None,
    device: Annotated[str | None, option(TrainBench, "device", "auto, cpu or cuda.")] = None,
    compile: Annotated[
        bool | None, option(TrainBench, "compile", "torch.compile the networks.")
    ] = None,
    baseline: Annotated[
        bool | None,
        option(
            TrainBench,
            "baseline",
            "Also time the reference: pytorch/examples dcgan/main.py's configuration.",
        ),
    ] = None,
) -> None:
    """Training images/s, step time, FLOPs/image, achieved GFLOP/s vs. the matmul peak."""
    bench = TrainBench(**given(model=model, image_size=image_size, batch_size=batch_size,
                               precision=precision, steps=steps, repeats=repeats, device=device,
                               compile=compile, baseline=baseline))  # fmt: skip
    print_wide(train_table(run_train_bench(bench, log=console.print)))


@app.command("sample")
@user_errors
def sample_bench(
    run: Annotated[
        str | None,
        option(SampleBench, "run", "A trained diffusion run, image or video (name or path)."),
    ] = None,
    model: Annotated[
        str | None,
        option(SampleBench, "model", "The run's model family (ddpm, cddpm, vdm or cvdm)."),
    ] = None,
    samplers: Annotated[
        str | None, option(SampleBench, "samplers", "Comma list of sampler:steps.")
    ] = None,
    n: Annotated[int | None, option(SampleBench, "n", "Images (clips) per timed repeat.")] = None,
    repeats: Annotated[
        int | None, option(SampleBench, "repeats", "Timed repeats (the median is reported).")
    ] = None,
    fd: Annotated[
        bool | None,
        option(
            SampleBench,
            "fd",
            "Also compute the FD of each sampler's images (default: image "
            "runs yes; video runs are timed only).",
        ),
    ] = None,
    device: Annotated[str | None, option(SampleBench, "device", "auto, cpu or cuda.")] = None,
    runs_dir: Annotated[
        Path | None, option(SampleBench, "runs_dir", "Where runs live (default ./runs).")
    ] = None,
    guidance: Annotated[
        float | None,
        option(
            SampleBench, "guidance", "Guidance scale of a conditional run (default: the run's own)."
        ),
    ] = None,
    eta: Annotated[
        float | None,
        option(SampleBench, "eta", "The ddim rows' eta: 0 deterministic (default) to 1."),
    ] = None,
) -> None:
    """Diffusion sampling speed (images/s, or clips/s for video runs) and quality (FD, image
    runs) per sampler, on one run."""
    bench = SampleBench(**given(run=run, model=model, samplers=samplers, n=n, repeats=repeats,
                                fd=fd, device=device, runs_dir=runs_dir, guidance=guidance,
                                eta=eta))  # fmt: skip
    res = run_sample_bench(bench, log=console.print)
    print_wide(sample_table(res))
    for line in sample_notes(res):
        console.print(line)


@app.command("text")
@user_errors
def text_bench(
    budget: Annotated[
        float | None, option(TextBench, "budget_s", "Training seconds per model.")
    ] = None,
    batch_size: Annotated[int | None, option(TextBench, "batch_size", "Windows per step.")] = None,
    context: Annotated[
        int | None, option(TextBench, "block_size", "Context length (characters).")
    ] = None,
    baseline: Annotated[
        bool | None, option(TextBench, "baseline", "Also train the plain PyTorch GPT.")
    ] = None,
    clock: Annotated[
        str | None,
        option(
            TextBench,
            "clock",
            "wall, or cpu: budget in CPU seconds of this process (shared machines).",
        ),
    ] = None,
    threads: Annotated[
        int | None, option(TextBench, "threads", "torch threads (default: torch's).")
    ] = None,
    lr: Annotated[
        float | None, option(TextBench, "lr", "AdamW peak learning rate (both GPTs).")
    ] = None,
    schedule: Annotated[
        str | None,
        option(
            TextBench, "schedule", "cosine (to zero over the steps the budget allows) or constant."
        ),
    ] = None,
    weight_decay: Annotated[
        float | None, option(TextBench, "weight_decay", "AdamW weight decay (both GPTs).")
    ] = None,
    compile: Annotated[
        bool | None,
        option(TextBench, "compile", "torch.compile the genforge GPT (compile time counts)."),
    ] = None,
    dropout: Annotated[
        float | None, option(TextBench, "dropout", "Dropout of the genforge GPT.")
    ] = None,
) -> None:
    """Char GPT (4 layers, 4 heads, 128 dims) on pydoc: training tokens/s vs a plain PyTorch
    GPT, held-out loss and bits/char after a fixed time vs a KN 5-gram, generation tokens/s."""
    bench = TextBench(**given(budget_s=budget, batch_size=batch_size, block_size=context,
                              baseline=baseline, clock=clock, threads=threads, lr=lr,
                              schedule=schedule, weight_decay=weight_decay, compile=compile,
                              dropout=dropout))  # fmt: skip
    res = run_text_bench(bench, log=console.print)
    print_wide(text_table(res))
    for line in generation_lines(res):
        console.print(line)


@app.command("seq2seq")
@user_errors
def seq2seq_bench(
    data: Annotated[str | None, option(Seq2SeqBench, "data", "Pairs: embedded or a file.")] = None,
    budget: Annotated[
        float | None, option(Seq2SeqBench, "budget_s", "Training seconds per model.")
    ] = None,
    seeds: Annotated[int | None, typer.Option(help="Seeds 0..k-1 per model (default 1).")] = None,
    num_beams: Annotated[
        int | None, option(Seq2SeqBench, "num_beams", "Beam width when scoring.")
    ] = None,
    threads: Annotated[
        int | None, option(Seq2SeqBench, "threads", "torch threads (default: torch's).")
    ] = None,
    runs_dir: Annotated[
        str | None,
        option(Seq2SeqBench, "runs_dir", "Keep the runs in this folder (default: removed)."),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Any training or model key, both models.")
    ] = None,
) -> None:
    """Transformer vs GRU-attention baseline at equal training time, and copying the source
    and the Lead baseline (first sentence), on held-out pairs: BLEU, chrF (sacrebleu),
    ROUGE-1/2/L; mean ± 95 % t-interval [range] over --seeds, and per-seed wins."""
    from genforge.bench.seq2seq import run_seq2seq_bench, seq2seq_table, seq2seq_verdict
    from genforge.core.config import parse_overrides

    bench = Seq2SeqBench(**given(data=data, budget_s=budget, num_beams=num_beams, threads=threads,
                                 runs_dir=runs_dir,
                                 seeds=tuple(range(seeds)) if seeds else None,
                                 options=parse_overrides(set_ or []) or None))  # fmt: skip
    rows = run_seq2seq_bench(bench, log=console.print)
    print_wide(seq2seq_table(bench, rows), width=160)
    for line in seq2seq_verdict(bench, rows):
        console.print(line)


@app.command("audio")
@user_errors
def audio_bench(
    model: Annotated[
        str | None, option(AudioBench, "model", "Audio model (wavegan, specvae).")
    ] = None,
    sample_rate: Annotated[
        int | None, option(AudioBench, "sample_rate", "Sample rate in Hz.")
    ] = None,
    seconds: Annotated[float | None, option(AudioBench, "seconds", "Clip length.")] = None,
    batch_size: Annotated[
        int | None, option(AudioBench, "batch_size", "Training batch size.")
    ] = None,
    model_size: Annotated[
        int | None, option(AudioBench, "model_size", "WaveGAN width d (default 32).")
    ] = None,
    threads: Annotated[
        int | None, option(AudioBench, "threads", "torch CPU threads (default: torch's).")
    ] = None,
    repeats: Annotated[int | None, option(AudioBench, "repeats", "Timed repeats.")] = None,
) -> None:
    """Training clips/s and seconds of audio generated per second (batch 1; > 1 is faster than
    real time)."""
    bench = AudioBench(**given(model=model, sample_rate=sample_rate, seconds=seconds,
                               batch_size=batch_size, model_size=model_size, threads=threads,
                               repeats=repeats))  # fmt: skip
    print_timings(run_audio_bench(bench))


@app.command("tabular")
@user_errors
def tabular_bench(
    model: Annotated[
        str | None, option(TableBench, "model", "Table model (ctgan, tvae, copula).")
    ] = None,
    data: Annotated[str | None, option(TableBench, "data", "Embedded table or CSV.")] = None,
    rows: Annotated[
        int | None, option(TableBench, "rows", "Rows to sample per timed repeat.")
    ] = None,
    threads: Annotated[
        int | None, option(TableBench, "threads", "torch CPU threads (default: torch's).")
    ] = None,
    repeats: Annotated[int | None, option(TableBench, "repeats", "Timed repeats.")] = None,
) -> None:
    """Training rows/s and synthetic rows/s (sampling + decoding to a table)."""
    bench = TableBench(**given(model=model, data=data, rows=rows, threads=threads,
                               repeats=repeats))  # fmt: skip
    print_timings(run_table_bench(bench))


def print_timings(res: TimingsResult) -> None:
    console.print(timings_header(res))
    print_wide(timings_table(res))
    for line in res.notes:
        console.print(line)


@app.command("serve")
@user_errors
def serve_bench(
    run: Annotated[
        str | None, option(ServeBench, "run", "Run to serve (default: a fresh 1-step model).")
    ] = None,
    runs_dir: Annotated[Path | None, option(ServeBench, "runs_dir", "Where --run lives.")] = None,
    model: Annotated[str | None, option(ServeBench, "model", "Model of the fresh run.")] = None,
    image_size: Annotated[
        int | None, option(ServeBench, "image_size", "Image size of the fresh run.")
    ] = None,
    requests: Annotated[
        int | None, option(ServeBench, "requests", "Requests per timed load.")
    ] = None,
    clients: Annotated[
        int | None, option(ServeBench, "clients", "Concurrent HTTP clients.")
    ] = None,
    repeats: Annotated[
        int | None,
        option(ServeBench, "repeats", "Timed loads per setting (medians reported)."),
    ] = None,
    batch_wait_ms: Annotated[
        float | None, option(ServeBench, "batch_wait_ms", "Batch collection window.")
    ] = None,
    precision: Annotated[
        str | None,
        option(ServeBench, "precision", "The server's generation arithmetic: fp32 or bf16."),
    ] = None,
    batch_workers: Annotated[
        int | None, option(ServeBench, "batch_workers", "Batches in flight (batching on).")
    ] = None,
) -> None:
    """/v1/generate requests/s and p50/p99 latency on 127.0.0.1, batching off vs. on."""
    bench = ServeBench(**given(run=run, runs_dir=runs_dir, model=model, image_size=image_size,
                               requests=requests, clients=clients, repeats=repeats,
                               batch_wait_ms=batch_wait_ms, precision=precision,
                               batch_workers=batch_workers))  # fmt: skip
    console.print(serve_table(run_serve_bench(bench, log=console.print)))


@app.command("watermark")
@user_errors
def watermark_bench() -> None:
    """Watermark survival under JPEG q75, 0.5x resize and a 10% crop (bundled photos)."""
    print_wide(watermark_table(run_watermark_bench()), 120)
    console.print(NOTE)


@app.command("eval")
@user_errors
def eval_bench(
    images: Annotated[int | None, option(EvalBench, "images", "Generated images to score.")] = None,
    image_size: Annotated[int | None, option(EvalBench, "image_size", "Image size.")] = None,
    repeats: Annotated[
        int | None, option(EvalBench, "repeats", "Timed repeats (the median is reported).")
    ] = None,
    batch_size: Annotated[
        int | None, option(EvalBench, "batch_size", "Feature extraction batch size.")
    ] = None,
    features: Annotated[str | None, option(EvalBench, "features", "domain or inception.")] = None,
    device: Annotated[str | None, option(EvalBench, "device", "auto, cpu or cuda.")] = None,
) -> None:
    """Time to compute FD on N images: batched feature extraction plus the float64 Fréchet
    distance against the reference set (digits), on the current device."""
    bench = EvalBench(**given(images=images, image_size=image_size, repeats=repeats,
                              batch_size=batch_size, features=features, device=device))  # fmt: skip
    for line in eval_lines(run_eval_bench(bench)):
        console.print(line)


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
