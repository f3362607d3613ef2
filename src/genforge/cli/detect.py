"""`genforge detect PATH...`: generated, real or unknown, for each image and text file, with
the evidence (genforge's marks, a trained detector, zero-shot LM scores)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, fail, user_errors

COLOURS = {"generated": "red", "real": "green", "unknown": "yellow"}


@user_errors
def detect_command(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Image, clip (MP4, WebM) or text files, or folders of them."),
    ],
    detector: Annotated[
        str | None,
        typer.Option(help="A detector run (genforge train detector): P(generated) of images."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="A text run whose green-list watermark to test for.")
    ] = None,
    lm: Annotated[
        str | None,
        typer.Option(
            help="Text: a local LM (text run or transformers folder) for zero-shot scores."
        ),
    ] = None,
    lm2: Annotated[
        str | None,
        typer.Option(help="Text: a second LM with the same tokenizer (Binoculars with --lm)."),
    ] = None,
    text_threshold: Annotated[
        float | None,
        typer.Option(
            help="Text: zero-shot scores below this say generated (measure it on your text)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list: path, verdict, score, evidence.")
    ] = False,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
    db: Annotated[Path | None, typer.Option(help="SQLite file of the server.")] = None,
) -> None:
    """Judge each file: generated, real or unknown, with a score and the evidence behind it.
    No evidence means unknown; a score comes with the error rates its detector measured."""
    from genforge.core.errors import GenforgeError
    from genforge.evaluate.detection import Judge, files_of, judge_files

    if lm2 is not None and lm is None:
        raise GenforgeError("--lm2 goes with --lm (Binoculars compares the two)")
    files_of(paths)  # an empty folder fails here, before any model is loaded
    judge = Judge(store=_store(runs_dir, db), text_threshold=text_threshold)
    if detector is not None:
        from genforge.evaluate.detector import DetectorScorer

        judge.detector = DetectorScorer(_run(detector, runs_dir))
    if model is not None:
        from genforge.generate.text import TextPipeline

        judge.text_run = TextPipeline(_run(model, runs_dir))
    if lm is not None:
        from genforge.evaluate.zeroshot import load_lm

        judge.lm = load_lm(lm, runs_dir)
        judge.lm2 = load_lm(lm2, runs_dir) if lm2 is not None else None
    results = judge_files(judge, paths)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        _print_table(results)
    bad = [r for r in results if r.error is not None]
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise fail(f"{bad[0].path}: {bad[0].error}{more}; the other files were judged")


def _run(ref: str, runs_dir: Path | None):
    from genforge.core.run import resolve_run

    return resolve_run(ref, runs_dir)


def _store(runs_dir: Path | None, db: Path | None):
    """The provenance store of served outputs, when there is one."""
    from genforge.safety.provenance import ProvenanceStore
    from genforge.serve.settings import Settings

    path = Settings(runs_dir=runs_dir, db_path=db).db_path
    return ProvenanceStore(path) if path.exists() else None


def _print_table(results) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table("file", "verdict", "score", "evidence", show_lines=True)
    for r in results:
        colour = COLOURS[r.verdict]
        evidence = [f"[bold]{e.kind}[/]: {escape(e.detail)}" for e in r.evidence]
        if r.error is not None:
            evidence.append(f"[red]could not be judged[/]: {escape(r.error)}")
        table.add_row(
            escape(r.path),
            f"[{colour}]{r.verdict}[/]",
            "—" if r.score is None else f"{r.score:.3f}",
            "\n".join(evidence) or "no evidence either way",
        )
    console.print(table)
