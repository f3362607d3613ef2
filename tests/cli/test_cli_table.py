"""`genforge train/sample/data inspect` on tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .conftest import Cli

TINY = ["--set", "latent_dim=8", "--set", "generator_dim=[16]", "--set", "critic_dim=[16]",
        "--set", "pac=2", "--batch-size", "10"]  # fmt: skip


def write_csv(path: Path, n: int = 30) -> Path:
    rng = np.random.default_rng(0)
    pd.DataFrame({
        "id": np.arange(n), "amount": rng.gamma(2, 10, n).round(2),
        "kind": rng.choice(["card", "cash"], n), "day": pd.date_range("2024-01-01", periods=n),
    }).to_csv(path, index=False)  # fmt: skip
    return path


def test_train_sample_inspect_a_csv(cli: Cli, tmp_path: Path):
    csv = write_csv(tmp_path / "tx.csv")
    out = cli.ok("data", "inspect", csv).stdout
    assert "excluded from learning" in out and "datetime" in out
    cli.ok("train", "ctgan", "--data", csv, "--epochs", "1", "--name", "tx", *TINY)
    cli.ok("sample", "tx", "--n", "50", "--out", tmp_path / "syn.csv")
    syn = pd.read_csv(tmp_path / "syn.csv")
    assert len(syn) == 50 and list(syn.columns) == ["id", "amount", "kind", "day"]
    assert syn["kind"].isin(["card", "cash"]).all()
    assert "must end in .csv" in cli.fails("sample", "tx", "--out", tmp_path / "syn.png")


def test_bad_tables_are_one_line_errors(cli: Cli, tmp_path: Path):
    one = tmp_path / "one.csv"
    pd.DataFrame({"a": [1], "b": ["x"]}).to_csv(one, index=False)
    assert "the table has 1 row" in cli.fails("train", "tvae", "--data", one)
    nan = write_csv(tmp_path / "nan.csv")
    pd.read_csv(nan).assign(blank=np.nan).to_csv(nan, index=False)
    assert "column 'blank' has no values" in cli.fails("train", "ctgan", "--data", nan)
    msg = cli.fails("train", "copula", "--data", "wine", "--set", "target=colour")
    assert "unknown target column 'colour'" in msg
    assert "unknown config key 'epochs' for dcgan" in cli.fails("train", "dcgan", "--epochs", "3")


def test_sample_through_the_table_gate(cli: Cli, tmp_path: Path):
    csv = write_csv(tmp_path / "tx.csv")
    cli.ok("train", "ctgan", "--data", csv, "--epochs", "1", "--name", "tx", *TINY)
    out = cli.ok("sample", "tx", "--n", "10", "--best-of", "3", "--min-score", "0", "--out",
                 tmp_path / "kept.csv").stdout  # fmt: skip
    assert "table gate (realism): kept 10 of 10 requested; drew 30 candidates" in out
    syn = pd.read_csv(tmp_path / "kept.csv")
    assert len(syn) == 10 and list(syn["id"]) == list(range(30, 40))  # IDs numbered afresh
    # every row counts as a copy when the bar is the largest distance there is
    out = cli.ok("sample", "tx", "--n", "4", "--best-of", "2", "--min-dcr", "1", "--out",
                 tmp_path / "none.csv").stdout  # fmt: skip
    assert "kept 0 of 4 requested" in out and "8 x copy of a training row" in out
    assert "--gate is one of" in cli.fails("sample", "tx", "--gate", "x")
    assert "--max-silence applies to audio runs" in cli.fails("sample", "tx", "--max-silence", "1")
