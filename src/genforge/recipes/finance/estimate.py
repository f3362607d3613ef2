"""How long finance-report will take here, measured after the data is read: a few training
steps of the stress CTGAN on the real returns table and a batch of its samples (the facts,
the prose and its fact check take seconds)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from genforge.recipes.estimate import Estimate
from genforge.recipes.finance.config import FinanceConfig
from genforge.recipes.finance.stress import returns_table

PROBE_ROWS = 500


def estimate(cfg: FinanceConfig, prices: dict[str, Any]) -> Estimate:
    """Expected seconds of the stress CTGAN's training and sampling."""
    from genforge.train.launch import time_steps

    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "returns.csv"
        returns_table(prices).to_csv(csv, index=False)
        timing = time_steps("ctgan", str(csv), steps=cfg.stress_steps, seed=cfg.seed, **cfg.ctgan)
    est = Estimate()
    est.add(f"stress CTGAN training ({timing.steps:,} steps)", timing.total_seconds)
    t = time.perf_counter()
    with torch.no_grad():
        timing.model.sample(PROBE_ROWS, generator=torch.Generator().manual_seed(0))
    per_row = (time.perf_counter() - t) / PROBE_ROWS
    est.add(f"sampling {cfg.stress_samples:,} days", per_row * cfg.stress_samples)
    return est
