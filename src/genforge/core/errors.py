"""User-facing errors.

A `GenforgeError` is a mistake the user can fix (bad path, unknown name, bad value). The CLI
prints its message as one line and exits non-zero, without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class GenforgeError(Exception):
    """An error caused by user input; its message says what is wrong and how to fix it."""


def unknown_choice(kind: str, name: str, known: Iterable[str]) -> GenforgeError:
    """Build the standard "unknown X 'y'; known: a, b, c" error."""
    return GenforgeError(f"unknown {kind} '{name}'; known: {', '.join(sorted(known))}")
