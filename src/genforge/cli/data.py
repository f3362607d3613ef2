"""`genforge data inspect PATH` for image folders/sets and text corpora."""

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
            help="Image folder or embedded set (digits, phantoms, photos); or text: a folder of "
            ".txt/.md, a .jsonl/.csv/.txt file, pydoc."
        ),
    ],
    field: Annotated[str, typer.Option(help="Text .jsonl: the field holding the text.")] = "text",
    column: Annotated[str, typer.Option(help="Text .csv: the column holding the text.")] = "text",
    tokenizer: Annotated[
        str, typer.Option(help="Text: count tokens with char, bpe or a tokenizer folder.")
    ] = "bpe",
    vocab: Annotated[int, typer.Option(help="Text: BPE vocabulary size.")] = 4096,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Images: counts, sizes, classes, skipped files, duplicates. Text: documents, characters,
    tokens, duplicates (exact and near), PII found, skipped files."""
    from genforge.data.text import looks_like_text

    if looks_like_text(source):
        from genforge.data.text import inspect_text

        report = inspect_text(source, field=field, column=column, tokenizer=tokenizer, vocab=vocab)
    else:
        from genforge.data import inspect_source

        report = inspect_source(source)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        report.render(console)
