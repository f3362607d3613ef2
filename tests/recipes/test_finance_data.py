"""Reading prices and fundamentals: long-form CSVs, skipped rows reported, bad files one line."""

from __future__ import annotations

import pytest

from genforge.core.errors import GenforgeError
from genforge.recipes.finance.data import demo_market, read_fundamentals, read_prices


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def series(n=40, ticker=True):
    import pandas as pd

    head = "date,ticker,close\n" if ticker else "Date,Close\n"
    rows = [f"{d:%Y-%m-%d},{'ACME,' if ticker else ''}{100 + i}" for i, d in
            enumerate(pd.bdate_range("2024-01-01", periods=n))]  # fmt: skip
    return head + "\n".join(rows) + "\n"


def test_bad_rows_are_skipped_and_reported(tmp_path):
    text = series() + "not-a-date,ACME,101\n2025-06-01,ACME,n/a\n2025-06-02,ACME,-3\n"
    m = read_prices(write(tmp_path / "p.csv", text))
    assert m.tickers == ["ACME"] and len(m.prices["ACME"]) == 40
    assert m.skipped[0].startswith(
        "1 row(s) with a date that does not parse (line 42: 'not-a-date')"
    )
    assert m.skipped[1].startswith("2 row(s) whose close is not a positive number")


def test_single_series_without_ticker_column_takes_the_company_name(tmp_path):
    m = read_prices(write(tmp_path / "p.csv", series(ticker=False)), company="Acme")
    assert m.tickers == ["Acme"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "date,ticker,price_x\n2024-01-01,A,1\n",
            "missing column close; found date, ticker, price_x",
        ),
        ("date,ticker,close\n", "has a header but no rows"),
        ("date,ticker,close\nx,A,1\ny,A,2\n", "no usable rows (2 row(s) with a date"),
        (series(10), "ticker ACME has 10 usable day(s); at least 30"),
        (
            series() + "2024-01-01,ACME,5\n",
            "ticker ACME has 1 duplicate date(s) (first 2024-01-01)",
        ),
    ],
)
def test_bad_price_files_fail_in_one_line(tmp_path, text, message):
    with pytest.raises(GenforgeError) as e:
        read_prices(write(tmp_path / "p.csv", text))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_fundamentals_errors_and_values(tmp_path):
    m = read_prices(write(tmp_path / "p.csv", series()))
    with pytest.raises(GenforgeError, match="ZZZ have fundamentals but no prices"):
        read_fundamentals(write(tmp_path / "f.csv", "ticker,eps\nZZZ,1\n"), m)
    with pytest.raises(GenforgeError, match="no fundamentals columns"):
        read_fundamentals(write(tmp_path / "f.csv", "ticker,colour\nACME,red\n"), m)
    read_fundamentals(
        write(tmp_path / "f.csv", "ticker,period,eps,notes\nACME,2,2.5,x\nACME,1,abc,y\n"), m
    )
    assert m.fundamentals["ACME"] == [{}, {"eps": 2.5}]  # sorted by period; "abc" left out
    assert m.ignored_columns == ["notes"] and "1 fundamentals value(s)" in m.skipped[-1]


def test_demo_market_is_seeded_and_switches_regimes():
    a, b = demo_market(3, days=300), demo_market(3, days=300)
    assert a.synthetic and list(a.prices) == ["SYNA", "SYNB", "SYNC", "SYND"]
    assert a.prices["SYNA"].equals(b.prices["SYNA"])
    assert not a.prices["SYNA"].equals(demo_market(4, days=300).prices["SYNA"])
    assert a.regimes.nunique() >= 2 and (a.prices["SYNB"]["close"] > 0).all()
    assert len(a.fundamentals["SYNC"]) == 2


@pytest.mark.parametrize(
    ("dates", "first"),
    [
        (["2024-01-05", "2024-01-31"], "2024-01-05"),
        (["05/01/2024", "31/01/2024"], "2024-01-05"),  # day first: 31 cannot be a month
        (["01/05/2024", "01/31/2024"], "2024-01-05"),  # month first
        (["Jan 5, 2024", "Jan 31, 2024"], "2024-01-05"),
    ],
)
def test_date_formats(dates, first):
    import pandas as pd

    from genforge.recipes.finance.data import parse_dates

    got = parse_dates(pd.Series(dates), "p.csv")
    assert got.iloc[0].strftime("%Y-%m-%d") == first and got.notna().all()


def test_ambiguous_numeric_dates_fail(tmp_path):
    import pandas as pd

    from genforge.recipes.finance.data import parse_dates

    with pytest.raises(GenforgeError, match="could be day/month or month/day"):
        parse_dates(pd.Series(["01/02/2024", "03/04/2024"]), "p.csv")
    with pytest.raises(GenforgeError, match="mixes day/month and month/day"):
        parse_dates(pd.Series(["13/02/2024", "03/14/2024"]), "p.csv")
