"""What every CLI command shares: one-line user errors and the consoles."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from genforge.core.errors import GenforgeError

F = TypeVar("F", bound=Callable[..., Any])

console = Console()


def fail(message: str) -> typer.Exit:
    """Print `error: message` on stderr (one line, never wrapped) and return Exit(1) to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def user_errors(fn: F) -> F:
    """Turn GenforgeError (and OS errors such as a full disk) into one line + exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GenforgeError as e:
            raise fail(str(e)) from None
        except OSError as e:
            where = f" {e.filename}" if getattr(e, "filename", None) else ""
            raise fail(f"{e.strerror or e}{':' if where else ''}{where}") from None

    return wrapper  # type: ignore[return-value]


def show_progress() -> bool:
    """Progress bars on interactive terminals; off in CI logs and pipes."""
    return console.is_terminal and not os.environ.get("CI")
