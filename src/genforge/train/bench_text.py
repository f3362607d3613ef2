"""`genforge bench text`: a char GPT trained by genforge's Trainer against a plain PyTorch GPT
of the same size on the same windows, both for the same wall time, plus the KN 5-gram baseline
and generation speed with a KV cache.

The two trainings alternate in short time slices, so a noisy shared CPU slows both alike.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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
        return statistics.median(self.rates) if self.rates else float("nan")

    @property
    def tokens_per_cpu_s(self) -> float:
        return statistics.median(self.cpu_rates) if self.cpu_rates else float("nan")


def _steps_in_budget(
    make_step: Callable[[], Callable[[], None]], budget_s: float, clock: str, probe_steps: int = 30
) -> tuple[int, float]:
    """(optimizer steps that fit in `budget_s`, the probe's start-up seconds), timed on a
    throwaway trainer. The start-up (torch.compile's compilation, which the real run then
    reuses) is charged to the real run's budget by the caller."""
    step = make_step()
    now = time.process_time if clock == "cpu" else time.perf_counter
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


def run_text_bench(
    budget_s: float = 180.0,
    slice_s: float = 5.0,
    batch_size: int = 12,
    block_size: int = 64,
    layers: int = 4,
    heads: int = 4,
    width: int = 128,
    lr: float = 6e-3,
    schedule: str = "cosine",
    train_stride: int = 1,
    weight_decay: float = 0.1,
    compile: bool = False,
    dropout: float = 0.0,
    baseline: bool = True,
    gen_repeats: int = 3,
    clock: str = "wall",
    log: Callable[[str], None] = print,
) -> dict:
    """Train both GPTs for `budget_s` seconds each (alternating slices); evaluate; time decoding.

    Args:
        clock: "wall" counts elapsed time; "cpu" counts the CPU time this process used, which a
            busy shared machine distorts far less (use it with one thread: idle OpenMP threads
            spin and count as CPU time).
        compile: torch.compile the genforge GPT (its compilation time counts in the budget).
        schedule: "cosine" decays both learning rates to zero over the step count the budget
            allows (estimated from a short timed probe before training, the same count for
            both models, as a user picking --steps for a time budget would), or "constant".
    """
    from genforge.data.modalities import get_modality
    from genforge.data.text import TextDataConfig
    from genforge.models import build_model
    from genforge.models.ngram import NGram, NGramConfig
    from genforge.train.config import TrainConfig
    from genforge.train.trainer import Trainer, lr_lambda

    modality = get_modality("text")

    def load(stride: int):
        data = modality.load(TextDataConfig(source="pydoc", block_size=block_size, dedup="exact",
                                            stride=stride), seed=0)  # fmt: skip
        return data, *data.split(0.1, seed=0)  # the same documents held out whatever the stride

    # training windows start at every character (as nanoGPT samples them); held-out windows
    # do not overlap
    data, train_set, _ = load(train_stride)
    _, _, val_set = load(block_size)
    spec = modality.spec_of(data)
    tok = data.tokenizer
    val_windows = val_set.images[:400]  # up to 400 x 64 held-out tokens
    log(f"pydoc, char tokenizer ({spec.vocab_size} tokens), {len(train_set)} train windows of "
        f"{block_size + 1}, {val_windows.shape[0]} held-out windows; batch {batch_size}; "
        f"{torch.get_num_threads()} torch threads")  # fmt: skip

    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule must be cosine or constant, got {schedule!r}")
    shape = {"n_layer": layers, "n_head": heads, "n_embd": width, "dropout": dropout}
    cfg = TrainConfig(steps=10**9, batch_size=batch_size, optimizer="adamw", lr=lr,
                      betas=(0.9, 0.99), weight_decay=weight_decay, ema_decay=0.0, channels_last=False,
                      warmup_steps=100, lr_schedule=schedule, device="cpu",
                      compile=compile)  # fmt: skip
    probe_s = 0.0
    if schedule == "cosine" or compile:
        steps, probe_s = _steps_in_budget(
            lambda: Trainer(build_model("gpt", spec, shape), train_set, cfg).step, budget_s, clock
        )
        if schedule == "cosine":
            cfg.steps = steps
            log(f"cosine schedule over {cfg.steps} steps (the budget at the probed step rate)")

    # genforge: the registered GPT family through the Trainer (accelerate, schedules, guard)
    torch.manual_seed(0)
    family = build_model("gpt", spec, shape)
    trainer = Trainer(family, train_set, cfg)

    # baseline: the same shape in plain PyTorch, same optimizer, clipping and batches
    torch.manual_seed(0)
    plain = PlainGPT(spec.vocab_size, block_size, layers, heads, width)
    plain_cfg = dataclasses.replace(cfg)  # its own step count for the schedule
    decay = [p for p in plain.parameters() if p.dim() >= 2]
    no_decay = [p for p in plain.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.99))  # fmt: skip
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(plain_cfg))  # the Trainer's curve
    windows = train_set.images
    g = torch.Generator().manual_seed(0)

    def plain_step() -> None:
        idx = torch.randint(0, windows.shape[0], (batch_size,), generator=g)
        x = windows[idx]
        loss = F.cross_entropy(plain(x[:, :-1]).flatten(0, 1), x[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(plain.parameters(), 1.0)
        opt.step()
        sched.step()

    label = "genforge GPT (transformers GPT2LMHeadModel + Trainer" + (
        ", compiled)" if compile else ")"
    )
    # the probe's start-up is charged to genforge (with --compile: the compilation it reuses)
    runs = [(Trained(label, seconds=probe_s), trainer.step, cfg)]
    if baseline:
        runs.append((Trained("plain PyTorch GPT (same shape)"), plain_step, plain_cfg))
    tokens_per_step = batch_size * block_size
    now = time.process_time if clock == "cpu" else time.perf_counter
    for r, step, _ in runs:  # warm-up steps (compilation, with --compile) count in the budget
        start = now()
        for _ in range(3):
            step()
        r.seconds += now() - start
        r.steps += 3
    while any(r.seconds < budget_s for r, _, _ in runs):
        for r, step, run_cfg in runs:
            if r.seconds >= budget_s:
                continue
            t0, c0, n = time.perf_counter(), time.process_time(), 0
            start = now()
            while now() - start < min(slice_s, budget_s - r.seconds):
                step()
                n += 1
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            r.seconds += now() - start
            r.steps += n
            r.rates.append(n * tokens_per_step / dt)
            r.cpu_rates.append(n * tokens_per_step / max(dc, 1e-9))
            if schedule == "cosine" and n:  # re-aim the decay at the end of the budget
                run_cfg.steps = r.steps + int((budget_s - r.seconds) * n / (now() - start))
        log("  " + "  |  ".join(f"{r.label.split(' (')[0]}: {r.seconds:.0f}s {r.steps} steps"
                                for r, _, _ in runs))  # fmt: skip
    net = trainer.sampling_net().eval()
    train_windows = train_set.images[torch.randperm(len(train_set.images),
                                                    generator=torch.Generator().manual_seed(1))[:400]]  # fmt: skip
    runs[0][0].val_loss, runs[0][0].bpc = eval_windows(
        lambda x: family.logits(net, x), val_windows, tok
    )
    runs[0][0].train_bpc = eval_windows(lambda x: family.logits(net, x), train_windows, tok)[1]
    if baseline:
        plain.eval()
        runs[1][0].val_loss, runs[1][0].bpc = eval_windows(plain, val_windows, tok)
        runs[1][0].train_bpc = eval_windows(plain, train_windows, tok)[1]

    # KN 5-gram on the same split (the same held-out windows, scored with their own context)
    t0 = time.perf_counter()
    kn = NGram(NGramConfig(n=5), spec)
    kn.fit(train_set.stream_ids.astype(np.int64))
    bits = sum(-float(kn.log2probs(w.tolist()).sum()) for w in val_windows)
    chars = sum(len(tok.decode(w[1:].tolist())) for w in val_windows)
    kn_bpc = bits / chars
    kn_s = time.perf_counter() - t0

    # generation with the KV cache, batch 1 and 16
    gen = {}
    hf = net
    for b in (1, 16):
        times = []
        for _ in range(gen_repeats):
            x = torch.full((b, 1), tok.eos_id)
            t0 = time.perf_counter()
            with torch.no_grad():
                hf.generate(x, do_sample=True, max_new_tokens=block_size - 1,
                            min_new_tokens=block_size - 1, use_cache=True,
                            pad_token_id=tok.eos_id, attention_mask=torch.ones_like(x))  # fmt: skip
            times.append(time.perf_counter() - t0)
        gen[b] = b * (block_size - 1) / statistics.median(times)
    return {"runs": [r for r, _, _ in runs], "kn_bpc": kn_bpc, "kn_seconds": kn_s, "gen": gen}
