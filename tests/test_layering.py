"""genforge's layers hold: no upward import, no import cycle, no private name imported from
another module (rules in tests/layering.py); and the checker itself catches each kind of
violation, planted in a copy of the source tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import genforge
from layering import LAYERS, check

SRC = Path(genforge.__file__).parent


def test_the_package_follows_its_layers():
    report = check(SRC)
    assert report.problems() == []
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(LAYERS), "every package has a layer"
    assert {"data", "models", "train", "evaluate", "serve", "cli"} <= packages  # the real tree


def test_only_the_cli_imports_recipes():
    report = check(SRC)
    assert not [u for u in report.upward if "(recipes)" in u.split(" imports ")[1]]
    users = {
        line.split(" ")[0]
        for line in _all_imports_of(SRC, "genforge.recipes")
        if not line.startswith(("genforge.recipes", "genforge.cli"))
    }
    assert users == set()


def _all_imports_of(root: Path, prefix: str) -> list[str]:
    from layering import imports, modules

    edges, _ = imports(modules(root), root.name)
    return [f"{m} imports {d}" for m, deps in edges.items() for d in deps if d.startswith(prefix)]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the source tree to plant violations in."""
    root = tmp_path / "genforge"
    shutil.copytree(SRC, root, ignore=shutil.ignore_patterns("__pycache__", "static", "*.j2"))
    assert check(root).problems() == []
    return root


def _plant(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n\ndef _planted():\n    {line}\n")


def test_an_upward_import_is_caught(tree: Path):
    _plant(tree / "data" / "text.py", "from genforge.train.trainer import Trainer  # noqa")
    report = check(tree)
    assert report.upward == ["genforge.data.text (data) imports genforge.train.trainer (train)"]


def test_an_import_between_packages_of_one_layer_is_caught(tree: Path):
    _plant(tree / "generate" / "table.py", "from genforge.train import loop  # noqa")
    assert any("genforge.generate.table (generate) imports genforge.train" in u
               for u in check(tree).upward)  # fmt: skip


def test_an_import_cycle_is_caught(tree: Path):
    # both directions inside one package: no layer rule breaks, only the cycle rule
    _plant(tree / "core" / "errors.py", "from genforge.core.run import Run  # noqa")
    report = check(tree)
    assert report.upward == []
    assert any("genforge.core.errors" in c and "genforge.core.run" in c for c in report.cycles)


def test_a_private_import_is_caught(tree: Path):
    _plant(tree / "models" / "gan.py", "from genforge.data.dataset import _LUMA  # noqa")
    assert check(tree).private == ["genforge.models.gan imports genforge.data.dataset._LUMA"]


def test_a_package_without_a_layer_is_caught(tree: Path):
    (tree / "video").mkdir()
    (tree / "video" / "__init__.py").write_text("")
    assert check(tree).unknown == ["video"]
