"""`genforge watermark detect FILE`: which run made this image or clip, when, with which parameters;
`genforge watermark detect-text FILE --model RUN`: the green-list watermark of a text run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, default_of, given, user_errors
from genforge.core.run import resolve_run
from genforge.generate.text import detect_watermark

app = typer.Typer(help="Watermarks and provenance of generated outputs.", no_args_is_help=True)


@app.command("detect")
@user_errors
def detect_command(
    file: Annotated[Path, typer.Argument(help="An image (PNG, JPEG, ...) or a clip (MP4, WebM).")],
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
    db: Annotated[Path | None, typer.Option(help="SQLite file of the server.")] = None,
) -> None:
    """Report the run id, time, parameters and evidence, or "no genforge watermark"."""
    from genforge.core.errors import GenforgeError
    from genforge.safety.detect import detect
    from genforge.safety.provenance import ProvenanceStore
    from genforge.serve.settings import Settings

    if not file.is_file():
        raise GenforgeError(f"no such file: {file}")
    settings = Settings(runs_dir=runs_dir, db_path=db)
    if not settings.db_path.exists():
        typer.echo(f"no genforge watermark (no provenance store at {settings.db_path})")
        return
    result = detect(file.read_bytes(), ProvenanceStore(settings.db_path))
    typer.echo(result.message)
    if result.record is not None:
        r = result.record
        typer.echo(f"  run        {r.run}")
        typer.echo(f"  created    {r.created} by {r.who}")
        typer.echo(f"  parameters {json.dumps(r.params, sort_keys=True)}")
        if result.ties and result.ties > 1:
            typer.echo(
                f"  note       {result.ties} outputs are equally close: the match is ambiguous"
            )


@app.command("detect-text")
@user_errors
def detect_text_command(
    file: Annotated[Path, typer.Argument(help="Text file to test.")],
    model: Annotated[str, typer.Option(help="The text run that would have generated it.")],
    key: Annotated[
        int | None,
        typer.Option(
            help="Watermark hashing key used at generation (default "
            f"{default_of(detect_watermark, 'key')})."
        ),
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """z-score and p-value of the green-list watermark (Kirchenbauer et al. 2023)."""
    from genforge.core.errors import GenforgeError
    from genforge.generate.text import TextPipeline

    if not file.is_file():
        raise GenforgeError(f"no such file: {file}")
    pipe = TextPipeline(resolve_run(model, runs_dir))
    r = detect_watermark(pipe, file.read_text(encoding="utf-8"), **given(key=key))
    verdict = "[green]watermarked[/]" if r["watermarked"] else "no watermark found"
    console.print(
        f"{verdict}: z = {r['z_score']:.2f}, p = {r['p_value']:.3g}, green fraction "
        f"{r['green_fraction']:.2f} over {int(r['tokens_scored'])} tokens (threshold z > 4)",
        highlight=False,
    )
