"""The CLI holds no defaults: every option that takes a value defaults to None, and a command
passes on only the options a user gave, so the library (a function's keyword default or a config
dataclass) holds each default once. `genforge recipe ...` and `genforge bench ...` are checked
with their own commands."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from genforge.cli.main import app

CHECKED_ELSEWHERE = {"recipe", "bench"}


def commands(cmd, path=()):
    """(path, command) for every leaf command under `cmd`."""
    subs = getattr(cmd, "commands", None)
    if not subs:
        yield path, cmd
        return
    for name, sub in subs.items():
        if not path and name in CHECKED_ELSEWHERE:
            continue
        yield from commands(sub, (*path, name))


def test_every_option_that_takes_a_value_defaults_to_none():
    found = list(commands(typer.main.get_command(app)))
    assert len(found) > 20, [" ".join(p) for p, _ in found]
    restated = [
        f"genforge {' '.join(path)} --{p.name.replace('_', '-')} (default {p.default!r})"
        for path, cmd in found
        for p in cmd.params
        if type(p).__name__ == "TyperOption" and not p.is_flag and p.default is not None
    ]
    assert not restated, (
        "options restating a library default (default them to None and pass on only the "
        "options given):\n" + "\n".join(restated)
    )


def test_serve_help_names_the_settings_defaults():
    """genforge serve's help reads its defaults from Settings when it is shown (importing the
    server on every start of genforge would slow every command)."""
    from genforge.serve.settings import Settings

    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "{S." not in result.output and "{batching}" not in result.output
    text = " ".join(result.output.split())
    assert f"Port (default {Settings.port})" in text
    assert f"(default {Settings.host})" in text
    assert f"(default {Settings.rate_limit_per_min})" in text
