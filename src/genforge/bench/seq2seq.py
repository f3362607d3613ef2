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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from genforge.bench.common import Log, median, torch_threads
from genforge.core.errors import GenforgeError
from genforge.core.io import write_json


@dataclass
class Seq2SeqBench:
    data: str = "country-names:en-ru"
    budget_s: float = 300.0  # training seconds per model
    models: tuple[str, ...] = ("seq2seq", "gru-seq2seq")
    seeds: tuple[int, ...] = (0,)
    num_beams: int = 4
    batch_size: int = 32
    threads: int | None = None  # torch CPU threads (None: torch's default)
    runs_dir: str | None = None  # keep the runs there (None: a temporary folder, removed)
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
    with tempfile.TemporaryDirectory() as tmp:
        runs = bench.runs_dir or tmp
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
                if bench.runs_dir:  # kept as they come: a crash later loses no row
                    write_json(Path(bench.runs_dir) / "bench_rows.json", [asdict(r) for r in rows])
                sc = rows[-1].scores
                lead = f"; lead ROUGE-L {sc['lead_rougeL']:.1f}" if "lead_rougeL" in sc else ""
                log(f"  trained {train_s:.0f} s: BLEU {sc['bleu']:.1f}, chrF {sc['chrf']:.1f}, "
                    f"ROUGE-L {sc['rougeL']:.1f}; copy BLEU {sc['copy_source_bleu']:.1f}, chrF "
                    f"{sc['copy_source_chrf']:.1f}{lead}")  # fmt: skip
    return rows


SCORES = ("bleu", "chrf", "rouge1", "rouge2", "rougeL")  # the table's columns, per model
BASELINES = {"copy the source": "copy_source", "lead (first sentence)": "lead"}


def mean_ci(xs: list[float]) -> tuple[float, float]:
    """Mean and half-width of its 95 % Student-t interval (0 for one value)."""
    from scipy.stats import t

    n = len(xs)
    mean = sum(xs) / n
    if n < 2:
        return mean, 0.0
    sd = (sum((x - mean) ** 2 for x in xs) / (n - 1)) ** 0.5
    return mean, float(t.ppf(0.975, n - 1)) * sd / n**0.5


def _cell(xs: list[float]) -> str:
    """ "mean ± 95 % half-width [min-max]" over seeds (just the value for one seed)."""
    mean, half = mean_ci(xs)
    if len(xs) < 2:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {half:.1f} [{min(xs):.1f}-{max(xs):.1f}]"


def seq2seq_table(bench: Seq2SeqBench, rows: list[Seq2SeqRow]) -> Table:
    """Per model: mean ± 95 % t-interval [range] over seeds of BLEU, chrF, ROUGE-1/2/L; then
    the copy and Lead baselines, scored on each seed's own held-out pairs."""
    table = Table(
        "model", "steps", "train s", "BLEU", "chrF", "ROUGE-1", "ROUGE-2", "ROUGE-L",
        "held-out loss",
        title=f"{bench.data}: held-out pairs, beams {bench.num_beams}, budget "
        f"{bench.budget_s:g} s per model, seeds {list(bench.seeds)} (mean ± 95 % t-interval "
        f"\\[min-max]); {platform.processor() or platform.machine()}, {torch_threads()}",
    )  # fmt: skip
    for model in bench.models:
        mine = [r for r in rows if r.model == model]
        if not mine:
            continue
        table.add_row(model, f"{median(r.steps for r in mine):.0f}",
                      f"{median(r.train_s for r in mine):.0f}",
                      *(_cell([r.scores[k] for r in mine]) for k in SCORES),
                      f"{median(r.scores['val_loss'] for r in mine):.3f}")  # fmt: skip
    first = [r for r in rows if r.model == rows[0].model] if rows else []
    for label, prefix in BASELINES.items():
        if first and f"{prefix}_bleu" in first[0].scores:
            cells = (_cell([r.scores[f"{prefix}_{k}"] for r in first]) for k in SCORES)
            table.add_row(label, "-", "-", *cells, "")
    return table


def seq2seq_verdict(bench: Seq2SeqBench, rows: list[Seq2SeqRow]) -> list[str]:
    """Per seed, does the first model beat each other model and copying the source, in BLEU
    and chrF? One line per comparison: "k of n seeds"."""
    if not rows:
        return []
    first, rest = bench.models[0], bench.models[1:]
    by = {(r.model, r.seed): r.scores for r in rows}
    seeds = [s for s in bench.seeds if (first, s) in by]
    lines = []
    for other in (*rest, "copy"):
        for k in ("bleu", "chrf"):
            wins = sum(
                by[(first, s)][k]
                > (by[(first, s)][f"copy_source_{k}"] if other == "copy" else by[(other, s)][k])
                for s in seeds
                if other == "copy" or (other, s) in by
            )
            what = "copying the source" if other == "copy" else other
            lines.append(f"{first} beats {what} in {k.upper()}: {wins} of {len(seeds)} seeds")
    return lines
