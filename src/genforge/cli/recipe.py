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


@app.command("characters")
@user_errors
def characters_command(
    data: Annotated[
        str | None, typer.Option(help="Folder of character images (with --attributes).")
    ] = None,
    attributes: Annotated[
        Path | None,
        typer.Option(
            help="CSV: a filename column + one categorical column per attribute "
            "(default DATA/attributes.csv)."
        ),
    ] = None,
    demo: Annotated[
        bool, typer.Option(help="Use the embedded procedurally drawn sprites (no data needed).")
    ] = False,
    run: Annotated[
        str | None, typer.Option(help="Evaluate this trained attrgan run instead of training.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Name of the new run.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the report, grids and sprite sheet (default RUN/characters)."
        ),
    ] = None,
    pdf: Annotated[bool, typer.Option(help="Also write the report as PDF.")] = False,
    steps: Annotated[int, typer.Option(help="Training steps.")] = 9000,
    batch_size: Annotated[int, typer.Option(help="Images per training step.")] = 32,
    width: Annotated[int, typer.Option(help="Generator width (ngf).")] = 16,
    d_width: Annotated[int, typer.Option(help="Discriminator width (ndf).")] = 32,
    precision: Annotated[str, typer.Option(help="fp32, bf16 (CPU/GPU) or fp16 (GPU).")] = "bf16",
    image_size: Annotated[int, typer.Option(help="Square image size (folders).")] = 64,
    samples_per_combo: Annotated[
        int, typer.Option(help="Generated images per attribute combination in the evaluation.")
    ] = 4,
    max_combos: Annotated[
        int, typer.Option(help="Evaluate every combination up to this many, else a random subset.")
    ] = 512,
    classifier_steps: Annotated[
        int, typer.Option(help="Training steps of the attribute classifier (the judge).")
    ] = 600,
    seed: Annotated[int, typer.Option(help="Seed for training, judge and samples.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Attribute-conditional characters: train, judge attributes/diversity, editing grid, sheet."""
    from genforge.cli.common import show_progress
    from genforge.recipes.characters import run_characters

    result = run_characters(
        data, attributes, demo=demo, run=run, name=name, out=out, pdf=pdf, steps=steps,
        batch_size=batch_size, width=width, d_width=d_width, precision=precision,
        image_size=image_size,
        samples_per_combo=samples_per_combo, max_combos=max_combos,
        classifier_steps=classifier_steps, seed=seed, device=device, runs_dir=runs_dir,
        progress=show_progress(), log=lambda m: console.print(m, highlight=False),
    )  # fmt: skip
    console.print(f"run: {result.run.path}")
