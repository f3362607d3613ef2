"""The README is a short user guide and docs/ builds as a site: `mkdocs build --strict` passes
(no broken link or anchor, every page in the nav, the CLI reference generated), every command
the pages show still exists, and every measured table outside benchmarks.md is also in it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .markdown import DOCS, README, REPO, blocks, inline_commands, parse, parse_loose

PAGES = sorted(DOCS.rglob("*.md"))
MAX_README_LINES = 350


def test_site_builds_strict_with_the_generated_cli_reference(tmp_path: Path):
    pytest.importorskip("mkdocs", reason="mkdocs is a dev extra: pip install -e '.[dev]'")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.yml", "-d", site],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cli_page = (site / "cli" / "index.html").read_text(encoding="utf-8")
    assert "genforge-cli-reference" not in cli_page  # the hook replaced its marker
    from .markdown import root_command

    root = root_command()
    ctx = root.context_class(root, info_name="genforge")
    for name in root.list_commands(ctx):
        assert f'id="genforge-{name}"' in cli_page, f"genforge {name} is not in the CLI reference"
    assert 'id="genforge-recipe-medical-augment"' in cli_page
    assert "--target-per-class" in cli_page
    assert not (site / "hooks").exists()


def test_readme_is_a_short_guide():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_README_LINES
    # no measurements: speed figures and tables of results live in docs/benchmarks.md
    speed = re.search(r"\d[\d.,]*\s*(images/s|req/s|tokens/s|ms/step|GFLOP|steps/s)", text)
    assert speed is None, speed
    for table in tables(README):
        assert not measured(table), table[0]


def test_readme_starts_with_the_two_setup_commands():
    text = README.read_text(encoding="utf-8")
    first = next(b for b in blocks(README) if b.commands)
    assert [c.text for c in first.commands[:2]] == ["make demo", "make test"]
    before = text.split("```", 1)[0]
    assert not re.search(r"`(genforge|make|pip|python|curl)\b", before), "a command before setup"


def test_readme_links_stay_in_the_repository():
    text = README.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)]+)\)", text):
        if re.match(r"[a-z]+://|#|mailto:", target):
            continue
        path = target.split("#")[0]
        resolved = (REPO / path).resolve()
        assert resolved.is_relative_to(REPO), f"README links outside the repository: {target}"
        assert resolved.exists(), f"README links to a missing file: {target}"
    assert "shared/" not in text


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(REPO)))
def test_every_command_shown_exists(page: Path):
    """Each `genforge` line of a shell block parses against the CLI (subcommand, options, value
    types); a command named in prose names a real subcommand and real options; a script a
    block runs is in the repository."""
    for block in blocks(page):
        for cmd in block.commands:
            tokens = list(cmd.tokens)
            while tokens and re.fullmatch(r"[A-Z_]+=\S*", tokens[0]):
                tokens.pop(0)  # OMP_NUM_THREADS=1 genforge ...
            if tokens[0] == "genforge":
                try:
                    parse(tokens[1:])
                except Exception as e:  # a stale command: say where
                    pytest.fail(f"{page.name}:{cmd.lineno}: {cmd.text}: {e}")
            elif tokens[0] == "python" and tokens[1].endswith(".py"):
                assert (REPO / tokens[1]).exists(), f"{page.name}:{cmd.lineno}: {tokens[1]}"
    for span in inline_commands(page):
        try:
            parse_loose(shlex.split(span)[1:])
        except ValueError as e:
            pytest.fail(f"{page.name}: `{span}`: {e}")


def test_source_files_named_exist():
    """A `path/to/file.py` the pages name is in the repository (from its root or src/genforge)."""
    missing = []
    for page in [README, *PAGES]:
        for name in sorted(set(re.findall(r"`([\w./-]+\.py)`", page.read_text(encoding="utf-8")))):
            if not any((base / name).exists() for base in (REPO, REPO / "src" / "genforge")):
                missing.append(f"{page.relative_to(REPO)}: {name}")
    assert not missing, missing


# ---------------------------------------------------------------------------------------
# Measured tables: benchmarks.md has them all
# ---------------------------------------------------------------------------------------


def tables(path: Path) -> list[list[str]]:
    """The Markdown tables of a file outside code blocks, as lists of stripped row lines."""
    out: list[list[str]] = []
    current: list[str] = []
    inside = False
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.lstrip().startswith("```"):
            inside = not inside
        row = line.strip()
        if not inside and row.startswith("|"):
            current.append(row)
        elif current:
            out.append(current)
            current = []
    return out


def measured(table: list[str]) -> bool:
    """A table of results: some cell holds a decimal figure or a percentage."""
    body = "\n".join(table[2:])
    return re.search(r"\d\.\d|\d ?%", body) is not None


@pytest.mark.parametrize(
    "page", [p for p in PAGES if p.name != "benchmarks.md"], ids=lambda p: p.name
)
def test_measured_tables_are_in_benchmarks(page: Path):
    bench = "\n".join(row for t in tables(DOCS / "benchmarks.md") for row in t)
    for table in filter(measured, tables(page)):
        missing = [row for row in table if row not in bench]
        assert not missing, f"{page.name}: rows not in benchmarks.md: {missing[:3]}"
