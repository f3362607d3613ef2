"""`genforge bench finance-report`: many seeded demo reports, and an audit of their prose that
does not depend on how the checker ties claims to facts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from genforge.recipes.finance.config import FinanceConfig
from genforge.recipes.finance.factcheck import find_claims, split_sentences, tolerance
from genforge.recipes.finance.facts import FactBook
from genforge.recipes.finance.recipe import run
from genforge.recipes.finance.report import report_prose

BENCH_DRAFTS = 5  # the benchmark has always drafted 5 completions per opener (the recipe: 3)


def numbers_without_fact(text: str, book: FactBook) -> int:
    """Numbers in `text` that equal no fact of the book at all (same unit, within the shown
    rounding, sign ignored): an audit that does not depend on how claims are tied to facts."""
    facts = book.all_facts()
    n = 0
    for sentence in split_sentences(text):
        for c in find_claims(sentence):
            if c.kind != "number":
                continue
            unit = "ratio" if c.unit == "bare" else c.unit
            same = [f for f in facts if f.unit == unit]
            if unit == "date":
                ok = any(f.value == c.value for f in same) or any(
                    x.date == c.value for t in book.tickers.values() for x in t.crosses
                )
            else:
                tol = 0.5 if unit == "count" else tolerance(c.decimals)
                ok = any(abs(abs(float(f.value)) - abs(float(c.value))) <= tol for f in same)  # type: ignore[arg-type]
            n += not ok
    return n


@dataclass
class BenchRow:
    seed: int
    claims: int
    verified_as_drafted: int
    rewritten: int
    sentences: int
    removed: int
    unverified: int  # fresh re-check of the written report's prose
    without_fact: int  # numbers in the written prose equal to no fact at all
    seconds: float
    verdict: str


def bench_reports(reports: int, folder: Path, runs_dir: str | None, seed: int = 0,
                  stress_steps: int = 100, demo_days: int = 756,
                  say: Callable[[str], None] = print) -> list[BenchRow]:  # fmt: skip
    """`reports` demo reports with seeds seed .. seed + reports - 1; one row per report."""
    rows = []
    for i in range(reports):
        s = seed + i
        t0 = time.perf_counter()
        cfg = FinanceConfig(demo=True, seed=s, out=str(folder / f"demo-{s}.html"),
                            stress_steps=stress_steps, demo_days=demo_days, runs_dir=runs_dir,
                            name=f"bench-s{s}", drafts=BENCH_DRAFTS)  # fmt: skip
        r = run(cfg, say=lambda m: None)
        dt_s = time.perf_counter() - t0
        prose = " ".join(report_prose(r.paths[0]))
        c = r.check
        row = BenchRow(s, len(c.checks), c.verified, c.rewritten, c.sentences, c.removed,
                       r.unverified, numbers_without_fact(prose, r.book), dt_s, r.verdict.level)  # fmt: skip
        say(f"seed {s}: {row.claims} claims, {row.rewritten} rewritten, {row.removed} sentences "
            f"removed, {row.unverified} unverified, {dt_s:.1f} s")  # fmt: skip
        rows.append(row)
    return rows
