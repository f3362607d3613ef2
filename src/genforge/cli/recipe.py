"""`genforge recipe NAME`: vertical workflows (medical augmentation, finance reports, characters).

Each command is thin: parse options, call `genforge.recipes.<name>.run(...)`, print where the
report and the Run are. One section per recipe below, in this order.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Vertical recipes: one command from data to a report with a verdict and a normal Run.",
    no_args_is_help=True,
)

# --- medical-augment ------------------------------------------------------------------------


# --- finance-report -------------------------------------------------------------------------


# --- characters -----------------------------------------------------------------------------
