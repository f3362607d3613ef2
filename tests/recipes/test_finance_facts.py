"""Facts of a hand-built series against answers known by construction (see finance_kit)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from finance_kit import DATES, DAYS, JUMP, close_at, known_book

from genforge.recipes.finance.facts import crossovers


@pytest.fixture(scope="module")
def acme():
    return known_book().of("ACME")


def iso(i: int) -> str:
    return DATES[i].strftime("%Y-%m-%d")


def test_window_returns(acme):
    last = close_at(DAYS - 1)
    for key, days in {"3M": 63, "6M": 126, "1Y": 252}.items():
        want = 100 * (last / close_at(DAYS - 1 - days) - 1)
        assert acme.facts[f"return.{key}"].value == pytest.approx(want)
        assert acme.facts[f"return.{key}"].sign == 1
    # a month after the jump the price is flat: 0.0% has no direction
    assert acme.facts["return.1M"].value == pytest.approx(0.0)
    assert acme.facts["return.1M"].sign is None
    year_end = max(i for i in range(DAYS) if DATES[i].year == DATES[-1].year - 1)
    assert acme.facts["return.YTD"].value == pytest.approx(100 * (last / close_at(year_end) - 1))


def test_max_drawdown_with_dates(acme):
    assert acme.facts["drawdown"].value == pytest.approx(100 * (close_at(JUMP - 1) / 100 - 1))
    assert acme.facts["drawdown_peak"].value == iso(0)
    assert acme.facts["drawdown_trough"].value == iso(JUMP - 1)


def test_golden_cross_on_the_jump_day(acme):
    assert [(c.date, c.kind) for c in acme.crosses] == [(iso(JUMP), "golden")]
    assert acme.facts["cross.golden"].value == iso(JUMP)
    assert acme.facts["crosses.death"].value == 0
    assert acme.facts["vs_ma200"].sign == 1 and acme.facts["ma50_vs_ma200"].sign == 1


def test_crossovers_follow_sign_changes():
    import pandas as pd

    idx = pd.bdate_range("2024-01-01", periods=6)
    short = pd.Series([np.nan, 1, 3, 3, 1, 2], index=idx, dtype=float)
    long = pd.Series([np.nan, 2, 2, 3, 2, 2], index=idx, dtype=float)  # equal on day 3, then below
    kinds = [(c.date, c.kind) for c in crossovers(short, long)]
    assert kinds == [
        (idx[2].strftime("%Y-%m-%d"), "golden"),
        (idx[4].strftime("%Y-%m-%d"), "death"),
    ]


def test_trend_volatility_and_ratios(acme):
    assert acme.facts["trend"].sign == 1
    logret = np.diff(np.log([close_at(i) for i in range(DAYS)]))
    assert acme.facts["volatility"].value == pytest.approx(
        100 * logret.std(ddof=1) * math.sqrt(252)
    )
    f = acme.facts
    assert f["pe"].value == pytest.approx(200 / 5)
    assert f["pb"].value == pytest.approx(200 / (1000 / 100))
    assert f["margin"].value == pytest.approx(10.0)
    assert f["de"].value == pytest.approx(0.5)
    assert f["revenue_growth"].value == pytest.approx(25.0) and f["revenue_growth"].sign == 1


def test_short_series_leaves_out_what_it_cannot_compute():
    from genforge.recipes.finance.data import demo_market
    from genforge.recipes.finance.facts import compute_facts

    tf = compute_facts(demo_market(0, days=100, tickers=("SYNA",))).of("SYNA")
    assert "ma200" not in tf.facts and "return.1Y" not in tf.facts and "crosses" not in tf.facts
    assert any("200-day" in n for n in tf.notes)
