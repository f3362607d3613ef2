"""Tables: column kinds, the CTGAN encoding round trip, constraints, one-line bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genforge.core.errors import GenforgeError
from genforge.data.table import (
    EMBEDDED_TABLES,
    decode,
    encode,
    fit_spec,
    infer_kind,
    inspect_table,
    load_table,
    read_table,
)


def transactions(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """A small table with every column kind, missing values and a fixed country/city pairing."""
    rng = np.random.default_rng(seed)
    country = rng.choice(["DE", "FR"], n)
    city = {"DE": ["Berlin", "Munich"], "FR": ["Paris", "Lyon"]}
    df = pd.DataFrame({
        "transaction_id": np.arange(1000, 1000 + n),
        "customer": [f"c{i:05d}" for i in rng.permutation(n)],
        "date": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "amount": np.round(np.exp(rng.normal(3, 1, n)), 2),
        "country": country,
        "city": [rng.choice(city[c]) for c in country],
        "age": rng.integers(18, 90, n),
        "fraud": rng.choice([0, 1], n, p=[0.8, 0.2]),
    })  # fmt: skip
    df.loc[::7, "amount"] = np.nan
    df.loc[3::11, "country"] = np.nan
    return df


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "transactions.csv"
    transactions().to_csv(path, index=False)
    return path


def test_column_kinds_are_inferred(csv: Path):
    df = pd.read_csv(csv)
    kinds = {c: infer_kind(c, df[c]) for c in df.columns}
    assert kinds == {
        "transaction_id": "id", "customer": "id", "date": "datetime", "amount": "numeric",
        "country": "categorical", "city": "categorical", "age": "numeric", "fraud": "categorical",
    }  # fmt: skip


def test_encode_decode_round_trip_keeps_values_and_missing(csv: Path):
    ds = load_table(str(csv))
    assert ds.images.shape == (60, ds.spec.dim)
    assert ds.images.dtype.is_floating_point
    back = decode(ds.spec, ds.images.numpy())
    real = pd.read_csv(csv)
    assert list(back.columns) == list(real.columns)
    np.testing.assert_allclose(back["amount"].astype(float), real["amount"], rtol=1e-6)
    assert back["amount"].isna().sum() == real["amount"].isna().sum() > 0
    assert (back["country"].isna() == real["country"].isna()).all()
    assert (back["city"] == real["city"]).all()
    assert (back["age"].astype(int) == real["age"]).all()
    assert (back["date"] == real["date"]).all()
    # IDs are not learned: fresh ones follow the real maximum
    assert back["transaction_id"].min() == real["transaction_id"].max() + 1


def test_embedded_tables_read_with_their_targets():
    for name in EMBEDDED_TABLES:
        df, _, target = read_table(name)
        assert target in df.columns and len(df) > 100
    assert inspect_table("wine").columns["target"] == "categorical"
    assert inspect_table("diabetes").columns["target"] == "numeric"


def test_constraints_are_checked_row_by_row(csv: Path):
    df = pd.read_csv(csv)
    spec = fit_spec(df, ("range:age:18:89", "positive:amount", "fixed:country,city"))
    assert spec.satisfied(df).all()  # missing amounts/countries break nothing
    bad = df.head(4).copy()
    bad.loc[0, "age"] = 95
    bad.loc[1, "amount"] = -3.0
    bad.loc[2, ["country", "city"]] = ["DE", "Paris"]
    assert spec.satisfied(bad).tolist() == [False, False, False, True]


def test_split_is_seeded_and_disjoint(csv: Path):
    ds = load_table(str(csv))
    a, b = ds.split(0.25, seed=3)
    a2, _ = ds.split(0.25, seed=3)
    assert len(a) == 45 and len(b) == 15
    assert a.frame.equals(a2.frame)
    assert not set(a.frame["transaction_id"]) & set(b.frame["transaction_id"])


@pytest.mark.parametrize(
    ("frame", "options", "message"),
    [
        (pd.DataFrame({"a": [1.0], "b": ["x"]}), {}, "the table has 1 row; at least 10"),
        (transactions().assign(empty=np.nan), {}, "column 'empty' has no values"),
        (transactions(), {"target": "nope"}, "unknown target column 'nope'; columns: "),
        (transactions(), {"constraints": ("range:age:30:40",)}, "training rows already break"),
        (transactions(), {"constraints": ("positive:colour",)}, "unknown column 'colour'"),
        (transactions(), {"constraints": ("between:age",)}, "bad constraint"),
    ],
)
def test_bad_tables_fail_with_one_line(tmp_path: Path, frame, options, message):
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(GenforgeError, match=message) as e:
        load_table(str(path), **options)
    assert "\n" not in str(e.value)


def test_missing_file_and_unseen_category(tmp_path: Path, csv: Path):
    with pytest.raises(GenforgeError, match="no such file"):
        load_table(str(tmp_path / "nope.csv"))
    spec = fit_spec(pd.read_csv(csv))
    with pytest.raises(GenforgeError, match="never saw: IT"):
        encode(spec, pd.read_csv(csv).assign(country="IT"))
