"""`genforge bench audio` and `genforge bench tabular`: training and generation speed of the
audio and table families, medians of several timed repeats after a warm-up.

audio:   training clips/s of one WaveGAN step (n_critic critic batches + one generator batch),
         and seconds of audio generated per second of compute at batch 1 (> 1: faster than
         real time).
tabular: training rows/s of one CTGAN step, and synthetic rows/s for `rows` rows sampled and
         decoded to a DataFrame (the whole `genforge sample` path but the CSV write).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from rich.table import Table

from genforge.bench.common import median, timed, torch_threads
from genforge.data.audio import AudioDataset, AudioReport, AudioSpec
from genforge.models import build_model
from genforge.train.config import TrainConfig
from genforge.train.trainer import Trainer


@dataclass
class Timing:
    label: str
    rates: list[float] = field(default_factory=list)  # per repeat, in `unit`
    unit: str = ""

    @property
    def median(self) -> float:
        return median(self.rates)


@dataclass
class AudioBench:
    """What `genforge bench audio` measures (its options, with their defaults)."""

    model: str = "wavegan"  # wavegan or specvae
    sample_rate: int = 16000  # Hz
    seconds: float = 1.0  # clip length
    batch_size: int = 16  # training batch size
    steps: int = 2  # training steps per timed repeat
    repeats: int = 5  # timed repeats
    model_size: int | None = None  # WaveGAN width d (None: the model's default, 32)
    threads: int | None = None  # torch CPU threads (None: torch's)


@dataclass
class TableBench:
    """What `genforge bench tabular` measures (its options, with their defaults)."""

    model: str = "ctgan"  # ctgan, tvae or copula
    data: str = "breast_cancer"  # embedded table or CSV
    rows: int = 100_000  # rows to sample per timed repeat
    batch_size: int = 500  # training batch size (at most the table's rows, rounded to 10)
    steps: int = 5  # training steps per timed repeat
    repeats: int = 5  # timed repeats
    threads: int | None = None  # torch CPU threads (None: torch's)


def bench_audio(b: AudioBench) -> list[Timing]:
    """Training clips/s (`steps` steps on noise clips) and seconds of audio generated per
    second at batch 1."""
    model, sample_rate, seconds, batch_size = b.model, b.sample_rate, b.seconds, b.batch_size
    steps, repeats, model_size = b.steps, b.repeats, b.model_size
    length = round(sample_rate * seconds)
    spec = AudioSpec(sample_rate, length)
    overrides = {"model_size": model_size} if model_size else {}
    family = build_model(model, spec, overrides)
    clips = torch.randn(max(64, batch_size), 1, length).clamp(-1, 1) * 0.3
    report = AudioReport(
        "noise", "embedded", len(clips), len(clips), sample_rate, seconds, {}, {}, {}, {}
    )
    data = AudioDataset("noise", clips, None, [], report, sample_rate)
    cfg = TrainConfig(batch_size=batch_size, channels_last=False, device="cpu", ema_decay=0.0)
    trainer = Trainer(family, data, cfg)
    n_critic = getattr(family.config, "n_critic", 1)

    def train_steps():
        for _ in range(steps):
            trainer.step()

    t_train = timed(train_steps, repeats)
    train = Timing(
        f"{model} training", [steps * batch_size * n_critic / t for t in t_train], "clips/s"
    )
    net = family.networks()[family.sampling_network()]  # the network that samples
    net.eval()
    z = family.latent(1)

    @torch.no_grad()
    def one():
        family.generate(z, None, net=net)

    t_gen = timed(one, repeats)
    gen = Timing(f"{model} generation, batch 1", [seconds / t for t in t_gen], "s of audio per s")
    return [train, gen]


def bench_tabular(bench: TableBench) -> list[Timing]:
    """Training rows/s (`steps` steps) and synthetic rows/s, `rows` rows sampled and decoded
    to a table."""
    from genforge.data.table import decode, load_table

    model, data, rows, steps, repeats = (
        bench.model,
        bench.data,
        bench.rows,
        bench.steps,
        bench.repeats,
    )
    ds = load_table(data)
    family = build_model(model, ds.spec)
    b = min(bench.batch_size, len(ds) - len(ds) % 10)
    cfg = TrainConfig(batch_size=b, channels_last=False, device="cpu", ema_decay=0.0,
                      weight_decay=1e-6, betas=(0.5, 0.9))  # fmt: skip
    trainer = Trainer(family, ds, cfg)
    n_critic = getattr(family.config, "n_critic", 1)

    def train_steps():
        for _ in range(steps):
            trainer.step()

    t_train = timed(train_steps, repeats)
    train = Timing(f"{model} training ({data}, batch {b})",
                   [steps * b * n_critic / t for t in t_train], "rows/s")  # fmt: skip
    g = torch.Generator().manual_seed(0)

    def sample():
        decode(ds.spec, family.sample(rows, generator=g).numpy())

    t_sample = timed(sample, repeats)
    sample_t = Timing(
        f"{model} sampling {rows:,} rows + decode", [rows / t for t in t_sample], "rows/s"
    )
    return [train, sample_t]


@dataclass
class TimingsResult:
    title: str  # what was timed, e.g. "wavegan, 1 s at 16000 Hz"
    timings: list[Timing]  # training, then generation
    notes: list[str] = field(default_factory=list)  # lines under the table


def run_audio_bench(bench: AudioBench) -> TimingsResult:
    b = bench
    if b.threads:
        torch.set_num_threads(b.threads)
    timings = bench_audio(b)
    return TimingsResult(f"{b.model}, {b.seconds:g} s at {b.sample_rate} Hz", timings)


def run_table_bench(bench: TableBench) -> TimingsResult:
    b = bench
    if b.threads:
        torch.set_num_threads(b.threads)
    timings = bench_tabular(b)
    note = f"{b.rows:,} rows sampled and decoded in {b.rows / timings[1].median:.2f} s (median)"
    return TimingsResult(f"{b.model} on {b.data}", timings, [note])


def timings_header(res: TimingsResult) -> str:
    return (f"{res.title}; {torch_threads()}; "
            "medians of the repeats (the CPU may be shared: compare runs of one session)")  # fmt: skip


def timings_table(res: TimingsResult) -> Table:
    table = Table("what", "median", "unit", "range")
    for t in res.timings:
        table.add_row(
            t.label, f"{t.median:,.2f}", t.unit, f"{min(t.rates):,.2f}-{max(t.rates):,.2f}"
        )
    return table
