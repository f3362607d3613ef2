"""Stress scenarios: a CTGAN learns the table of daily returns, and its samples are synthetic
"risk event" days and weeks whose losses are reported next to the historical ones.

The returns table has one row per day: each ticker's simple daily return (in %) and the day's
volatility regime (terciles of the equal-weight portfolio's trailing 21-day volatility: calm /
normal / stressed). The CTGAN is trained with `genforge.train.launch.train`, so a normal Run is
left behind. Synthetic weeks compound 5 synthetic days drawn from the stressed regime.

Caveat, stated in the report: the table decoder clips each column to its training range, so a
synthetic single-ticker day is never worse than the worst historical one; stress comes from new
*combinations* of ticker moves and from compounding stressed days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genforge.core.errors import GenforgeError

REGIME_WINDOW = 21
REGIMES = ("calm", "normal", "stressed")
MIN_ROWS = 60


def returns_table(prices: dict[str, Any]) -> Any:
    """Daily % returns of every ticker on their common dates, plus the volatility regime."""
    import pandas as pd

    close = pd.concat({t: f["close"] for t, f in prices.items()}, axis=1, join="inner")
    rets = 100 * close.pct_change().dropna()
    port = rets.mean(axis=1)
    vol = port.rolling(REGIME_WINDOW).std().dropna()
    rets = rets.loc[vol.index].round(4)
    cuts = np.quantile(vol, [1 / 3, 2 / 3])
    rets["regime"] = np.select([vol <= cuts[0], vol <= cuts[1]], REGIMES[:2], REGIMES[2])
    if len(rets) < MIN_ROWS:
        raise GenforgeError(
            f"stress scenarios need {MIN_ROWS} days with prices for every ticker after the "
            f"{REGIME_WINDOW}-day warm-up; the tickers share {len(rets)}"
        )
    return rets


def var_es(r: np.ndarray, q: float) -> tuple[float, float]:
    """Value at risk and expected shortfall at level q (losses as positive %)."""
    cut = np.quantile(r, 1 - q)
    return float(-cut), float(-r[r <= cut].mean())


def _weeks(days: np.ndarray, n: int = 5) -> np.ndarray:
    """Compounded returns (%) of rolling n-day windows."""
    g = np.log1p(days / 100)
    c = np.concatenate([[0.0], np.cumsum(g)])
    return 100 * np.expm1(c[n:] - c[:-n])


@dataclass
class StressResult:
    run: Any
    rows: dict[str, dict[str, float]]  # "historical" / "synthetic" -> measure -> value
    worst: Any  # DataFrame: the worst synthetic days (per-ticker returns, portfolio)
    fidelity: dict[str, float] = field(default_factory=dict)
    n_hist: int = 0
    n_synth: int = 0
    figure: Any = None


def stress_test(prices: dict[str, Any], folder: Path, runs_dir: Any, name: str, seed: int = 0,
                steps: int = 300, samples: int = 5000, label: str = "",
                **ctgan_options: Any) -> StressResult:  # fmt: skip
    """Train a CTGAN on the returns table, sample synthetic days, measure losses."""
    from genforge.generate.table import TablePipeline
    from genforge.train.launch import train

    table = returns_table(prices)
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"{name}.returns.csv"  # the run's data, kept beside the report
    table.to_csv(csv, index=False)
    run = train("ctgan", str(csv), name=name, runs_dir=runs_dir, steps=steps, seed=seed,
                **ctgan_options)  # fmt: skip
    synth = TablePipeline(run, device="cpu").sample(samples, seed=seed)
    tickers = [c for c in table.columns if c != "regime"]
    hist_port = table[tickers].mean(axis=1).to_numpy()
    syn_port = synth[tickers].astype(float).mean(axis=1).to_numpy()
    rng = np.random.default_rng(seed)
    stressed = synth[synth["regime"] == "stressed"]
    pool = (
        (stressed if len(stressed) >= 5 else synth)[tickers].astype(float).mean(axis=1).to_numpy()
    )
    syn_weeks = 100 * np.expm1(np.log1p(rng.choice(pool, (2000, 5)) / 100).sum(1))

    def measures(days: np.ndarray, weeks: np.ndarray) -> dict[str, float]:
        v95, e95 = var_es(days, 0.95)
        v99, e99 = var_es(days, 0.99)
        return {"VaR 95% (1 day)": v95, "ES 95% (1 day)": e95, "VaR 99% (1 day)": v99,
                "ES 99% (1 day)": e99, "worst day": float(-days.min()),
                "worst 5-day period": float(-weeks.min())}  # fmt: skip

    rows = {
        "historical": measures(hist_port, _weeks(hist_port)),
        "synthetic (CTGAN)": measures(syn_port, syn_weeks),
    }
    worst = synth.assign(portfolio=syn_port).nsmallest(5, "portfolio")
    hist_std = table[tickers].std().to_numpy()
    syn_std = synth[tickers].astype(float).std().to_numpy()
    corr_gap = (np.abs(table[tickers].corr().to_numpy() - synth[tickers].astype(float).corr().to_numpy())
                if len(tickers) > 1 else np.zeros((1, 1)))  # fmt: skip
    fidelity = {
        "std ratio synthetic / historical (min over tickers)": float((syn_std / hist_std).min()),
        "std ratio synthetic / historical (max over tickers)": float((syn_std / hist_std).max()),
        "largest correlation gap": float(corr_gap.max()),
        "stressed share of synthetic days": float((synth["regime"] == "stressed").mean()),
    }
    res = StressResult(run, rows, worst, fidelity, len(table), len(synth))
    res.figure = _plot(hist_port, syn_port, rows, label)
    return res


def _plot(
    hist: np.ndarray, synth: np.ndarray, rows: dict[str, dict[str, float]], label: str
) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    bins = np.linspace(min(hist.min(), synth.min()), max(hist.max(), synth.max()), 60)
    ax.hist(hist, bins=bins, density=True, alpha=0.55, label="historical days", color="#4c72b0")
    ax.hist(synth, bins=bins, density=True, alpha=0.55, color="#dd8452",
            label="SYNTHETIC scenario days (CTGAN)")  # fmt: skip
    for (k, r), c in zip(rows.items(), ("#4c72b0", "#dd8452"), strict=True):
        ax.axvline(-r["VaR 99% (1 day)"], color=c, ls="--", lw=1, label=f"VaR 99%, {k}")
    ax.set_yscale("log")
    ax.set_xlabel("equal-weight portfolio daily return (%)")
    tag = f" [{label}]" if label else ""
    ax.set_title(f"Historical vs SYNTHETIC stress scenarios{tag}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
