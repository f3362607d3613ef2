"""Gaussian copula: it learns the dependence between columns and keeps their marginals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from genforge.generate.table import TablePipeline
from genforge.train.launch import train


def test_copula_learns_a_correlation(tmp_path: Path):
    rng = np.random.default_rng(0)
    z = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], 300)
    df = pd.DataFrame({"x": np.exp(z[:, 0]), "y": z[:, 1] * 10 + 50})  # skewed + shifted
    csv = tmp_path / "pair.csv"
    df.to_csv(csv, index=False)
    run = train("copula", str(csv), runs_dir=tmp_path / "runs", steps=150, batch_size=100)
    syn = TablePipeline(run).sample(2000, seed=0)
    rho = np.corrcoef(np.log(syn["x"]), syn["y"])[0, 1]
    assert (
        0.65 < rho < 0.95
    )  # the real 0.8, learned by maximum likelihood (an untrained R = I gives 0)
    assert syn["x"].min() >= df["x"].min() and syn["x"].max() <= df["x"].max()
    assert abs(syn["y"].median() - df["y"].median()) < 2.0
