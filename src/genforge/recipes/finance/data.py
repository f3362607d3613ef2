"""Inputs of the finance recipe: price and fundamentals CSVs, or the embedded synthetic market.

Prices are read in **long form**, one row per ticker per day:

    date,ticker,close[,open,high,low,volume]
    2024-01-02,ACME,101.5,...

The `ticker` column may be left out for a single series (it is then named after --company).
Column names are matched case-insensitively. Rows whose date does not parse or whose close is
not a positive number are skipped and reported (count and the first examples); a missing column,
an empty file or a ticker with too few days is a one-line error.

Fundamentals are one row per ticker and fiscal period (the latest period is used, the one before
it for growth): `ticker, period, revenue, net_income, eps, book_value, shares, debt, equity`;
every column but `ticker` is optional (a single-company file may leave out `ticker` too).

`demo_market(seed)` is a seeded geometric Brownian motion market with regime switches
(bull / bear / volatile, a Markov chain over days): a common market factor plus idiosyncratic
noise per ticker, and fundamentals drawn to sit near plausible multiples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genforge.core.errors import GenforgeError

MIN_DAYS = 30  # fewer trading days per ticker give no meaningful facts
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
FUNDAMENTAL_COLUMNS = ("revenue", "net_income", "eps", "book_value", "shares", "debt", "equity")
_ALIASES = {
    "symbol": "ticker", "adj_close": "close", "adj close": "close", "price": "close",
    "net income": "net_income", "netincome": "net_income", "book value": "book_value",
    "total_debt": "debt", "shares_outstanding": "shares", "fiscal_period": "period",
    "year": "period", "date": "date",
}  # fmt: skip


@dataclass
class Market:
    """Daily prices per ticker (DataFrames indexed by date, at least a `close` column),
    fundamentals per ticker (periods oldest first), what was skipped, and whether it is synthetic."""

    prices: dict[str, Any]
    fundamentals: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # one line per kind of skipped rows
    ignored_columns: list[str] = field(default_factory=list)
    synthetic: bool = False
    regimes: Any = None  # demo only: the true regime of each day (a pandas Series)
    source: str = ""

    @property
    def tickers(self) -> list[str]:
        return list(self.prices)


# ---------------------------------------------------------------------------------------
# Reading CSVs
# ---------------------------------------------------------------------------------------


def _read_csv(path: str | Path, what: str) -> Any:
    import pandas as pd

    p = Path(path).expanduser()
    if not p.is_file():
        raise GenforgeError(f"no such {what} file: {path}")
    try:
        df = pd.read_csv(p, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise GenforgeError(f"cannot read {path} as CSV: {str(e).splitlines()[0]}") from None
    df.columns = [_ALIASES.get(str(c).strip().lower(), str(c).strip().lower().replace(" ", "_"))
                  for c in df.columns]  # fmt: skip
    if len(df) == 0:
        raise GenforgeError(f"{what} file {path} has a header but no rows")
    return df


def _examples(rows: list[int], df: Any, col: str) -> str:
    shown = ", ".join(f"line {i + 2}: {df[col].iloc[i]!r}" for i in rows[:3])
    return shown + (", ..." if len(rows) > 3 else "")


_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})\s*$")


def parse_dates(col: Any, path: str | Path) -> Any:
    """Dates as ISO 8601, or all-numeric day/month/year in one order the data proves (a day
    above 12 somewhere), or written out ("Jan 5, 2024"); NaT where a value does not parse.

    Raises:
        GenforgeError: numeric dates whose day/month order is ambiguous or mixed.
    """
    import pandas as pd

    col = col.fillna("").astype(str).str.strip()
    iso = pd.to_datetime(col, errors="coerce", format="ISO8601")
    if iso.notna().mean() >= 0.5:
        return iso
    parts = col.str.extract(_NUMERIC_DATE)
    numeric = parts.notna().all(axis=1)
    if numeric.mean() >= 0.5:
        first, second = parts[0][numeric].astype(int), parts[1][numeric].astype(int)
        day_first, month_first = bool((first > 12).any()), bool((second > 12).any())
        if day_first == month_first:
            how = (
                "mixes day/month and month/day" if day_first else "could be day/month or month/day"
            )
            raise GenforgeError(f"{path}: the date column {how} (e.g. {col[numeric].iloc[0]!r}); "
                                "write dates as YYYY-MM-DD")  # fmt: skip
        year = "%Y" if parts[2][numeric].str.len().max() == 4 else "%y"
        fmt = f"%d/%m/{year}" if day_first else f"%m/%d/{year}"
        return pd.to_datetime(
            col.str.replace(r"[.-]", "/", regex=True), errors="coerce", format=fmt
        )
    return pd.to_datetime(col, errors="coerce", format="mixed")


def read_prices(path: str | Path, company: str = "") -> Market:
    """A long-form prices CSV (date, ticker, close, ...) as a Market.

    Raises:
        GenforgeError: missing date/close column, no usable rows, duplicate days, too few days.
    """
    import pandas as pd

    df = _read_csv(path, "prices")
    missing = [c for c in ("date", "close") if c not in df.columns]
    if missing:
        raise GenforgeError(
            f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            f"found {', '.join(df.columns)}; expected long form: date,ticker,close[,open,high,low,volume]"
        )
    if "ticker" not in df.columns:
        df["ticker"] = company.strip() or Path(path).stem.upper()
    df["ticker"] = df["ticker"].fillna("").str.strip()
    skipped: list[str] = []
    dates = parse_dates(df["date"], path)
    bad = list(np.flatnonzero(dates.isna().to_numpy()))
    if bad:
        skipped.append(
            f"{len(bad)} row(s) with a date that does not parse ({_examples(bad, df, 'date')})"
        )
    present = [c for c in PRICE_COLUMNS if c in df.columns]
    values = {c: pd.to_numeric(df[c], errors="coerce") for c in present}
    bad_close = values["close"].isna() | (values["close"] <= 0)
    bad_close_rows = [i for i in np.flatnonzero(bad_close.to_numpy()) if i not in set(bad)]
    if bad_close_rows:
        skipped.append(
            f"{len(bad_close_rows)} row(s) whose close is not a positive number "
            f"({_examples(bad_close_rows, df, 'close')})"
        )
    no_ticker = [i for i in np.flatnonzero((df["ticker"] == "").to_numpy())]
    if no_ticker:
        skipped.append(f"{len(no_ticker)} row(s) without a ticker")
    keep = dates.notna() & ~bad_close & (df["ticker"] != "")
    if not keep.any():
        raise GenforgeError(f"{path}: no usable rows ({'; '.join(skipped)})")
    table = pd.DataFrame({c: v for c, v in values.items()})
    table["date"], table["ticker"] = dates.dt.normalize(), df["ticker"]
    table = table[keep.to_numpy()]
    prices: dict[str, Any] = {}
    for ticker, rows in table.groupby("ticker", sort=False):
        rows = rows.sort_values("date")
        dup = rows["date"].duplicated()
        if dup.any():
            first = rows["date"][dup].iloc[0].date()
            raise GenforgeError(
                f"{path}: ticker {ticker} has {int(dup.sum())} duplicate date(s) (first {first}); "
                "give one row per ticker and day"
            )
        frame = rows.set_index("date")[present]
        frame.index.name = "date"
        if len(frame) < MIN_DAYS:
            raise GenforgeError(
                f"{path}: ticker {ticker} has {len(frame)} usable day(s); at least {MIN_DAYS} "
                "are needed for returns and volatility"
            )
        prices[str(ticker)] = frame
    return Market(prices, skipped=skipped, source=str(path))


def read_fundamentals(path: str | Path, market: Market) -> None:
    """Add a fundamentals CSV to `market` (in place); rows of unknown tickers are an error."""
    import pandas as pd

    df = _read_csv(path, "fundamentals")
    if "ticker" not in df.columns:
        if len(market.tickers) > 1:
            raise GenforgeError(
                f"{path}: no ticker column, but the prices hold {len(market.tickers)} tickers "
                f"({', '.join(market.tickers)}); add a ticker column"
            )
        df["ticker"] = market.tickers[0]
    known = [c for c in FUNDAMENTAL_COLUMNS if c in df.columns]
    if not known:
        raise GenforgeError(
            f"{path}: no fundamentals columns; expected some of {', '.join(FUNDAMENTAL_COLUMNS)}, "
            f"found {', '.join(df.columns)}"
        )
    market.ignored_columns += [c for c in df.columns if c not in (*known, "ticker", "period")]
    unknown = sorted(set(df["ticker"].str.strip()) - set(market.tickers))
    if unknown:
        raise GenforgeError(
            f"{path}: ticker(s) {', '.join(unknown)} have fundamentals but no prices; "
            f"tickers with prices: {', '.join(market.tickers)}"
        )
    order = pd.to_numeric(df["period"], errors="coerce") if "period" in df.columns else None
    bad_cells = 0
    for ticker, rows in df.groupby(df["ticker"].str.strip(), sort=False):
        if order is not None:
            rows = rows.assign(_o=order[rows.index]).sort_values("_o", kind="stable")
        periods = []
        for _, r in rows.iterrows():
            rec: dict[str, float] = {}
            for c in known:
                v = pd.to_numeric(r[c], errors="coerce")
                if pd.isna(v):
                    bad_cells += int(isinstance(r[c], str) and r[c].strip() != "")
                    continue
                rec[c] = float(v)
            periods.append(rec)
        market.fundamentals[str(ticker)] = periods
    if bad_cells:
        market.skipped.append(f"{bad_cells} fundamentals value(s) that are not numbers (left out)")


# ---------------------------------------------------------------------------------------
# The embedded synthetic market
# ---------------------------------------------------------------------------------------

DEMO_TICKERS = ("SYNA", "SYNB", "SYNC", "SYND")
# regime -> (annual drift, annual market volatility); Markov chain with ~60-day mean stays
REGIMES = {"bull": (0.30, 0.13), "bear": (-0.35, 0.24), "volatile": (0.0, 0.40)}
_STAY = 1 - 1 / 60


def demo_market(seed: int = 0, days: int = 756, tickers: tuple[str, ...] = DEMO_TICKERS) -> Market:
    """A seeded synthetic market: `days` business days of GBM prices with regime switches.

    Each day's log return is beta * market + idiosyncratic noise; the market's drift and
    volatility follow the regime of the day. Fundamentals come from each ticker's final price
    and a drawn P/E, P/B, margin and leverage, for two fiscal periods."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    names = list(REGIMES)
    state = int(rng.integers(len(names)))
    regime = []
    for _ in range(days):
        if rng.random() > _STAY:
            state = int(rng.choice([i for i in range(len(names)) if i != state]))
        regime.append(names[state])
    mu = np.array([REGIMES[r][0] for r in regime]) / 252
    sig = np.array([REGIMES[r][1] for r in regime]) / np.sqrt(252)
    market = mu - sig**2 / 2 + sig * rng.standard_normal(days)  # GBM log returns
    dates = pd.bdate_range(end=pd.Timestamp("2025-12-31"), periods=days)
    prices, fundamentals = {}, {}
    for t in tickers:
        beta = rng.uniform(0.6, 1.5)
        idio = rng.uniform(0.10, 0.30) / np.sqrt(252)
        alpha = rng.normal(0.0, 0.08) / 252
        logret = alpha + beta * market + idio * rng.standard_normal(days) - idio**2 / 2
        close = rng.uniform(20, 300) * np.exp(np.cumsum(logret))
        spread = np.abs(rng.normal(0, 0.6, days)) * idio * close
        open_ = close * np.exp(rng.normal(0, idio / 2, days))
        frame = pd.DataFrame(
            {
                "open": open_,
                "high": np.maximum(open_, close) + spread,
                "low": np.minimum(open_, close) - spread,
                "close": close,
                "volume": rng.integers(200_000, 5_000_000, days).astype(float),
            },
            index=pd.DatetimeIndex(dates, name="date"),
        )
        prices[t] = frame.round(2)
        shares = float(rng.integers(50, 2000)) * 1e6
        pe, pb = rng.uniform(8, 40), rng.uniform(1, 8)
        margin, de = rng.uniform(0.03, 0.30), rng.uniform(0.1, 2.5)
        eps = float(close[-1]) / pe
        net_income = eps * shares
        revenue = net_income / margin
        equity = float(close[-1]) / pb * shares
        growth = rng.uniform(-0.15, 0.30)
        latest = {"revenue": revenue, "net_income": net_income, "eps": eps,
                  "book_value": equity, "shares": shares, "debt": de * equity, "equity": equity}  # fmt: skip
        prior = {k: v / (1 + growth) if k in ("revenue", "net_income", "eps") else v
                 for k, v in latest.items()}  # fmt: skip
        fundamentals[t] = [prior, latest]
    return Market(
        prices,
        fundamentals,
        synthetic=True,
        regimes=pd.Series(regime, index=dates, name="regime"),
        source=f"embedded synthetic market (seed {seed}, {days} business days)",
    )


def write_market_csvs(market: Market, folder: Path) -> tuple[Path, Path]:
    """The market as the two CSVs the recipe reads (long-form prices, fundamentals)."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    rows = [f.assign(ticker=t).reset_index() for t, f in market.prices.items()]
    prices = pd.concat(rows)[["date", "ticker", *market.prices[market.tickers[0]].columns]]
    prices["date"] = prices["date"].dt.strftime("%Y-%m-%d")
    fund = [{"ticker": t, "period": i + 1, **p}
            for t, ps in market.fundamentals.items() for i, p in enumerate(ps)]  # fmt: skip
    p1, p2 = folder / "prices.csv", folder / "fundamentals.csv"
    prices.to_csv(p1, index=False)
    pd.DataFrame(fund).to_csv(p2, index=False)
    return p1, p2
