"""`genforge watermark ...`: detect watermarks (text here)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, user_errors
from genforge.core.errors import GenforgeError
from genforge.core.run import resolve_run

app = typer.Typer(help="Watermark detection.", no_args_is_help=True)


@app.command("detect-text")
@user_errors
def detect_text_command(
    file: Annotated[Path, typer.Argument(help="Text file to test.")],
    model: Annotated[str, typer.Option(help="The text run that would have generated it.")],
    key: Annotated[int, typer.Option(help="Watermark hashing key used at generation.")] = 15485863,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """z-score and p-value of the green-list watermark (Kirchenbauer et al. 2023)."""
    from genforge.generate.text import TextPipeline, detect_watermark

    if not file.is_file():
        raise GenforgeError(f"no such file: {file}")
    pipe = TextPipeline(resolve_run(model, runs_dir))
    r = detect_watermark(pipe, file.read_text(encoding="utf-8"), key)
    verdict = "[green]watermarked[/]" if r["watermarked"] else "no watermark found"
    console.print(
        f"{verdict}: z = {r['z_score']:.2f}, p = {r['p_value']:.3g}, green fraction "
        f"{r['green_fraction']:.2f} over {int(r['tokens_scored'])} tokens (threshold z > 4)",
        highlight=False,
    )
