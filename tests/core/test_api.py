"""`genforge.load` on runs it cannot open: one-line errors, never a bare KeyError."""

from __future__ import annotations

import pytest

import genforge
from genforge.core.errors import GenforgeError
from genforge.core.run import Run


def test_a_run_without_a_checkpoint_is_a_one_line_error(tmp_path):
    run = Run(tmp_path / "fresh")
    run.path.mkdir()
    run.write_config({"name": "fresh", "model": "dcgan", "modality": "image"})
    with pytest.raises(GenforgeError, match="run 'fresh' has no checkpoint yet; train it first"):
        genforge.load(run)


def test_a_run_of_an_unknown_model_is_a_one_line_error(tmp_path):
    run = Run(tmp_path / "alien")
    run.path.mkdir()
    run.write_config({"name": "alien", "model": "stylegan9", "modality": "image"})
    (run.path / "model").mkdir()
    (run.path / "model" / "meta.json").write_text('{"step": 1}')
    with pytest.raises(GenforgeError, match="uses model 'stylegan9', which is not registered"):
        genforge.load(run)


def test_a_missing_run_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GENFORGE_RUNS", str(tmp_path))
    with pytest.raises(GenforgeError, match="nope"):
        genforge.load("nope")
