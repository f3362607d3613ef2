"""finance-report's options: one typed dataclass holding every default (the CLI reads them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SYNTHETIC = "SYNTHETIC DATA"  # the label on every page, paragraph and plot of the demo market

Say = Callable[[str], None]


@dataclass
class FinanceConfig:
    """Options of one finance report (the CLI's flags)."""

    prices: str | None = None
    fundamentals: str | None = None
    company: str = ""
    out: str = "finance-report.html"
    pdf: bool = False
    demo: bool = False
    seed: int = 0
    demo_days: int = 756  # business days of the demo market (3 years)
    demo_tickers: int = 4  # tickers of the demo market (at most 4)
    lm: str | None = None  # local transformers causal LM folder (writer "lm")
    text_run: str | None = None  # an existing genforge text run (writer "run")
    corpus_sentences: int = 3000
    ngram_n: int = 6
    drafts: int = 3  # completions per opener; the checker keeps the best
    stress_steps: int = 300
    stress_samples: int = 5000
    ctgan: dict[str, Any] = field(default_factory=dict)  # CTGAN overrides (tests: tiny nets)
    runs_dir: str | None = None
    name: str | None = None  # run-name prefix (default: the company / "demo")
