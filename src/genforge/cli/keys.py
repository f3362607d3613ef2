"""`genforge keys create|revoke|list`: API keys for `genforge serve` (stored hashed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, user_errors

app = typer.Typer(help="API keys for genforge serve.", no_args_is_help=True)

KeysFile = Annotated[Path | None, typer.Option(help="Keys file (default <runs>/.serve/keys.json).")]
RunsDir = Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")]


def _store(keys_file: Path | None, runs_dir: Path | None):
    from genforge.serve.auth import KeyStore, default_keys_path

    return KeyStore(keys_file or default_keys_path(runs_dir))


@app.command("create")
@user_errors
def create_command(
    name: Annotated[str, typer.Option(help="Who the key is for.")],
    keys_file: KeysFile = None,
    runs_dir: RunsDir = None,
) -> None:
    """Create a key; it is printed once (only its salted hash is stored)."""
    store = _store(keys_file, runs_dir)
    secret = store.create(name)
    console.print(
        f"key for [bold]{name}[/] (shown once; stored hashed in {store.path}; a genforge "
        "serve using this file requires keys from its next request):"
    )
    typer.echo(secret)


@app.command("revoke")
@user_errors
def revoke_command(
    name: Annotated[str, typer.Argument(help="The key's name.")],
    keys_file: KeysFile = None,
    runs_dir: RunsDir = None,
) -> None:
    """Revoke a key (takes effect on the next request)."""
    _store(keys_file, runs_dir).revoke(name)
    console.print(f"revoked {name}")


@app.command("list")
@user_errors
def list_command(keys_file: KeysFile = None, runs_dir: RunsDir = None) -> None:
    """List key names."""
    names = _store(keys_file, runs_dir).names()
    typer.echo("\n".join(names) if names else "no keys")
