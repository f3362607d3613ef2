"""Suite-wide settings: keep runs out of the repo and torch's thread count small."""

from __future__ import annotations

import pytest
import torch

# Tests run side by side; one thread each keeps a 2-core machine from oversubscribing.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _runs_in_tmp(tmp_path, monkeypatch):
    """Every test writes its runs under its own tmp folder unless it says otherwise."""
    monkeypatch.setenv("GENFORGE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CI", "1")  # no progress bars in test output
