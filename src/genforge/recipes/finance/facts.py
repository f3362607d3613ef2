"""The facts of a price series (and its fundamentals), each a number with a unit and a display
precision, so the fact-checker can compare a claim in prose with the value it refers to.

Per ticker:
    return.<W>        simple return over window W (1M, 3M, 6M, 1Y = 21, 63, 126, 252 trading
                      days; YTD from the last close of the previous year; ALL = whole record)
    volatility        annualised volatility: std of daily log returns x sqrt(252), whole record
    drawdown          maximum drawdown (close / running peak - 1), with its peak and trough dates
    trend             least-squares slope of log close on trading days over the last year (or
                      the whole record when shorter), as an annualised % rate; its sign is the trend
    close, high, low  last close; highest and lowest close of the record, with their dates
    ma50, ma200       last 50- and 200-day simple moving averages; position of the close and of
                      the 50-day against them (above / below)
    crosses           golden (50-day crosses above the 200-day) and death crosses, with dates
    pe, pb, margin, de, eps, revenue_growth   from the latest fundamentals period
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Unit = Literal["pct", "price", "ratio", "count", "date"]
WINDOWS = {"1M": 21, "3M": 63, "6M": 126, "1Y": 252}
WINDOW_NAMES = {"1M": "1-month", "3M": "3-month", "6M": "6-month", "1Y": "1-year",
                "YTD": "year-to-date", "ALL": "whole-record"}  # fmt: skip
TRADING_DAYS = 252
SHORT_MA, LONG_MA = 50, 200


@dataclass(frozen=True)
class Fact:
    """One computed fact. `value` is a float (pct in percent points) or an ISO date string;
    `decimals` is the display precision; `sign` is the direction a word about it must carry
    (+1 up / above / bullish, -1 down / below / bearish, None when words do not apply)."""

    ticker: str
    key: str
    label: str
    value: float | str
    unit: Unit
    decimals: int = 1
    sign: int | None = None

    def display(self) -> str:
        return format_value(self.value, self.unit, self.decimals)


def format_value(value: float | str, unit: Unit, decimals: int) -> str:
    if unit == "date":
        return str(value)
    v = float(value)
    if unit == "pct":
        return f"{v:.{decimals}f}%"
    if unit == "price":
        return f"${v:,.{decimals}f}"
    if unit == "count":
        return f"{round(v)}"
    return f"{v:.{decimals}f}"


@dataclass
class Cross:
    date: str
    kind: Literal["golden", "death"]


@dataclass
class TickerFacts:
    ticker: str
    facts: dict[str, Fact] = field(default_factory=dict)
    crosses: list[Cross] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)  # close, ma50, ma200, drawdown (plots)
    notes: list[str] = field(default_factory=list)  # facts left out and why

    def add(self, key: str, label: str, value: float | str, unit: Unit, decimals: int = 1,
            sign: int | None = None) -> None:  # fmt: skip
        if isinstance(value, float) and not math.isfinite(value):
            self.notes.append(f"{label}: not computable (not a finite number)")
            return
        self.facts[key] = Fact(self.ticker, key, label, value, unit, decimals, sign)

    def get(self, key: str) -> Fact | None:
        return self.facts.get(key)


@dataclass
class FactBook:
    """Facts of every ticker; `primary` is the ticker prose defaults to."""

    tickers: dict[str, TickerFacts]
    primary: str

    def of(self, ticker: str) -> TickerFacts:
        return self.tickers[ticker]

    def all_facts(self) -> list[Fact]:
        return [f for t in self.tickers.values() for f in t.facts.values()]


def _sgn(x: float) -> int | None:
    return 1 if x > 0 else -1 if x < 0 else None


def _iso(ts: Any) -> str:
    return ts.strftime("%Y-%m-%d")


# ---------------------------------------------------------------------------------------
# Price facts
# ---------------------------------------------------------------------------------------


def price_facts(ticker: str, frame: Any) -> TickerFacts:
    """Facts of one ticker's daily prices (`frame` indexed by date with a `close` column)."""
    close = frame["close"].astype(float)
    tf = TickerFacts(ticker)
    n = len(close)
    last = float(close.iloc[-1])
    tf.add("days", "trading days in the record", float(n), "count", 0)
    tf.add("last_date", "date of the last close", _iso(close.index[-1]), "date")
    tf.add("first_date", "date of the first close", _iso(close.index[0]), "date")
    tf.add("close", "last close", last, "price", 2)
    hi, lo = close.idxmax(), close.idxmin()
    tf.add("high", "highest close", float(close.max()), "price", 2)
    tf.add("high_date", "date of the highest close", _iso(hi), "date")
    tf.add("low", "lowest close", float(close.min()), "price", 2)
    tf.add("low_date", "date of the lowest close", _iso(lo), "date")

    # -- returns over windows ---------------------------------------------------------
    for w, days in WINDOWS.items():
        if n > days:
            r = 100 * (last / float(close.iloc[-1 - days]) - 1)
            tf.add(f"return.{w}", f"{WINDOW_NAMES[w]} return", r, "pct", 1, _sgn(round(r, 1)))
        else:
            tf.notes.append(f"{WINDOW_NAMES[w]} return: needs {days + 1} days, have {n}")
    year = close.index[-1].year
    before = close[close.index.year < year]
    if len(before):
        r = 100 * (last / float(before.iloc[-1]) - 1)
        tf.add("return.YTD", "year-to-date return", r, "pct", 1, _sgn(round(r, 1)))
    else:
        tf.notes.append("year-to-date return: the record starts in the last year")
    r = 100 * (last / float(close.iloc[0]) - 1)
    tf.add("return.ALL", "whole-record return", r, "pct", 1, _sgn(round(r, 1)))

    # -- volatility, drawdown, trend --------------------------------------------------
    logret = np.diff(np.log(close.to_numpy()))
    vol = 100 * float(np.std(logret, ddof=1)) * math.sqrt(TRADING_DAYS)
    tf.add("volatility", "annualised volatility", vol, "pct", 1)
    peak = close.cummax()
    dd = close / peak - 1
    trough = dd.idxmin()
    tf.add("drawdown", "maximum drawdown", 100 * float(dd.min()), "pct", 1)
    if dd.min() < 0:
        peak_date = close[:trough].idxmax()
        tf.add("drawdown_peak", "peak date before the maximum drawdown", _iso(peak_date), "date")
        tf.add("drawdown_trough", "trough date of the maximum drawdown", _iso(trough), "date")
    span = close.iloc[-min(n, TRADING_DAYS) :]
    slope = float(np.polyfit(np.arange(len(span)), np.log(span.to_numpy()), 1)[0])
    rate = 100 * (math.exp(slope * TRADING_DAYS) - 1)
    tf.add("trend", "trend (log-linear slope, annualised)", rate, "pct", 1, _sgn(round(rate, 1)))

    # -- moving averages and crossovers -----------------------------------------------
    ma_s = close.rolling(SHORT_MA).mean()
    ma_l = close.rolling(LONG_MA).mean()
    if n >= SHORT_MA:
        m = float(ma_s.iloc[-1])
        tf.add("ma50", "50-day moving average", m, "price", 2)
        tf.add("vs_ma50", "last close vs 50-day average", last - m, "price", 2, _sgn(last - m))
    if n >= LONG_MA:
        m = float(ma_l.iloc[-1])
        tf.add("ma200", "200-day moving average", m, "price", 2)
        tf.add("vs_ma200", "last close vs 200-day average", last - m, "price", 2, _sgn(last - m))
        gap = float(ma_s.iloc[-1] - m)
        tf.add("ma50_vs_ma200", "50-day vs 200-day average", gap, "price", 2, _sgn(gap))
        tf.crosses = crossovers(ma_s, ma_l)
        golden = [c for c in tf.crosses if c.kind == "golden"]
        death = [c for c in tf.crosses if c.kind == "death"]
        tf.add("crosses", "moving-average crossovers", float(len(tf.crosses)), "count", 0)
        tf.add("crosses.golden", "golden crosses", float(len(golden)), "count", 0)
        tf.add("crosses.death", "death crosses", float(len(death)), "count", 0)
        if golden:
            tf.add("cross.golden", "last golden cross", golden[-1].date, "date")
        if death:
            tf.add("cross.death", "last death cross", death[-1].date, "date")
    else:
        tf.notes.append(f"200-day average and crossovers: need {LONG_MA} days, have {n}")
    tf.series = {"close": close, "ma50": ma_s, "ma200": ma_l, "drawdown": 100 * dd,
                 "logret": logret}  # fmt: skip
    return tf


def crossovers(short: Any, long: Any) -> list[Cross]:
    """Days the short average crosses the long one: golden (to above) or death (to below).

    A cross is dated on the first day the sign of (short - long) differs from the last nonzero
    sign before it; days where either average is undefined are skipped."""
    diff = (short - long).dropna()
    out, prev = [], 0
    for day, d in diff.items():
        s = 1 if d > 0 else -1 if d < 0 else 0
        if s != 0 and prev != 0 and s != prev:
            out.append(Cross(_iso(day), "golden" if s > 0 else "death"))
        if s != 0:
            prev = s
    return out


# ---------------------------------------------------------------------------------------
# Fundamentals
# ---------------------------------------------------------------------------------------


def fundamental_facts(tf: TickerFacts, periods: list[dict[str, float]]) -> None:
    """Ratios from the latest period (and growth against the one before), added to `tf`."""
    if not periods:
        return
    f, close = periods[-1], tf.facts["close"].value
    assert isinstance(close, float)
    eps = f.get("eps")
    if eps is None and f.get("net_income") is not None and f.get("shares"):
        eps = f["net_income"] / f["shares"]
    if eps is not None:
        tf.add("eps", "earnings per share (latest period)", eps, "price", 2)
        if eps > 0:
            tf.add("pe", "price / earnings (P/E)", close / eps, "ratio", 1)
        else:
            tf.notes.append("P/E: earnings per share is not positive")
    equity = f.get("equity", f.get("book_value"))
    if f.get("book_value") is not None and f.get("shares"):
        bvps = f["book_value"] / f["shares"]
        if bvps > 0:
            tf.add("pb", "price / book (P/B)", close / bvps, "ratio", 1)
    if f.get("net_income") is not None and f.get("revenue"):
        tf.add("margin", "net margin", 100 * f["net_income"] / f["revenue"], "pct", 1)
    if f.get("debt") is not None and equity:
        tf.add("de", "debt / equity", f["debt"] / equity, "ratio", 2)
    if len(periods) > 1 and periods[-2].get("revenue") and f.get("revenue") is not None:
        g = 100 * (f["revenue"] / periods[-2]["revenue"] - 1)
        tf.add("revenue_growth", "revenue growth (latest vs previous period)", g, "pct", 1,
               _sgn(round(g, 1)))  # fmt: skip


def compute_facts(market: Any, primary: str | None = None) -> FactBook:
    """Facts of every ticker of a `finance.data.Market`."""
    tickers = {}
    for t, frame in market.prices.items():
        tf = price_facts(t, frame)
        fundamental_facts(tf, market.fundamentals.get(t, []))
        tickers[t] = tf
    return FactBook(tickers, primary if primary in tickers else next(iter(tickers)))


# ---------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------


def plot_ticker(tf: TickerFacts, label: str = "") -> Any:
    """Price with the 50/200-day averages and crossovers marked; drawdown; daily return histogram.
    `label` (e.g. "SYNTHETIC DATA") goes into every panel's title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    s = tf.series
    tag = f" [{label}]" if label else ""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), gridspec_kw={"width_ratios": [2.2, 1.4, 1]})
    ax = axes[0]
    ax.plot(s["close"].index, s["close"], lw=1, color="#333", label="close")
    ax.plot(s["ma50"].index, s["ma50"], lw=1, color="#1f77b4", label="50-day MA")
    ax.plot(s["ma200"].index, s["ma200"], lw=1, color="#ff7f0e", label="200-day MA")
    for c in tf.crosses:
        d = pd.Timestamp(c.date)
        y = s["ma50"].loc[d]
        ax.scatter([d], [y], marker="^" if c.kind == "golden" else "v", s=60, zorder=3,
                   color="#2ca02c" if c.kind == "golden" else "#d62728",
                   label=f"{c.kind} cross")  # fmt: skip
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="best")
    ax.set_title(f"{tf.ticker}: close, moving averages, crossovers{tag}", fontsize=9)
    ax = axes[1]
    ax.fill_between(s["drawdown"].index, s["drawdown"], 0, color="#d62728", alpha=0.4)
    ax.set_title(f"{tf.ticker}: drawdown from running peak (%){tag}", fontsize=9)
    ax = axes[2]
    r = 100 * np.expm1(s["logret"])
    ax.hist(r, bins=40, color="#4c72b0", alpha=0.8)
    ax.set_title(f"{tf.ticker}: daily returns (%){tag}", fontsize=9)
    for a in axes:
        a.tick_params(labelsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
