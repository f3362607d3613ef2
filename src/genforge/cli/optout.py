"""`genforge optout add FILE...` and `genforge optout list`: the project's opt-out list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, user_errors

app = typer.Typer(
    help="Works never to train on: exact and perceptual hashes in genforge-optout.txt "
    "(or $GENFORGE_OPTOUT).",
    no_args_is_help=True,
)
ListFile = Annotated[
    Path | None,
    typer.Option(
        "--list", help="The opt-out list (default genforge-optout.txt or $GENFORGE_OPTOUT)."
    ),
]


@app.command("add")
@user_errors
def add_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to opt out.")],
    list_file: ListFile = None,
) -> None:
    """Add the sha256 of each file (and the perceptual hash of each image) to the list;
    training then skips these files and near-copies of the images."""
    from genforge.data.governance import add_optout

    where, added = add_optout(paths, list_file)
    console.print(f"{added} hash{'es' if added != 1 else ''} added to {where}")


@app.command("list")
@user_errors
def list_command(list_file: ListFile = None) -> None:
    """Show the opt-out list: each hash and the file it was taken from."""
    from rich.markup import escape

    from genforge.data.governance import load_optout

    optout = load_optout(list_file)
    if not optout:
        console.print(f"the opt-out list {optout.path} is empty or missing")
        return
    console.print(f"{optout.path}: {len(optout.sha256)} exact, {len(optout.phash)} perceptual")
    for line in Path(optout.path).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            console.print(f"  {escape(line.strip())}")
