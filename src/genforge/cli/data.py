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
        str,
        typer.Argument(
            help="Image folder or embedded set (digits, phantoms, photos); CSV file or embedded "
            "table (breast_cancer, wine, diabetes); audio folder or tones, spoken-digits."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Counts, sizes, classes, skipped files and why, duplicates (images); column kinds and
    missing values (tables); durations, sample rates and unreadable files (audio)."""
    from genforge.data import inspect_source
    from genforge.data.audio import inspect_audio, is_audio_source
    from genforge.data.table import inspect_table, is_table_source

    if is_table_source(source):
        report = inspect_table(source)
    elif is_audio_source(source):
        report = inspect_audio(source)
    else:
        report = inspect_source(source)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        report.render(console)
