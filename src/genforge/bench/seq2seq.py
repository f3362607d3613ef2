"""`genforge bench seq2seq`: the transformer against the GRU baseline at equal wall time, and
both against copying the source unchanged, on held-out pairs of one corpus.

Each model's step is timed first (`time_steps`: one warm-up, the median of a few), its step
count set to fill the budget, then it trains through the shared trainer and is scored by
`genforge eval`'s evaluator (beam search, sacrebleu BLEU and chrF). The table reports the
training seconds each really took, so "equal wall time" can be checked, not assumed.
"""

from __future__ import annotations

import platform
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from genforge.bench.common import Log, median, torch_threads
from genforge.core.errors import GenforgeError


@dataclass
class Seq2SeqBench:
    data: str = "country-names:en-ru"
    budget_s: float = 300.0  # training seconds per model
    models: tuple[str, ...] = ("seq2seq", "gru-seq2seq")
    seeds: tuple[int, ...] = (0,)
    num_beams: int = 4
    batch_size: int = 32
    threads: int | None = None  # torch CPU threads (None: torch's default)
    options: dict[str, Any] = field(default_factory=dict)  # more training/model options


@dataclass
class Seq2SeqRow:
    model: str
    seed: int
    steps: int
    train_s: float
    scores: dict[str, float]


def run_seq2seq_bench(bench: Seq2SeqBench, log: Log = print) -> list[Seq2SeqRow]:
    """Train and score every model of `bench` for every seed; see the module docstring."""
    from genforge.api import train_run
    from genforge.evaluate.seq2seq import evaluate_run
    from genforge.train.launch import time_steps

    if bench.budget_s <= 0:
        raise GenforgeError("--budget must be positive")
    if bench.threads is not None:
        import torch

        torch.set_num_threads(bench.threads)
    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for seed in bench.seeds:
            for model in bench.models:
                opts = {"batch_size": bench.batch_size, "seed": seed, **bench.options}
                per_step = time_steps(model, bench.data, timed=5, **opts).seconds_per_step
                steps = max(50, int(bench.budget_s / per_step))
                log(f"{model} seed {seed}: {per_step * 1000:.0f} ms/step -> {steps} steps")
                t = time.perf_counter()
                run = train_run(model, bench.data, runs_dir=runs, name=f"{model}-{seed}",
                                steps=steps, sample_every=10**9, checkpoint_every=10**9, **opts)  # fmt: skip
                train_s = time.perf_counter() - t
                result = evaluate_run(run, num_beams=bench.num_beams, seed=seed)
                rows.append(Seq2SeqRow(model, seed, steps, train_s, result.to_dict()["values"]))
                log(f"  trained {train_s:.0f} s: BLEU {rows[-1].scores['bleu']:.1f}, chrF "
                    f"{rows[-1].scores['chrf']:.1f}")  # fmt: skip
    return rows


def seq2seq_table(bench: Seq2SeqBench, rows: list[Seq2SeqRow]) -> Table:
    """Medians over seeds per model, then the copy baseline (the same for every model)."""
    table = Table(
        "model", "steps", "train s", "BLEU", "chrF", "ROUGE-L", "exact %", "held-out loss",
        title=f"{bench.data}: held-out pairs, beams {bench.num_beams}, budget "
        f"{bench.budget_s:g} s per model, seeds {list(bench.seeds)} (medians); "
        f"{platform.processor() or platform.machine()}, {torch_threads()}",
    )  # fmt: skip
    for model in bench.models:
        mine = [r for r in rows if r.model == model]
        m = {k: median(r.scores[k] for r in mine) for k in
             ("bleu", "chrf", "rougeL", "exact_match", "val_loss")}  # fmt: skip
        table.add_row(model, f"{median(r.steps for r in mine):.0f}",
                      f"{median(r.train_s for r in mine):.0f}", f"{m['bleu']:.1f}",
                      f"{m['chrf']:.1f}", f"{m['rougeL']:.1f}", f"{m['exact_match']:.1f}",
                      f"{m['val_loss']:.3f}")  # fmt: skip
    if rows:
        s = rows[0].scores
        table.add_row("copy the source", "-", "-", f"{s['copy_source_bleu']:.1f}",
                      f"{s['copy_source_chrf']:.1f}", "", "", "")  # fmt: skip
    return table
