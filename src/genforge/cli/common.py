"""What every CLI command shares: one-line user errors, the consoles, and passing on only the
options a user gave (the library holds every default, once)."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperCommand

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


# ---------------------------------------------------------------------------------------
# Options: None unless given; the library's signatures and config dataclasses hold defaults
# ---------------------------------------------------------------------------------------


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave (those not None), to pass on as keyword arguments."""
    return {k: v for k, v in options.items() if v is not None}


def default_of(fn: Callable[..., Any], name: str) -> Any:
    """The default of parameter `name` of library function (or class) `fn`, for help texts."""
    return inspect.signature(fn).parameters[name].default


def call_values(fn: Callable[..., Any], **options: Any) -> dict[str, Any]:
    """The values a call of `fn` with the given `options` (None: not given) will use: `fn`'s
    defaults for the named parameters, overridden by those given. For commands that also
    report the values (output names, embedded parameters, messages)."""
    return {k: default_of(fn, k) if v is None else v for k, v in options.items()}


def on_off(value: bool) -> str:
    return "on" if value else "off"


def deferred_help(names: Callable[[], dict[str, Any]]) -> type[TyperCommand]:
    """A command class whose option help texts are filled from `names()` (str.format fields,
    e.g. "{Settings.port}") when the help is shown: for defaults held by a module too heavy to
    import on every start of `genforge`."""

    class Command(TyperCommand):
        filled = False

        def fill_help(self) -> None:
            """Fill the option help texts in (once); the CLI reference of the docs calls it."""
            if not self.filled:
                values = names()
                for p in self.params:
                    if getattr(p, "help", None):
                        p.help = p.help.format(**values)
                self.filled = True

        def format_help(self, ctx: Any, formatter: Any) -> None:
            self.fill_help()
            return super().format_help(ctx, formatter)

    return Command
