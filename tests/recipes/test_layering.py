"""Recipes compose the library; nothing but the CLI imports them (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import genforge

SRC = Path(genforge.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_only_the_cli_imports_recipes():
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("recipes", "cli"):
            continue
        if any(m == "genforge.recipes" or m.startswith("genforge.recipes.")
               for m in _imported_modules(path)):  # fmt: skip
            offenders.append(str(rel))
    assert offenders == []
    assert (SRC / "recipes" / "medical" / "recipe.py").exists()  # the scan looks at the real tree
