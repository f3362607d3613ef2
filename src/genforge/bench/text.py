"""`genforge bench text`: a char GPT trained by genforge's Trainer against a plain PyTorch GPT
of the same size on the same windows, both for the same wall time, plus the KN 5-gram baseline
and generation speed with a KV cache.

The two trainings alternate in short time slices, so a noisy shared CPU slows both alike.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.table import Table
from torch import nn

from genforge.bench.common import Log, check_one_of, clock, median
from genforge.data.text import TextDataset, TextSpec
from genforge.train.config import TrainConfig

# ---------------------------------------------------------------------------------------
# The baseline: a plain PyTorch GPT (nanoGPT-style), same shape as genforge's GPT-2
# ---------------------------------------------------------------------------------------


class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class PlainGPT(nn.Module):
    def __init__(self, vocab: int, block: int, layers: int, heads: int, d: int):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(block, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight  # tied, as GPT-2
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))  # (B, T, V)


# ---------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------


@dataclass
class TextBench:
    """What `genforge bench text` measures (its options, with their defaults).

    clock: "wall" counts elapsed time; "cpu" counts the CPU time this process used, which a
        busy shared machine distorts far less (use it with one thread: idle OpenMP threads
        spin and count as CPU time).
    compile: torch.compile the genforge GPT (its compilation time counts in the budget).
    schedule: "cosine" decays both learning rates to zero over the step count the budget
        allows (estimated from a short timed probe before training, the same count for both
        models, as a user picking --steps for a time budget would), or "constant".
    """

    budget_s: float = 180.0  # training seconds per model
    slice_s: float = 5.0  # the two trainings alternate in slices this long
    batch_size: int = 12  # windows per step
    block_size: int = 64  # context length (characters)
    layers: int = 4
    heads: int = 4
    width: int = 128
    lr: float = 6e-3  # AdamW peak learning rate (both GPTs)
    schedule: str = "cosine"
    train_stride: int = 1  # training windows start every `train_stride` characters
    weight_decay: float = 0.1  # AdamW weight decay (both GPTs)
    compile: bool = False
    dropout: float = 0.0  # dropout of the genforge GPT
    baseline: bool = True  # also train the plain PyTorch GPT
    gen_repeats: int = 3
    clock: str = "wall"
    threads: int | None = None  # torch threads (None: torch's)

    def __post_init__(self) -> None:
        check_one_of("schedule", self.schedule, ("cosine", "constant"))
        check_one_of("clock", self.clock, ("wall", "cpu"))

    @property
    def gpt_shape(self) -> dict:
        return {"n_layer": self.layers, "n_head": self.heads, "n_embd": self.width,
                "dropout": self.dropout}  # fmt: skip


@dataclass
class Trained:
    label: str
    steps: int = 0
    seconds: float = 0.0
    rates: list[float] = field(default_factory=list)  # tokens per wall second, per time slice
    cpu_rates: list[float] = field(default_factory=list)  # tokens per CPU second of the process
    val_loss: float = float("nan")  # nats per token
    bpc: float = float("nan")
    train_bpc: float = float("nan")  # on training windows: the gap to bpc is overfitting

    @property
    def tokens_per_s(self) -> float:
        return median(self.rates) if self.rates else float("nan")

    @property
    def tokens_per_cpu_s(self) -> float:
        return median(self.cpu_rates) if self.cpu_rates else float("nan")


def steps_in_budget(
    make_step: Callable[[], Callable[[], None]], budget_s: float, kind: str, probe_steps: int = 30
) -> tuple[int, float]:
    """(optimizer steps that fit in `budget_s`, the probe's start-up seconds), timed on a
    throwaway trainer. The start-up (torch.compile's compilation, which the real run then
    reuses) is charged to the real run's budget by the caller."""
    step = make_step()
    now = clock(kind)
    start = now()
    for _ in range(3):  # the first steps allocate (and compile); then time the steady rate
        step()
    warm = now() - start
    start = now()
    for _ in range(probe_steps):
        step()
    rate = probe_steps / max(now() - start, 1e-9)
    return max(200, int(max(budget_s - warm, 0) * rate)), warm


@torch.no_grad()
def eval_windows(logits_fn: Callable, windows: torch.Tensor, tokenizer) -> tuple[float, float]:
    """(mean NLL per token in nats, bits per character) over held-out windows (N, T + 1)."""
    nll, n_tok, n_chars = 0.0, 0, 0
    for w in windows.split(64):
        logits = logits_fn(w[:, :-1]).float()
        nll += float(F.cross_entropy(logits.flatten(0, 1), w[:, 1:].flatten(), reduction="sum"))
        n_tok += w[:, 1:].numel()
        n_chars += sum(len(tokenizer.decode(r[1:].tolist())) for r in w)
    return nll / n_tok, nll / math.log(2) / max(n_chars, 1)


# ---------------------------------------------------------------------------------------
# The stages: data, schedule, the two GPTs, alternating training, scoring, the 5-gram, decoding
# ---------------------------------------------------------------------------------------


@dataclass
class TextData:
    spec: TextSpec
    tokenizer: Any  # the dataset's char tokenizer
    train_set: TextDataset  # training windows
    val_windows: torch.Tensor  # (N, block_size + 1) held-out token windows


@dataclass
class Contender:
    """One GPT in the race: its figures, its optimizer step and its schedule's config (the
    step count is re-aimed at the end of the budget as training goes)."""

    trained: Trained
    step: Callable[[], None]
    cfg: TrainConfig


@dataclass
class TextBenchResult:
    runs: list[Trained]  # the genforge GPT, then (with the baseline) the plain one
    kn_bpc: float  # bits/char of the KN 5-gram on the same held-out windows
    kn_seconds: float  # its counting and scoring time
    gen: dict[int, float]  # batch size -> tokens/s generated with the KV cache
    block_size: int


def load_text(b: TextBench, log: Log) -> TextData:
    """pydoc, char tokenizer: training windows start at every `train_stride` characters (as
    nanoGPT samples them), held-out windows do not overlap; the same documents held out
    whatever the stride."""
    from genforge.data.modalities import get_modality
    from genforge.data.text import TextDataConfig

    modality = get_modality("text")

    def load(stride: int):
        data = modality.load(TextDataConfig(source="pydoc", block_size=b.block_size,
                                            dedup="exact", stride=stride), seed=0)  # fmt: skip
        return data, *data.split(0.1, seed=0)

    data, train_set, _ = load(b.train_stride)
    _, _, val_set = load(b.block_size)
    spec = modality.spec_of(data)
    val_windows = val_set.images[:400]  # up to 400 x 64 held-out tokens
    log(f"pydoc, char tokenizer ({spec.vocab_size} tokens), {len(train_set)} train windows of "
        f"{b.block_size + 1}, {val_windows.shape[0]} held-out windows; batch {b.batch_size}; "
        f"{torch.get_num_threads()} torch threads")  # fmt: skip
    return TextData(spec, data.tokenizer, train_set, val_windows)


def train_config(b: TextBench, data: TextData, log: Log) -> tuple[TrainConfig, float]:
    """The genforge GPT's TrainConfig (its cosine schedule sized by a timed probe) and the
    probe's start-up seconds, which the caller charges to the genforge GPT's budget."""
    from genforge.models import build_model
    from genforge.train.trainer import Trainer

    cfg = TrainConfig(steps=10**9, batch_size=b.batch_size, optimizer="adamw", lr=b.lr,
                      betas=(0.9, 0.99), weight_decay=b.weight_decay, ema_decay=0.0,
                      channels_last=False, warmup_steps=100, lr_schedule=b.schedule,
                      device="cpu", compile=b.compile)  # fmt: skip
    probe_s = 0.0
    if b.schedule == "cosine" or b.compile:
        steps, probe_s = steps_in_budget(
            lambda: Trainer(build_model("gpt", data.spec, b.gpt_shape), data.train_set, cfg).step,
            b.budget_s,
            b.clock,
        )
        if b.schedule == "cosine":
            cfg.steps = steps
            log(f"cosine schedule over {cfg.steps} steps (the budget at the probed step rate)")
    return cfg, probe_s


def genforge_gpt(b: TextBench, data: TextData, cfg: TrainConfig, probe_s: float):
    """The registered GPT family through the Trainer (accelerate, schedules, guard): (family,
    trainer, its contender, charged the probe's start-up: with --compile, the compilation it
    reuses)."""
    from genforge.models import build_model
    from genforge.train.trainer import Trainer

    torch.manual_seed(0)
    family = build_model("gpt", data.spec, b.gpt_shape)
    trainer = Trainer(family, data.train_set, cfg)
    label = "genforge GPT (transformers GPT2LMHeadModel + Trainer" + (
        ", compiled)" if b.compile else ")"
    )
    return family, trainer, Contender(Trained(label, seconds=probe_s), trainer.step, cfg)


def plain_gpt(b: TextBench, data: TextData, cfg: TrainConfig) -> tuple[PlainGPT, Contender]:
    """The same shape in plain PyTorch: same optimizer, clipping, schedule curve and batches."""
    from genforge.train.trainer import lr_lambda

    torch.manual_seed(0)
    plain = PlainGPT(data.spec.vocab_size, b.block_size, b.layers, b.heads, b.width)
    plain_cfg = dataclasses.replace(cfg)  # its own step count for the schedule
    decay = [p for p in plain.parameters() if p.dim() >= 2]
    no_decay = [p for p in plain.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": b.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=b.lr,
                            betas=(0.9, 0.99))  # fmt: skip
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(plain_cfg))  # the Trainer's curve
    windows = data.train_set.images
    g = torch.Generator().manual_seed(0)

    def plain_step() -> None:
        idx = torch.randint(0, windows.shape[0], (b.batch_size,), generator=g)
        x = windows[idx]
        loss = F.cross_entropy(plain(x[:, :-1]).flatten(0, 1), x[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(plain.parameters(), 1.0)
        opt.step()
        sched.step()

    return plain, Contender(Trained("plain PyTorch GPT (same shape)"), plain_step, plain_cfg)


def train_alternating(contenders: list[Contender], b: TextBench, log: Log) -> None:
    """Warm up each contender (3 steps, counted in its budget), then train them in turn, a
    slice each, until each has used `budget_s`; log the progress after every round."""
    now = clock(b.clock)
    for c in contenders:  # warm-up steps (compilation, with --compile) count in the budget
        start = now()
        for _ in range(3):
            c.step()
        c.trained.seconds += now() - start
        c.trained.steps += 3
    while any(c.trained.seconds < b.budget_s for c in contenders):
        for c in contenders:
            if c.trained.seconds < b.budget_s:
                train_slice(c, b)
        log("  " + "  |  ".join(f"{c.trained.label.split(' (')[0]}: {c.trained.seconds:.0f}s "
                                f"{c.trained.steps} steps" for c in contenders))  # fmt: skip


def train_slice(c: Contender, b: TextBench) -> None:
    """One time slice of `c`'s training: its rates (wall and CPU) and, with the cosine
    schedule, the decay re-aimed at the end of the budget."""
    now = clock(b.clock)
    r, tokens_per_step = c.trained, b.batch_size * b.block_size
    t0, c0, n = time.perf_counter(), time.process_time(), 0
    start = now()
    while now() - start < min(b.slice_s, b.budget_s - r.seconds):
        c.step()
        n += 1
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    r.seconds += now() - start
    r.steps += n
    r.rates.append(n * tokens_per_step / dt)
    r.cpu_rates.append(n * tokens_per_step / max(dc, 1e-9))
    if b.schedule == "cosine" and n:  # re-aim the decay at the end of the budget
        c.cfg.steps = r.steps + int((b.budget_s - r.seconds) * n / (now() - start))


def score(r: Trained, logits_fn: Callable, data: TextData, train_windows: torch.Tensor) -> None:
    """Held-out loss and bits/char, and bits/char on training windows, into `r`."""
    r.val_loss, r.bpc = eval_windows(logits_fn, data.val_windows, data.tokenizer)
    r.train_bpc = eval_windows(logits_fn, train_windows, data.tokenizer)[1]


def kn_baseline(data: TextData) -> tuple[float, float]:
    """(bits/char, seconds) of a KN 5-gram counted on the same split, scoring the same held-out
    windows, each with its own context."""
    from genforge.models.ngram import NGram, NGramConfig

    t0 = time.perf_counter()
    kn = NGram(NGramConfig(n=5), data.spec)
    kn.fit(data.train_set.stream_ids.astype(np.int64))
    bits = sum(-float(kn.log2probs(w.tolist()).sum()) for w in data.val_windows)
    chars = sum(len(data.tokenizer.decode(w[1:].tolist())) for w in data.val_windows)
    return bits / chars, time.perf_counter() - t0


def generation_speed(hf, tok, block_size: int, repeats: int) -> dict[int, float]:
    """Tokens/s sampling `block_size - 1` tokens with the KV cache, at batch 1 and 16."""
    gen = {}
    for b in (1, 16):
        times = []
        for _ in range(repeats):
            x = torch.full((b, 1), tok.eos_id)
            t0 = time.perf_counter()
            with torch.no_grad():
                hf.generate(x, do_sample=True, max_new_tokens=block_size - 1,
                            min_new_tokens=block_size - 1, use_cache=True,
                            pad_token_id=tok.eos_id, attention_mask=torch.ones_like(x))  # fmt: skip
            times.append(time.perf_counter() - t0)
        gen[b] = b * (block_size - 1) / median(times)
    return gen


def run_text_bench(bench: TextBench | None = None, log: Log = print) -> TextBenchResult:
    """Train both GPTs for `budget_s` seconds each (alternating slices); evaluate; time decoding."""
    b = bench or TextBench()
    if b.threads is not None:
        torch.set_num_threads(b.threads)
    log(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads; {b.budget_s:.0f} {b.clock} seconds of training "
        "per model")  # fmt: skip
    data = load_text(b, log)
    cfg, probe_s = train_config(b, data, log)
    family, trainer, ours = genforge_gpt(b, data, cfg, probe_s)
    plain, theirs = plain_gpt(b, data, cfg)
    contenders = [ours, theirs] if b.baseline else [ours]
    train_alternating(contenders, b, log)

    net = trainer.sampling_net().eval()
    train_set = data.train_set
    pick = torch.randperm(len(train_set.images), generator=torch.Generator().manual_seed(1))
    train_windows = train_set.images[pick[:400]]
    score(ours.trained, lambda x: family.logits(net, x), data, train_windows)
    if b.baseline:
        plain.eval()
        score(theirs.trained, plain, data, train_windows)
    kn_bpc, kn_s = kn_baseline(data)
    gen = generation_speed(net, data.tokenizer, b.block_size, b.gen_repeats)
    return TextBenchResult([c.trained for c in contenders], kn_bpc, kn_s, gen, b.block_size)


def text_table(res: TextBenchResult) -> Table:
    """One row per GPT (steps, tokens/s, held-out loss and bits/char, training bits/char) and
    the 5-gram's bits/char."""
    table = Table("model", "steps", "tokens/s (wall)", "tokens/CPU-s", "val loss (nats/token)",
                  "val bits/char", "train bits/char")  # fmt: skip
    for r in res.runs:
        table.add_row(r.label, str(r.steps), f"{r.tokens_per_s:,.0f}", f"{r.tokens_per_cpu_s:,.0f}",
                      f"{r.val_loss:.3f}", f"{r.bpc:.3f}", f"{r.train_bpc:.3f}")  # fmt: skip
    table.add_row("KN 5-gram (interpolated, counted)", "-", "-", "-", "-", f"{res.kn_bpc:.3f}", "-")
    return table


def generation_lines(res: TextBenchResult) -> list[str]:
    return [
        f"generation (KV cache, sampling {res.block_size - 1} tokens): batch {b}: {v:,.0f} tokens/s"
        for b, v in res.gen.items()
    ]
