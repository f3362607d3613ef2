"""`genforge bench audio` and `genforge bench tabular`: training and generation speed of the
audio and table families, medians of several timed repeats after a warm-up.

audio:   training clips/s of one WaveGAN step (n_critic critic batches + one generator batch),
         and seconds of audio generated per second of compute at batch 1 (> 1: faster than
         real time).
tabular: training rows/s of one CTGAN step, and synthetic rows/s for `rows` rows sampled and
         decoded to a DataFrame (the whole `genforge sample` path but the CSV write).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch

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
        return statistics.median(self.rates)


def _timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def bench_audio(
    model: str = "wavegan",
    sample_rate: int = 16000,
    seconds: float = 1.0,
    batch_size: int = 16,
    steps: int = 2,
    repeats: int = 5,
    model_size: int | None = None,
) -> list[Timing]:
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

    t_train = _timed(train_steps, repeats)
    train = Timing(
        f"{model} training", [steps * batch_size * n_critic / t for t in t_train], "clips/s"
    )
    net = family.generator if hasattr(family, "generator") else family.vae
    net.eval()
    z = family.latent(1)

    @torch.no_grad()
    def one():
        family.generate(z, None, net=net)

    t_gen = _timed(one, repeats)
    gen = Timing(f"{model} generation, batch 1", [seconds / t for t in t_gen], "s of audio per s")
    return [train, gen]


def bench_tabular(
    model: str = "ctgan",
    data: str = "breast_cancer",
    rows: int = 100_000,
    batch_size: int = 500,
    steps: int = 5,
    repeats: int = 5,
) -> list[Timing]:
    from genforge.data.table import decode, load_table

    ds = load_table(data)
    family = build_model(model, ds.spec)
    b = min(batch_size, len(ds) - len(ds) % 10)
    cfg = TrainConfig(batch_size=b, channels_last=False, device="cpu", ema_decay=0.0,
                      weight_decay=1e-6, betas=(0.5, 0.9))  # fmt: skip
    trainer = Trainer(family, ds, cfg)
    n_critic = getattr(family.config, "n_critic", 1)

    def train_steps():
        for _ in range(steps):
            trainer.step()

    t_train = _timed(train_steps, repeats)
    train = Timing(f"{model} training ({data}, batch {b})",
                   [steps * b * n_critic / t for t in t_train], "rows/s")  # fmt: skip
    g = torch.Generator().manual_seed(0)

    def sample():
        decode(ds.spec, family.sample(rows, generator=g).numpy())

    t_sample = _timed(sample, repeats)
    sample_t = Timing(
        f"{model} sampling {rows:,} rows + decode", [rows / t for t in t_sample], "rows/s"
    )
    sample_t.seconds = statistics.median(t_sample)  # type: ignore[attr-defined]
    return [train, sample_t]
