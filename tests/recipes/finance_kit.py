"""A hand-built price series whose facts are known by construction (shared by the finance tests).

300 business days from 2024-01-01: close = 100 - 0.01 * i for days 0..249 (a slow decline),
then 200 from day 250 on. So the maximum drawdown runs from day 0 (100) to day 249 (97.51),
the 50-day average crosses above the 200-day one exactly on day 250 (a golden cross), and
the window returns are ratios of known closes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genforge.recipes.finance.data import Market
from genforge.recipes.finance.facts import FactBook, compute_facts

DAYS = 300
JUMP = 250
DATES = pd.bdate_range("2024-01-01", periods=DAYS)


def close_at(i: int) -> float:
    return 100 - 0.01 * i if i < JUMP else 200.0


def known_market(fundamentals: bool = True) -> Market:
    close = np.array([close_at(i) for i in range(DAYS)])
    frames = {"ACME": pd.DataFrame({"close": close}, index=pd.DatetimeIndex(DATES, name="date"))}
    # a second ticker that only falls, to tell tickers apart in prose
    frames["BETA"] = pd.DataFrame(
        {"close": 50 * 0.999 ** np.arange(DAYS)}, index=frames["ACME"].index
    )
    fund = {}
    if fundamentals:
        fund["ACME"] = [
            {"revenue": 400.0},
            {"revenue": 500.0, "net_income": 50.0, "eps": 5.0, "book_value": 1000.0,
             "shares": 100.0, "debt": 300.0, "equity": 600.0},
        ]  # fmt: skip
    return Market(frames, fund)


def known_book() -> FactBook:
    return compute_facts(known_market(), "ACME")
