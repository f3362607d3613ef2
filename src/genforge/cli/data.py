"""`genforge data inspect PATH`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from genforge.cli.common import console, user_errors

app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)


@app.command("inspect")
@user_errors
def inspect_command(
    source: Annotated[
        str, typer.Argument(help="Image folder or embedded set (digits, phantoms, photos).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Counts, sizes, classes, skipped files and why, duplicates."""
    from genforge.data import inspect_source

    report = inspect_source(source)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        report.render(console)
