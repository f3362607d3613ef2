"""Table evaluation: the privacy check flags copied rows; the report has honest numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genforge.core.errors import GenforgeError
from genforge.data.modalities import get_modality
from genforge.data.table import fit_spec
from genforge.evaluate import evaluate_run
from genforge.evaluate import table as table_eval
from genforge.evaluate.report import write_report
from genforge.evaluate.table import privacy_dcr
from genforge.train.launch import train


def people(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "income": np.round(rng.lognormal(10, 0.5, n), 2),
        "city": rng.choice(["A", "B", "C"], n),
        "churn": rng.choice(["yes", "no"], n),
    })  # fmt: skip


def test_dcr_flags_a_table_that_copies_training_rows():
    train_rows, holdout = people(200, 0), people(60, 1)
    spec = fit_spec(pd.concat([train_rows, holdout]))
    fresh = people(100, 2)  # new rows from the same distribution
    copied = pd.concat([fresh.head(70), train_rows.sample(30, random_state=0)], ignore_index=True)
    ok = privacy_dcr(spec, train_rows, holdout, fresh)
    bad = privacy_dcr(spec, train_rows, holdout, copied)
    assert not ok["flagged"] and ok["copied_rows"] == 0
    assert bad["flagged"] and bad["copied_rows"] == 30 and bad["copy_fraction"] == 0.3
    assert bad["dcr_synthetic_median"] <= ok["dcr_synthetic_median"]


@pytest.fixture(scope="module")
def copula_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("eval-table")
    csv = root / "people.csv"
    people(150, 0).to_csv(csv, index=False)
    return train("copula", str(csv), runs_dir=root / "runs", steps=20, batch_size=50,
                 target="churn")  # fmt: skip


def test_evaluate_run_reports_fidelity_privacy_and_utility(copula_run):
    assert get_modality("table").handler("evaluator") is table_eval.evaluate_run
    result = evaluate_run(copula_run, seed=0)
    values = {m.key: m.value for m in result.metrics}
    assert 0.5 < values["sdmetrics_quality"] <= 1  # marginals come straight from the data
    assert values["dcr_ratio"] > 0.5 and values["copied_rows_fraction"] < 0.05
    assert 0 <= values["tstr_accuracy"] <= 1
    assert result.extra["utility"]["target"] == "churn"
    html = write_report(copula_run, result).read_text()
    assert "Privacy (distance to closest record)" in html and "SDMetrics" in html


def test_evaluate_run_flags_copied_training_rows(copula_run):
    from genforge.evaluate.table import real_split

    train_rows, _, _, _ = real_split(copula_run)
    result = evaluate_run(copula_run, synthetic=train_rows.copy())
    assert result.extra["privacy"]["flagged"]
    assert result.value("copied_rows_fraction") == 1.0


def test_unknown_target_is_one_line(copula_run):
    with pytest.raises(GenforgeError, match="unknown target column 'salary'; columns: age"):
        evaluate_run(copula_run, target="salary")
