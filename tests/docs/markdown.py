"""Read the commands out of Markdown: fenced blocks, their shell lines, and what each `genforge`
line means to the CLI (its subcommand and options, parsed by the real click command tree)."""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True)
class Command:
    """One shell command of a block: continuation lines joined, comments dropped."""

    text: str
    lineno: int  # 1-based line of the file where the command starts
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class Block:
    """A fenced code block and the heading it sits under."""

    path: Path
    section: str
    lang: str
    lineno: int  # line of the opening fence
    body: str
    commands: tuple[Command, ...] = field(default=())

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.section.lower()).strip("-")
        return f"{slug}-L{self.lineno}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, in order, with shell commands split out."""
    out: list[Block] = []
    section = ""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            h = HEADING.match(lines[i])
            if h:
                section = h.group(2)
            i += 1
            continue
        fence, lang, start = m.group("fence"), m.group("lang"), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        text = "\n".join(body)
        cmds = tuple(shell_commands(text, start + 2)) if lang in {"bash", "sh", "shell"} else ()
        out.append(Block(path, section, lang, start + 1, text, cmds))
    return out


def shell_commands(body: str, first_lineno: int) -> list[Command]:
    """Split a shell block into commands: `\\` continues a line, `#` starts a comment."""
    out: list[Command] = []
    pending, start = "", first_lineno
    for offset, raw in enumerate(body.splitlines()):
        if not pending:
            start = first_lineno + offset
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        tokens = tuple(shlex.split(text, comments=True))
        if tokens:
            out.append(Command(" ".join(tokens), start, tokens))
    return out


def inline_commands(path: Path) -> list[str]:
    """`genforge ...` code spans in the prose of a Markdown file (outside fenced blocks)."""
    text, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            inside = not inside
        elif not inside:
            text.append(line)
    spans = re.findall(r"`(genforge [^`]+)`", "\n".join(text))
    return [" ".join(s.split()) for s in spans]


# ---------------------------------------------------------------------------------------
# The CLI, as click sees it
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    """A parsed `genforge` command line: the subcommand path, its parameters and extra args."""

    path: tuple[str, ...]
    params: dict[str, Any]
    extra: tuple[str, ...]

    @property
    def name(self) -> str:
        return " ".join(self.path)


@functools.cache
def root_command():
    """The click command tree of `genforge` (built once: typer builds it on every call)."""
    import typer

    from genforge.cli.main import app

    return typer.main.get_command(app)


def parse(args: list[str] | tuple[str, ...]) -> Invocation:
    """Resolve `args` (without the leading `genforge`) against the CLI without running it.

    Raises on an unknown command or option, a bad value or a missing required parameter, so a
    stale command in the documentation fails here.
    """
    root = root_command()
    cmd, ctx, path, rest = root, root.context_class(root, info_name="genforge"), [], list(args)
    while hasattr(cmd, "list_commands"):
        sub = cmd.get_command(ctx, rest[0]) if rest else None
        if sub is None:
            known = ", ".join(cmd.list_commands(ctx))
            raise ValueError(f"no command {rest[:1]} under {['genforge', *path]}; known: {known}")
        path.append(rest.pop(0))
        cmd = sub
        ctx = cmd.context_class(cmd, info_name=path[-1], parent=ctx)
    parsed = cmd.make_context(path[-1], rest, parent=ctx.parent)
    return Invocation(tuple(path), dict(parsed.params), tuple(parsed.args))


def parse_loose(args: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Check a command named in prose (placeholders allowed): its subcommand exists and every
    `--option` it names is one of that subcommand's. Returns the subcommand path."""
    root = root_command()
    cmd, ctx, path, rest = root, root.context_class(root, info_name="genforge"), [], list(args)
    while hasattr(cmd, "list_commands"):
        sub = cmd.get_command(ctx, rest[0]) if rest else None
        if sub is None:
            if not rest or rest[0] == "--help":
                return tuple(path)  # a group named on its own
            raise ValueError(f"no command {rest[:1]} under {['genforge', *path]}")
        path.append(rest.pop(0))
        cmd = sub
        ctx = cmd.context_class(cmd, info_name=path[-1], parent=ctx)
    known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
    extra_ok = cmd.context_settings.get("ignore_unknown_options", False)
    for token in rest:
        name = token.split("=", 1)[0]
        if name.startswith("--") and name not in known and not extra_ok:
            raise ValueError(f"genforge {' '.join(path)} has no option {name}")
    return tuple(path)
