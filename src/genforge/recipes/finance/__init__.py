"""finance-report: prices (+ fundamentals) -> facts, plots, fact-checked prose, SYNTHETIC stress
scenarios -> one report with a verdict (`genforge recipe finance-report`).

    config.py     FinanceConfig: every option and its default
    data.py       price / fundamentals CSVs, or the embedded synthetic market
    facts.py      the facts of each ticker (number, unit, display precision) and its plots
    prose.py      the writer (an n-gram Run trained here, a text run or a local LM) and drafts
    factcheck.py  every number and direction word verified, rewritten or its sentence removed
    stress.py     a CTGAN Run on the daily returns: SYNTHETIC stress scenarios
    report.py     the report's sections (templates/report.html.j2) and verdict
    recipe.py     `run`: the six steps
    bench.py      `genforge bench finance-report`: many seeded demo reports
"""

from genforge.recipes.finance.bench import BenchRow, bench_reports, numbers_without_fact
from genforge.recipes.finance.config import SYNTHETIC, FinanceConfig
from genforge.recipes.finance.recipe import FinanceResult, load_market, run
from genforge.recipes.finance.report import CHECK_METHOD, recheck_report, report_prose, verdict_of

__all__ = [
    "CHECK_METHOD",
    "SYNTHETIC",
    "BenchRow",
    "FinanceConfig",
    "FinanceResult",
    "bench_reports",
    "load_market",
    "numbers_without_fact",
    "recheck_report",
    "report_prose",
    "run",
    "verdict_of",
]
