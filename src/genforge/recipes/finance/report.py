"""The finance report: sections rendered from templates/report.html.j2, the verdict, and the
prose read back from a written page (it must re-check clean on its own)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.evaluate.report import png_img
from genforge.evaluate.result import Section
from genforge.recipes.finance.config import SYNTHETIC, FinanceConfig
from genforge.recipes.finance.data import Market
from genforge.recipes.finance.factcheck import CheckReport, count_unverified
from genforge.recipes.finance.facts import FactBook
from genforge.recipes.finance.prose import Draft
from genforge.recipes.finance.stress import StressResult
from genforge.recipes.report import Verdict, picture, report_macros, write_recipe_report

CHECK_METHOD = (
    "Every number (percent, price, ratio, count, date, window label) and every direction word "
    "(rose/fell, gained/lost, up/down, higher/lower, above/below, bullish/bearish, "
    "uptrend/downtrend, golden/death cross ...) is tied to the fact it refers to by the ticker "
    "and the nearest topic cue. A number matches when it is within half a unit of its last shown "
    "digit; a word matches when it carries the fact's sign. A mismatch is rewritten to the true "
    "value or word; a claim tied to no single fact (or a negated direction) removes its sentence. "
    "The final text is checked again from scratch. Only numbers and direction words are checked: "
    "other wording (e.g. a stated reason for a move) is the model's and is not evidence."
)
REMOVED_ALL = "(every drafted sentence was removed)"  # a ticker's paragraph when nothing is left


@dataclass
class Evidence:
    """What the report shows, gathered by the recipe's steps."""

    market: Market
    company: str
    book: FactBook
    plots: dict[str, str]  # ticker -> <img> of its plots (evaluate.report.png_img)
    writer: str  # who wrote the prose (the writer's description)
    drafts: list[Draft]
    checks: CheckReport  # all paragraphs together
    prose: dict[str, str]  # ticker -> final paragraph (without the synthetic tag)
    removed: dict[str, int]  # ticker -> sentences the check removed
    stress: StressResult

    @property
    def label(self) -> str:
        return SYNTHETIC if self.market.synthetic else ""

    @property
    def off_topic(self) -> int:
        return sum(not d.on_topic for d in self.drafts)


def verdict_of(checks: CheckReport, stress: StressResult, synthetic: bool) -> Verdict:
    f = stress.fidelity
    lo = f["std ratio synthetic / historical (min over tickers)"]
    hi = f["std ratio synthetic / historical (max over tickers)"]
    stress_ok = lo >= 0.5 and hi <= 2.0
    kept = checks.sentences - checks.removed
    reasons = [
        f"{len(checks.checks)} claims checked: {checks.verified} verified as drafted, "
        f"{checks.rewritten} rewritten to the facts, {checks.removed} of {checks.sentences} "
        f"sentences removed",
        f"unverified numbers or direction words in the final prose: {checks.unverified}",
        f"stress model: synthetic daily-return spread is {lo:.2f}-{hi:.2f}x the historical "
        f"({'close enough to use' if stress_ok else 'too far off: treat its scenarios with care'})",
    ]
    if synthetic:
        reasons.insert(0, "SYNTHETIC demo market: not real securities")
    if checks.unverified:
        return Verdict("bad", f"{checks.unverified} claim(s) in the prose are unverified", reasons)
    if not stress_ok or kept == 0:
        why = "no drafted sentence survived the check" if kept == 0 else "the stress model is off"
        return Verdict("warn", f"facts verified, but {why}", reasons)
    return Verdict("ok", f"facts verified: 0 unverified claims; {checks.rewritten} rewritten, "
                         f"{checks.removed} sentence(s) removed", reasons)  # fmt: skip


# ---------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------


def _macros() -> Any:
    return report_macros("genforge.recipes.finance")


def about_section(ev: Evidence, cfg: FinanceConfig) -> Section:
    m = ev.market
    about = _macros().about(ev.company, m.synthetic, m.source, ev.writer, cfg.drafts, CHECK_METHOD)
    return Section("About this report", str(about))


def ticker_section(ev: Evidence, ticker: str) -> Section:
    """One ticker: its checked paragraph, its plots and its table of facts."""
    tf = ev.book.of(ticker)
    facts = [(f.label, f.display()) for f in tf.facts.values() if not f.key.startswith("vs_")]
    facts += [(f"{c.kind} cross", c.date) for c in tf.crosses]
    tag = f"[{SYNTHETIC}] " if ev.label else ""
    para = (tag + ev.prose[ticker]) if ev.prose[ticker] else REMOVED_ALL
    html_ = _macros().ticker(ticker, ev.label, para, ev.removed[ticker], facts,
                             picture(ev.plots[ticker]), tf.notes)  # fmt: skip
    return Section(f"{ticker}{' (' + SYNTHETIC + ')' if ev.label else ''}", str(html_))


def stress_section(s: StressResult, label: str, steps: int) -> Section:
    measures = list(next(iter(s.rows.values())))
    header = ["", *measures]
    rows = [[k, *(f"{v[m]:.2f}" for m in measures)] for k, v in s.rows.items()]
    cols = [c for c in s.worst.columns]
    worst = [
        [(f"{v:.2f}" if isinstance(v, float) else str(v)) for v in r]
        for r in s.worst.itertuples(index=False)
    ]
    fid = [(k, f"{v:.2f}") for k, v in s.fidelity.items()]
    plot = picture(png_img(s.figure, "historical vs synthetic daily returns"))
    html_ = _macros().stress(label, s.run.name, s.n_hist, s.n_synth, header, rows, cols, worst,
                             fid, plot, steps)  # fmt: skip
    return Section("Stress scenarios (SYNTHETIC)", str(html_))


def factcheck_section(ev: Evidence) -> Section:
    c = ev.checks
    summary = (f"{ev.off_topic} of {len(ev.drafts)} drafts were dropped before checking (they "
               "state nothing about their opener's topic). "
               f"{len(c.checks)} claims checked in {c.sentences} drafted sentences: "
               f"{c.verified} verified as drafted, {c.rewritten} rewritten to the "
               f"facts, {c.removed} sentence(s) removed; unverified claims in the final "
               f"prose (fresh re-check): {c.unverified}.")  # fmt: skip
    return Section("Fact-check log", str(_macros().factcheck(c.checks, ev.drafts, summary)))


def data_notes_section(m: Market) -> Section:
    notes = _macros().data_notes(m.skipped, m.ignored_columns, bool(m.fundamentals))
    return Section("Data notes", str(notes))


def write_report(path: Path, ev: Evidence, cfg: FinanceConfig) -> tuple[list[Path], Verdict]:
    """The report (+ PDF with `cfg.pdf`) and its verdict."""
    sections = [about_section(ev, cfg)]
    sections += [ticker_section(ev, t) for t in ev.market.tickers]
    sections.append(stress_section(ev.stress, ev.label, cfg.stress_steps))
    sections += [factcheck_section(ev), data_notes_section(ev.market)]
    verdict = verdict_of(ev.checks, ev.stress, ev.market.synthetic)
    tag = f"[{SYNTHETIC}] " if ev.label else ""
    title = f"{tag}Market report: {ev.company}"
    subtitle = (f"{ev.market.source}; prose by {ev.writer.split(' (')[0]}; "
                f"stress model run {ev.stress.run.name}")  # fmt: skip
    paths = write_recipe_report(path, title=title, subtitle=subtitle, verdict=verdict,
                                sections=sections, pdf=cfg.pdf)  # fmt: skip
    return paths, verdict


# ---------------------------------------------------------------------------------------
# The written page, read back
# ---------------------------------------------------------------------------------------


_PROSE = re.compile(r'<p class="prose">(.*?)</p>', re.DOTALL)


def report_prose(path: Path) -> list[str]:
    """The prose paragraphs of a written report, as plain text (the synthetic tag dropped)."""
    page = Path(path).read_text(encoding="utf-8")
    out = []
    for m in _PROSE.finditer(page):
        text = html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip()
        out.append(text.removeprefix(f"[{SYNTHETIC}] "))
    return out


def recheck_report(path: Path, book: FactBook) -> int:
    """Unverified claims in a written report's prose, checked from scratch (each paragraph with
    its section's ticker as the default subject)."""
    paras = report_prose(path)
    tickers = list(book.tickers)
    if len(paras) != len(tickers):
        raise GenforgeError(f"{path}: {len(paras)} prose paragraphs for {len(tickers)} tickers")
    n = 0
    for t, p in zip(tickers, paras, strict=True):
        if p != REMOVED_ALL:
            n += count_unverified(p, book, t)
    return n
