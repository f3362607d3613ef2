"""`genforge data inspect PATH`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from genforge.cli.common import console, default_of, given, user_errors
from genforge.data.text import inspect_text

app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)


@app.command("inspect")
@user_errors
def inspect_command(
    source: Annotated[
        str,
        typer.Argument(
            help="Image folder or embedded set (digits, phantoms, photos); CSV file or embedded "
            "table (breast_cancer, wine, diabetes); audio folder or tones, spoken-digits; text: "
            "a folder of .txt/.md, a .jsonl/.txt file (or a .csv with --column), pydoc."
        ),
    ],
    field: Annotated[
        str | None,
        typer.Option(
            help="Text .jsonl: the field holding the text (default "
            f"{default_of(inspect_text, 'field')})."
        ),
    ] = None,
    column: Annotated[
        str | None, typer.Option(help="Text .csv: the column holding the text (else: a table).")
    ] = None,
    tokenizer: Annotated[
        str | None,
        typer.Option(
            help="Text: count tokens with char, bpe or a tokenizer folder (default "
            f"{default_of(inspect_text, 'tokenizer')})."
        ),
    ] = None,
    vocab: Annotated[
        int | None,
        typer.Option(
            help=f"Text: BPE vocabulary size (default {default_of(inspect_text, 'vocab')})."
        ),
    ] = None,
    pairs: Annotated[
        bool,
        typer.Option(
            "--pairs",
            help="Read SOURCE as translation/summarisation pairs (found without it: "
            "country-names:SRC-TGT, pydoc-summaries, src.txt,tgt.txt, and a .tsv/.csv/.jsonl "
            "that names source and target).",
        ),
    ] = False,
    source_lang: Annotated[
        str | None, typer.Option(help="Pairs: the source language, for the script filter.")
    ] = None,
    target_lang: Annotated[
        str | None, typer.Option(help="Pairs: the target language, for the script filter.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Counts, sizes, classes, skipped files and why, duplicates (images); column kinds and
    missing values (tables); durations, sample rates and unreadable files (audio); durations, frame rates, sizes,
    rotations and unreadable files (video); documents,
    characters, tokens, exact/near duplicates and PII found (text); pairs kept, dropped per
    reason, PII scrubbed and the split by source (text pairs, as a seq2seq run's
    data_report.json holds it)."""
    from genforge.data import inspect_source
    from genforge.data.audio import inspect_audio, is_audio_source
    from genforge.data.governance import inspect_datasheet
    from genforge.data.table import inspect_table, is_table_source
    from genforge.data.text import looks_like_text
    from genforge.data.text_pairs import inspect_pairs, looks_like_pairs
    from genforge.data.video import inspect_video, is_video_source

    if pairs or (column is None and looks_like_pairs(source)):
        langs = given(source_lang=source_lang, target_lang=target_lang)
        report = inspect_pairs(source, **langs)
    elif is_table_source(source) and column is None:
        report = inspect_table(source)
    elif is_audio_source(source):
        report = inspect_audio(source)
    elif is_video_source(source):
        report = inspect_video(source)
    elif looks_like_text(source) or column is not None:
        options = given(field=field, column=column or None, tokenizer=tokenizer, vocab=vocab)
        report = inspect_text(source, **options)
    else:
        report = inspect_source(source)
    sheet, where = inspect_datasheet(source)
    if sheet is None:  # on stderr, so --json stays parseable
        typer.echo(f"warning: {where}", err=True)
    if as_json:
        d = {**report.to_dict(), "datasheet": None if sheet is None else sheet.to_dict()}
        typer.echo(json.dumps(d, indent=2))
        return
    report.render(console)
    if sheet is not None:
        _render_sheet(sheet, where)


def _render_sheet(sheet, where: str) -> None:
    from rich.markup import escape

    console.print(f"[bold]{escape(where)}[/]")
    for k, v in sheet.to_dict().items():
        if k != "path" and v not in (None, []):
            console.print(f"  {k}: {escape(str(v))}")
