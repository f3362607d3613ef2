"""The import rules of genforge's layers, checked on the source tree (not on what happens to be
imported at run time), so a function-local or TYPE_CHECKING import counts like any other.

    core -> data, safety -> models -> train, generate -> evaluate -> api -> serve
         -> bench, recipes -> cli -> the top-level package

A module may import its own package and packages of a LOWER layer only: nothing imports
upward, and packages on the same layer do not import each other. Modules must form no import
cycle, and no module imports a `_private` name from another module.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

LAYERS: dict[str, int] = {
    "core": 0,
    "data": 1,
    "safety": 1,
    "models": 2,
    "train": 3,
    "generate": 3,
    "evaluate": 4,
    "api": 5,
    "serve": 6,
    "bench": 7,
    "recipes": 7,
    "cli": 8,
    "": 9,  # the top-level package (genforge/__init__.py)
}


@dataclass
class Report:
    upward: list[str] = field(default_factory=list)
    cycles: list[list[str]] = field(default_factory=list)
    private: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # packages missing from LAYERS

    def problems(self) -> list[str]:
        return [
            *(f"upward import: {u}" for u in self.upward),
            *(f"import cycle: {' -> '.join(c)}" for c in self.cycles),
            *(f"private import: {p}" for p in self.private),
            *(f"package without a layer: {u}" for u in self.unknown),
        ]


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package at `root`."""
    out = {}
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = p
    return out


def _resolve(mod: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(mods: dict[str, Path], top: str) -> tuple[dict[str, set[str]], list[str]]:
    """(module -> modules it imports, private-name imports across modules)."""
    edges: dict[str, set[str]] = {}
    private: list[str] = []
    for mod, path in mods.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(mod, path, node)
                if target != top and not target.startswith(top + "."):
                    continue
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    if full in mods:
                        deps.add(full)
                    elif target in mods:
                        deps.add(target)
                        name = alias.name
                        if name.startswith("_") and not name.startswith("__") and target != mod:
                            private.append(f"{mod} imports {target}.{name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in mods:
                        deps.add(alias.name)
        deps.discard(mod)
        edges[mod] = deps
    return edges, private


def package_of(mod: str, top: str) -> str:
    """genforge.data.text -> "data"; genforge.api -> "api"; genforge -> ""."""
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


def cycles(edges: dict[str, set[str]], mods: dict[str, Path]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), ignoring those made
    only by a package's __init__ importing its own children."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            real = [m for m in comp if mods[m].name != "__init__.py"]
            if len(real) > 1:
                found.append(sorted(real))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def check(root: Path) -> Report:
    """Every rule, on the package whose folder is `root` (e.g. src/genforge)."""
    import sys

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    top = root.name
    mods = modules(root)
    edges, private = imports(mods, top)
    report = Report(private=private)
    for mod, deps in sorted(edges.items()):
        here = package_of(mod, top)
        if here not in LAYERS:
            report.unknown.append(here)
            continue
        for dep in sorted(deps):
            there = package_of(dep, top)
            if there == here or there not in LAYERS:
                continue
            if LAYERS[there] >= LAYERS[here] and here != "":
                report.upward.append(f"{mod} ({here}) imports {dep} ({there})")
    report.unknown = sorted(set(report.unknown))
    report.cycles = cycles(edges, mods)
    return report
