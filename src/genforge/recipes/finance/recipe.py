"""`genforge recipe finance-report`: prices (+ fundamentals) -> facts, plots, checked prose,
synthetic stress scenarios -> one report with a verdict.

    result = run(FinanceConfig(prices="prices.csv", fundamentals="fin.csv", company="ACME",
                               out="report.html"))
    result = run(FinanceConfig(demo=True))        # the embedded synthetic market

Steps (printed as they run), one function each below:
    1 read the data (or simulate the demo market)   data.py
    2 compute the facts and plots                    facts.py
    3 draft the prose with a text model              prose.py (trains an n-gram Run)
    4 fact-check every number and direction word     factcheck.py
    5 stress scenarios from a CTGAN on the returns   stress.py (trains a CTGAN Run)
    6 write the report (Jinja2 sections)             report.py, templates/report.html.j2
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.evaluate.report import png_img
from genforge.recipes.finance.config import SYNTHETIC, FinanceConfig, Say
from genforge.recipes.finance.data import (
    DEMO_TICKERS,
    Market,
    demo_market,
    read_fundamentals,
    read_prices,
)
from genforge.recipes.finance.estimate import estimate
from genforge.recipes.finance.factcheck import CheckReport, fact_check
from genforge.recipes.finance.facts import FactBook, compute_facts, plot_ticker
from genforge.recipes.finance.prose import Draft, choose_writer, draft_ticker, free_run_name
from genforge.recipes.finance.report import Evidence, recheck_report, write_report
from genforge.recipes.finance.stress import StressResult, stress_test
from genforge.recipes.report import Verdict


@dataclass
class FinanceResult:
    paths: list[Path]
    verdict: Verdict
    check: CheckReport  # all paragraphs together
    unverified: int  # claims in the written report's prose that a fresh check does not verify
    drafts: list[Draft]
    book: FactBook
    stress: StressResult | None
    runs: dict[str, Any]
    prose: dict[str, str]  # ticker -> final paragraph (without the synthetic tag)


def check_config(cfg: FinanceConfig) -> Path:
    """One-line errors before any work; returns the report path."""
    if cfg.drafts < 1:
        raise GenforgeError(f"--drafts must be at least 1, got {cfg.drafts}")
    if cfg.lm and cfg.text_run:
        raise GenforgeError("give --lm (a local causal LM) or --text-run, not both")
    out = Path(cfg.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise GenforgeError(f"--out must end in .html: {out}")
    if cfg.demo and (cfg.prices or cfg.fundamentals):
        raise GenforgeError(
            "--demo uses the embedded synthetic market; drop --prices/--fundamentals"
        )
    if not cfg.demo and not cfg.prices:
        raise GenforgeError("give --prices prices.csv (date,ticker,close,...) or --demo")
    return out


def load_market(cfg: FinanceConfig) -> Market:
    if cfg.demo:
        if cfg.prices or cfg.fundamentals:
            raise GenforgeError(
                "--demo uses the embedded synthetic market; drop --prices/--fundamentals"
            )
        return demo_market(cfg.seed, cfg.demo_days, DEMO_TICKERS[: max(1, cfg.demo_tickers)])
    if not cfg.prices:
        raise GenforgeError("give --prices prices.csv (date,ticker,close,...) or --demo")
    market = read_prices(cfg.prices, cfg.company)
    if cfg.fundamentals:
        read_fundamentals(cfg.fundamentals, market)
    return market


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "report"


# ---------------------------------------------------------------------------------------
# The steps
# ---------------------------------------------------------------------------------------


def read_step(cfg: FinanceConfig, say: Say) -> Market:
    """[1/6] The prices (and fundamentals), or the SYNTHETIC demo market."""
    say("[1/6] reading the data" if not cfg.demo else f"[1/6] simulating the {SYNTHETIC} market")
    market = load_market(cfg)
    say(f"      {len(market.tickers)} ticker(s): {', '.join(market.tickers)}; "
        f"{sum(len(f) for f in market.prices.values())} price rows")  # fmt: skip
    for s in market.skipped:
        say(f"      skipped {s}")
    return market


def facts_step(cfg: FinanceConfig, market: Market, say: Say) -> tuple[FactBook, dict[str, str]]:
    """[2/6] The facts of every ticker and its plots (embedded <img> tags)."""
    say("[2/6] computing facts and plots")
    label = SYNTHETIC if market.synthetic else ""
    primary = cfg.company if cfg.company in market.tickers else None
    book = compute_facts(market, primary)
    plots = {t: png_img(plot_ticker(book.of(t), label), f"{t} plots") for t in market.tickers}
    return book, plots


def draft_step(cfg: FinanceConfig, market: Market, book: FactBook, folder: Path, prefix: str,
               say: Say) -> tuple[Any, Any, list[Draft]]:  # fmt: skip
    """[3/6] One drafted sentence per topic and ticker; (writer, its new Run or None, drafts)."""
    say("[3/6] drafting the prose")
    writer, text_run = choose_writer(cfg, folder, prefix, say)
    drafts: list[Draft] = []
    for i, t in enumerate(market.tickers):
        drafts += draft_ticker(writer, book, t, cfg.seed + 7919 * i, cfg.drafts)
    return writer, text_run, drafts


def check_step(market: Market, book: FactBook, drafts: list[Draft],
               say: Say) -> tuple[CheckReport, dict[str, str], dict[str, int]]:  # fmt: skip
    """[4/6] Each ticker's on-topic drafts fact-checked as one paragraph; (all checks, final
    paragraph per ticker, sentences removed per ticker)."""
    say("[4/6] fact-checking every number and direction word")
    checks, prose, removed = CheckReport(text=""), {}, {}
    for t in market.tickers:
        draft = " ".join(d.text for d in drafts if d.ticker == t and d.on_topic)
        rep = fact_check(draft, book, t)
        offset = checks.sentences
        for c in rep.checks:
            c.sentence = c.sentence + offset if c.sentence else 0
        checks.checks += rep.checks
        checks.sentences += rep.sentences
        checks.removed += rep.removed
        checks.unverified += rep.unverified
        prose[t], removed[t] = rep.text, rep.removed
    off = sum(not d.on_topic for d in drafts)
    say(f"      {off} of {len(drafts)} drafts dropped before checking: off their opener's topic")
    say(f"      {len(checks.checks)} claims: {checks.verified} verified as drafted, "
        f"{checks.rewritten} rewritten, {checks.removed} of {checks.sentences} sentences removed")  # fmt: skip
    return checks, prose, removed


def stress_step(cfg: FinanceConfig, market: Market, folder: Path, prefix: str,
                say: Say) -> StressResult:  # fmt: skip
    """[5/6] A CTGAN Run on the daily returns and its SYNTHETIC stress scenarios."""
    say(f"[5/6] stress scenarios: CTGAN on the daily returns ({cfg.stress_steps} steps)")
    name = free_run_name(f"{prefix}-returns-ctgan", cfg.runs_dir)
    label = SYNTHETIC if market.synthetic else ""
    return stress_test(market.prices, folder, cfg.runs_dir, name, cfg.seed,
                       cfg.stress_steps, cfg.stress_samples, label, **cfg.ctgan)  # fmt: skip


# ---------------------------------------------------------------------------------------
# The recipe
# ---------------------------------------------------------------------------------------


def run(cfg: FinanceConfig, say: Say = print) -> FinanceResult:
    """Build the report; returns its paths, verdict, checks and the Runs it trained."""
    out = check_config(cfg)
    market = read_step(cfg, say)
    say(f"      {estimate(cfg, market.prices).describe()}")
    company = cfg.company or ("Synthetic market (demo)" if market.synthetic else market.tickers[0])
    prefix = cfg.name or _slug(f"{'demo' if market.synthetic else company}-s{cfg.seed}")
    folder = out.with_name(out.stem + "_data")
    book, plots = facts_step(cfg, market, say)
    writer, text_run, drafts = draft_step(cfg, market, book, folder, prefix, say)
    checks, prose, removed = check_step(market, book, drafts, say)
    stress = stress_step(cfg, market, folder, prefix, say)

    say("[6/6] writing the report")
    evidence = Evidence(market, company, book, plots, writer.description, drafts, checks, prose,
                        removed, stress)  # fmt: skip
    paths, verdict = write_report(out, evidence, cfg)
    # the written page, read back: its prose must re-check clean on its own
    unverified = recheck_report(paths[0], book)
    if unverified != checks.unverified:  # a bug, not a user error
        raise RuntimeError(f"the written prose re-checks with {unverified} unverified claims, "
                           f"the checker's output with {checks.unverified}")  # fmt: skip
    say(f"      report: {', '.join(map(str, paths))}")
    runs = {"stress": stress.run, **({"commentary": text_run} if text_run is not None else {})}
    for k, r in runs.items():
        say(f"      {k} run: {r.path}")
    return FinanceResult(paths, verdict, checks, unverified, drafts, book, stress, runs, prose)
