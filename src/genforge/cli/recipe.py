"""`genforge recipe NAME`: vertical workflows (medical augmentation, finance reports, characters).

Each command is thin: parse options, call `genforge.recipes.<name>.run(...)`, print where the
report and the Run are. One section per recipe below, in this order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, user_errors

app = typer.Typer(
    help="Vertical recipes: one command from data to a report with a verdict and a normal Run.",
    no_args_is_help=True,
)

# --- medical-augment ------------------------------------------------------------------------


# --- finance-report -------------------------------------------------------------------------


@app.command("finance-report")
@user_errors
def finance_report(
    prices: Annotated[
        Path | None,
        typer.Option(
            help="Prices CSV, long form: date,ticker,close[,open,high,low,volume] "
            "(ticker may be left out for one series)."
        ),
    ] = None,
    fundamentals: Annotated[
        Path | None,
        typer.Option(
            help="Fundamentals CSV: ticker,period,revenue,net_income,eps,book_value,"
            "shares,debt,equity (any subset)."
        ),
    ] = None,
    company: Annotated[
        str,
        typer.Option(
            help="Company name for the title (and the ticker of a file without a ticker column)."
        ),
    ] = "",
    out: Annotated[Path, typer.Option(help="Report file (.html).")] = Path("finance-report.html"),
    pdf: Annotated[bool, typer.Option(help="Also write the report as PDF.")] = False,
    demo: Annotated[bool, typer.Option(help="Use the embedded SYNTHETIC market.")] = False,
    seed: Annotated[int, typer.Option(help="Seed (demo market, writer, CTGAN).")] = 0,
    lm: Annotated[
        str | None,
        typer.Option(
            help="Local transformers causal LM folder to "
            "write the prose (default: train an n-gram)."
        ),
    ] = None,
    text_run: Annotated[
        str | None, typer.Option(help="An existing genforge text run to write the prose.")
    ] = None,
    drafts: Annotated[
        int, typer.Option(help="Drafts per sentence; the checker keeps the best.")
    ] = 3,
    stress_steps: Annotated[int, typer.Option(help="CTGAN training steps.")] = 300,
    stress_samples: Annotated[int, typer.Option(help="Synthetic days to sample.")] = 5000,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Facts, plots, fact-checked prose and SYNTHETIC stress scenarios from price data."""
    from genforge.recipes.finance import FinanceConfig, run

    cfg = FinanceConfig(
        prices=str(prices) if prices else None,
        fundamentals=str(fundamentals) if fundamentals else None,
        company=company, out=str(out), pdf=pdf, demo=demo, seed=seed, lm=lm, text_run=text_run,
        drafts=drafts, stress_steps=stress_steps, stress_samples=stress_samples,
        runs_dir=str(runs_dir) if runs_dir else None,
    )  # fmt: skip
    result = run(cfg, say=lambda m: console.print(m, markup=False, highlight=False))
    v = result.verdict
    word = {"ok": "PASS", "warn": "CAUTION", "bad": "FAIL"}[v.level]
    console.print(f"{word}: {v.headline}", markup=False, highlight=False)


# --- characters -----------------------------------------------------------------------------
