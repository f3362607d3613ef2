"""The table gate: the real-vs-synthetic classifier rates real rows above off-distribution ones,
copies of training rows are rejected, and best-of keeps rows within the limits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genforge.core.errors import GenforgeError
from genforge.data.table import fit_spec
from genforge.evaluate.table import RowJudge
from genforge.evaluate.table_gate import TableGate, TableLimits, gated_rows
from genforge.generate.table import TablePipeline
from genforge.train.launch import train


def people(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "income": np.round(rng.lognormal(10, 0.5, n), 2),
        "city": rng.choice(["A", "B", "C"], n),
    })  # fmt: skip


def off(n: int, seed: int) -> pd.DataFrame:
    """Rows nothing like the real ones: the youngest ages, tiny incomes, all in city C."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.integers(18, 22, n), "income": np.round(rng.uniform(50, 500, n), 2),
                         "city": ["C"] * n})  # fmt: skip


def test_off_distribution_rows_look_less_real_than_real_ones():
    train_rows, holdout = people(300, 0), people(80, 1)
    spec = fit_spec(pd.concat([train_rows, holdout, off(5, 9)]))
    # a model that gets half its rows right and the other half badly wrong
    synthetic = pd.concat([people(150, 2), off(150, 3)], ignore_index=True)
    judge = RowJudge(spec, train_rows, holdout, synthetic)
    real_new, off_new = people(100, 4), off(100, 5)
    assert judge.realism(real_new).mean() > 0.6 > 0.1 > judge.realism(off_new).mean()
    assert judge.p_real(real_new).mean() > judge.p_real(off_new).mean() + 0.5
    copied = train_rows.iloc[:3]
    assert (judge.dcr(copied) == 0).all() and (judge.dcr(real_new) > 0).mean() > 0.9
    with pytest.raises(GenforgeError, match="real held-out rows"):
        RowJudge(spec, train_rows, holdout.iloc[:1], synthetic)


@pytest.fixture(scope="module")
def copula_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("table-gate")
    people(150, 0).to_csv(root / "people.csv", index=False)
    return train("copula", str(root / "people.csv"), runs_dir=root / "runs", steps=20,
                 batch_size=50)  # fmt: skip


def test_copies_of_training_rows_are_rejected(copula_run):
    from genforge.evaluate.table import real_split

    train_rows = real_split(copula_run)[0]
    gate = TableGate(TablePipeline(copula_run))
    assert gate.components == ["realism"]
    rows = pd.concat([train_rows.iloc[:2], people(3, 7)], ignore_index=True)
    s = gate.score(rows)
    assert [bool(r) for r in s.rejected] == [True, True, False, False, False]
    assert s.rejected[0][0].startswith("copy of a training row (DCR 0")
    assert ((s.score >= 0) & (s.score <= 1)).all()
    # a near-copy bar: rows within 0.02 of a training row
    near = train_rows.iloc[:1].assign(income=train_rows["income"].iloc[0] + 1.0)
    assert gate.score(near).rejected == [[]]
    loose = TableGate(TablePipeline(copula_run), limits=TableLimits(min_dcr=0.02))
    assert loose.score(near).rejected[0][0].startswith("copy of a training row")


def test_gated_rows_keep_the_best_of_each_group(copula_run):
    pipe = TablePipeline(copula_run)
    kept, scores, stats = gated_rows(pipe, 20, best_of=3, min_score=0.0, seed=2)
    assert stats["candidates"] == 60 and stats["requested"] == 20
    assert len(kept) == len(scores) == stats["accepted"] and list(kept.columns) == list(
        people(1, 0).columns
    )
    # each kept row is the best of its group of three: at least the group's median
    assert np.mean(scores) >= stats["score_p50"] - 1e-9
    with pytest.raises(GenforgeError, match="--min-score is a score"):
        gated_rows(pipe, 2, min_score=2.0)
