"""MkDocs hook: fill docs/cli.md with the CLI reference, generated from the typer app.

At build time, the marker comment in cli.md is replaced by one section per command, walked from
the click command tree that `typer.main.get_command(genforge.cli.main.app)` returns: its usage
line, help text, arguments and options, exactly as `genforge COMMAND --help` knows them. Nothing
generated is committed; `python docs/hooks/cli_reference.py` prints what the hook would insert.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

MARKER = "<!-- genforge-cli-reference -->"
PAGE = "cli.md"


def command_tree() -> Iterator[tuple[list[str], Any, Any]]:
    """(path, command, context) for `genforge` and every command under it, depth first."""
    import typer

    from genforge.cli.main import app

    root = typer.main.get_command(app)

    def walk(cmd: Any, ctx: Any, path: list[str]) -> Iterator[tuple[list[str], Any, Any]]:
        yield path, cmd, ctx
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is None or getattr(sub, "hidden", False):
                    continue
                yield from walk(
                    sub, sub.context_class(sub, info_name=name, parent=ctx), [*path, name]
                )

    yield from walk(root, root.context_class(root, info_name="genforge"), ["genforge"])


def _text(s: str) -> str:
    """Help text as Markdown: code spans kept, HTML and table/emphasis characters escaped."""
    parts = re.split(r"(`[^`]*`)", " ".join(s.split()))
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            part = html.escape(part, quote=False).replace("*", r"\*").replace("_", r"\_")
        out.append(part.replace("|", r"\|"))
    return "".join(out)


def _anchor(path: list[str]) -> str:
    return "-".join(path)


def _params_table(cmd: Any, ctx: Any, kind: str, title: str) -> list[str]:
    rows = []
    for param in cmd.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None or param.param_type_name != kind:
            continue
        names, help_text = record
        rows.append(f"| `{names}` | {_text(help_text or '')} |")
    if not rows:
        return []
    return [f"| {title} | |", "|---|---|", *rows, ""]


def render() -> str:
    """The reference as Markdown: one section per command, subcommands under their group."""
    lines: list[str] = []
    for path, cmd, ctx in command_tree():
        name = " ".join(path)
        heading = "#" * max(2, len(path))  # genforge and its commands: h2; subcommands: h3
        lines += [f"{heading} `{name}` {{ #{_anchor(path)} }}", ""]
        if cmd.help:
            lines += [_text(cmd.help), ""]
        if hasattr(cmd, "fill_help"):  # cli.common.deferred_help: defaults read when shown
            cmd.fill_help()
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        lines += ["```text", f"{name} {usage}".rstrip(), "```", ""]
        lines += _params_table(cmd, ctx, "argument", "Argument")
        lines += _params_table(cmd, ctx, "option", "Option")
        if hasattr(cmd, "list_commands"):
            subs = [(n, cmd.get_command(ctx, n)) for n in cmd.list_commands(ctx)]
            rows = [
                f"| [`{' '.join([*path, n])}`](#{_anchor([*path, n])}) | "
                f"{_text(sub.get_short_help_str(limit=200))} |"
                for n, sub in subs
                if sub is not None and not getattr(sub, "hidden", False)
            ]
            lines += ["| Command | |", "|---|---|", *rows, ""]
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        from mkdocs.exceptions import PluginError

        raise PluginError(f"{PAGE} lost its marker {MARKER}: the CLI reference has nowhere to go")
    return markdown.replace(MARKER, render())


if __name__ == "__main__":
    print(render())
