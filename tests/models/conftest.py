"""Shared small data for the table and audio model tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def shop_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 rows: a numeric column, a fixed country/city pairing, a 0/1 label, an ID."""
    rng = np.random.default_rng(0)
    n = 40
    country = rng.choice(["DE", "FR"], n)
    city = {"DE": ["Berlin", "Munich"], "FR": ["Paris", "Lyon"]}
    df = pd.DataFrame({
        "order_id": np.arange(n),
        "amount": np.round(np.exp(rng.normal(3, 1, n)), 2),
        "country": country,
        "city": [rng.choice(city[c]) for c in country],
        "fraud": rng.choice([0, 1], n, p=[0.7, 0.3]),
    })  # fmt: skip
    path = tmp_path_factory.mktemp("tables") / "shop.csv"
    df.to_csv(path, index=False)
    return path
