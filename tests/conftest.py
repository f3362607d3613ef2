"""Suite-wide settings: keep runs out of the repo and torch's thread count small."""

from __future__ import annotations

import pytest
import torch

# Tests run side by side; one thread each keeps a 2-core machine from oversubscribing.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory):
    """One cache of trained domain feature networks per test session (they take seconds)."""
    return tmp_path_factory.mktemp("genforge-cache")


@pytest.fixture(autouse=True)
def _runs_in_tmp(tmp_path, monkeypatch, feature_cache):
    """Every test writes its runs under its own tmp folder unless it says otherwise."""
    monkeypatch.setenv("GENFORGE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("GENFORGE_CACHE", str(feature_cache))
    monkeypatch.setenv("GENFORGE_DOMAIN_STEPS", "60")  # small feature nets; see evaluate/features
    monkeypatch.setenv("CI", "1")  # no progress bars in test output
