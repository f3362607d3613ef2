"""Stress measures on known numbers and the returns table the CTGAN learns from."""

from __future__ import annotations

import numpy as np
import pytest

from genforge.core.errors import GenforgeError
from genforge.recipes.finance.data import demo_market
from genforge.recipes.finance.stress import _weeks, returns_table, var_es


def test_var_and_expected_shortfall_on_known_losses():
    r = np.arange(-50.0, 50.0)  # 100 daily returns in %
    var, es = var_es(r, 0.95)
    assert var == pytest.approx(-np.quantile(r, 0.05)) == pytest.approx(45.05)
    assert es == pytest.approx(48.0)  # mean loss of the 5 worst days: 50, 49, 48, 47, 46


def test_weeks_compound_daily_returns():
    days = np.array([10.0, -10.0, 10.0, 0.0, 0.0, 5.0])
    w = _weeks(days, 5)
    assert w == pytest.approx([100 * (1.1 * 0.9 * 1.1 - 1), 100 * (0.9 * 1.1 * 1.05 - 1)])


def test_returns_table_has_every_ticker_and_three_regimes():
    m = demo_market(2, days=200, tickers=("SYNA", "SYNB"))
    t = returns_table(m.prices)
    assert list(t.columns) == ["SYNA", "SYNB", "regime"]
    assert len(t) == 200 - 1 - 20  # one day lost to returns, 20 to the 21-day warm-up
    assert set(t["regime"]) == {"calm", "normal", "stressed"}
    close = m.prices["SYNA"]["close"]
    day = t.index[5]
    want = 100 * (close[day] / close.iloc[close.index.get_loc(day) - 1] - 1)
    assert t.loc[day, "SYNA"] == pytest.approx(want, abs=1e-4)
    with pytest.raises(GenforgeError, match="stress scenarios need 60 days"):
        returns_table(demo_market(2, days=70, tickers=("SYNA",)).prices)
