"""genforge.bench sits above serve and below recipes and the CLI: it imports neither recipes
nor cli, and nothing below it imports it (ARCHITECTURE.md's layers)."""

from __future__ import annotations

import ast
from pathlib import Path

import genforge

SRC = Path(genforge.__file__).parent
OLD_HOMES = ["train/bench.py", "train/bench_text.py", "train/bench_audio_table.py",
             "serve/bench.py", "generate/bench.py"]  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def imports(path: Path, package: str) -> bool:
    return any(m == package or m.startswith(package + ".") for m in imported_modules(path))


def test_bench_imports_neither_recipes_nor_cli():
    files = sorted((SRC / "bench").rglob("*.py"))
    assert len(files) >= 8  # the scan looks at the real package
    offenders = [
        f"{p.relative_to(SRC)} imports {layer}"
        for p in files
        for layer in ("genforge.recipes", "genforge.cli")
        if imports(p, layer)
    ]
    assert offenders == []


def test_only_the_cli_imports_bench():
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("bench", "cli", "recipes"):
            continue
        if imports(path, "genforge.bench"):
            offenders.append(str(rel))
    assert offenders == []


def test_the_benchmarks_left_their_old_homes():
    assert [p for p in OLD_HOMES if (SRC / p).exists()] == []
    assert (SRC / "bench" / "train.py").exists()
