"""`genforge recipe finance-report`: prices (+ fundamentals) -> facts, plots, checked prose,
synthetic stress scenarios -> one report with a verdict.

    result = run(FinanceConfig(prices="prices.csv", fundamentals="fin.csv", company="ACME",
                               out="report.html"))
    result = run(FinanceConfig(demo=True))        # the embedded synthetic market

Steps (printed as they run):
    1 read the data (or simulate the demo market)   finance_data
    2 compute the facts and plots                    finance_facts
    3 draft the prose with a text model              finance_prose (trains an n-gram Run)
    4 fact-check every number and direction word     factcheck
    5 stress scenarios from a CTGAN on the returns   finance_stress (trains a CTGAN Run)
    6 write the report (Jinja2 sections)             recipes.report
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.evaluate.report import png_img
from genforge.evaluate.result import Section
from genforge.recipes.factcheck import CheckReport, count_unverified, fact_check, split_sentences
from genforge.recipes.finance_data import (
    DEMO_TICKERS,
    Market,
    demo_market,
    read_fundamentals,
    read_prices,
)
from genforge.recipes.finance_facts import FactBook, compute_facts, plot_ticker
from genforge.recipes.finance_prose import (
    Draft,
    HFWriter,
    RunWriter,
    draft_ticker,
    train_commentary_lm,
)
from genforge.recipes.finance_stress import StressResult, stress_test
from genforge.recipes.report import Verdict, write_recipe_report

SYNTHETIC = "SYNTHETIC DATA"
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


@dataclass
class FinanceConfig:
    """Options of one finance report (the CLI's flags)."""

    prices: str | None = None
    fundamentals: str | None = None
    company: str = ""
    out: str = "finance-report.html"
    pdf: bool = False
    demo: bool = False
    seed: int = 0
    demo_days: int = 756  # business days of the demo market (3 years)
    demo_tickers: int = 4  # tickers of the demo market (at most 4)
    lm: str | None = None  # local transformers causal LM folder (writer "lm")
    text_run: str | None = None  # an existing genforge text run (writer "run")
    corpus_sentences: int = 3000
    ngram_n: int = 6
    drafts: int = 5
    stress_steps: int = 300
    stress_samples: int = 5000
    ctgan: dict[str, Any] = field(default_factory=dict)  # CTGAN overrides (tests: tiny nets)
    runs_dir: str | None = None
    name: str | None = None  # run-name prefix (default: the company / "demo")


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


def _template() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("genforge.recipes", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("finance.html.j2").module


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


def _writer(
    cfg: FinanceConfig, folder: Path, prefix: str, say: Callable[[str], None]
) -> tuple[Any, Any]:
    """(writer, its Run or None): a local LM, an existing text run, or a freshly trained n-gram."""
    from genforge.core.run import resolve_run

    if cfg.lm:
        return HFWriter(cfg.lm), None
    if cfg.text_run:
        run = resolve_run(cfg.text_run, cfg.runs_dir)
        return RunWriter(run, f"genforge text run '{run.name}' ({run.read_config()['model']})"), run
    say(f"  training the commentary writer (ngram, n={cfg.ngram_n}) on "
        f"{cfg.corpus_sentences} synthetic commentary sentences")  # fmt: skip
    name = _free(f"{prefix}-commentary-ngram", cfg)
    run = train_commentary_lm(folder, cfg.runs_dir, name, cfg.seed,
                              cfg.corpus_sentences, cfg.ngram_n)  # fmt: skip
    desc = (f"a {cfg.ngram_n}-gram language model (genforge run '{run.name}', Kneser-Ney, BPE "
            f"tokens) trained here on {cfg.corpus_sentences} template-generated commentary "
            "sentences whose numbers and directions are random: it knows the phrasing, not the "
            "facts")  # fmt: skip
    return RunWriter(run, desc), run


def _free(name: str, cfg: FinanceConfig) -> str:
    """`name`, or `name-2`, `name-3`, ... when a run of that name exists (a report re-run)."""
    from genforge.core.run import new_run_path

    return new_run_path(None, name, cfg.runs_dir).name


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "report"


def run(cfg: FinanceConfig, say: Callable[[str], None] = print) -> FinanceResult:
    """Build the report; returns its paths, verdict, checks and the Runs it trained."""
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
    say("[1/6] reading the data" if not cfg.demo else f"[1/6] simulating the {SYNTHETIC} market")
    market = load_market(cfg)
    company = cfg.company or ("Synthetic market (demo)" if market.synthetic else market.tickers[0])
    label = SYNTHETIC if market.synthetic else ""
    prefix = cfg.name or _slug(f"{'demo' if market.synthetic else company}-s{cfg.seed}")
    folder = out.with_name(out.stem + "_data")
    say(f"      {len(market.tickers)} ticker(s): {', '.join(market.tickers)}; "
        f"{sum(len(f) for f in market.prices.values())} price rows")  # fmt: skip
    for s in market.skipped:
        say(f"      skipped {s}")

    say("[2/6] computing facts and plots")
    primary = cfg.company if cfg.company in market.tickers else None
    book = compute_facts(market, primary)
    plots = {t: png_img(plot_ticker(book.of(t), label), f"{t} plots") for t in market.tickers}

    say("[3/6] drafting the prose")
    writer, text_run = _writer(cfg, folder, prefix, say)
    drafts: list[Draft] = []
    for i, t in enumerate(market.tickers):
        drafts += draft_ticker(writer, book, t, cfg.seed + 7919 * i, cfg.drafts)

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

    say(f"[5/6] stress scenarios: CTGAN on the daily returns ({cfg.stress_steps} steps)")
    name = _free(f"{prefix}-returns-ctgan", cfg)
    stress = stress_test(market.prices, folder, cfg.runs_dir, name, cfg.seed,
                         cfg.stress_steps, cfg.stress_samples, label, **cfg.ctgan)  # fmt: skip

    say("[6/6] writing the report")
    tpl = _template()
    tag = f"[{SYNTHETIC}] " if label else ""
    about = tpl.about(company, market.synthetic, market.source, writer.description, cfg.drafts,
                      CHECK_METHOD)  # fmt: skip
    sections = [Section("About this report", str(about))]
    for t in market.tickers:
        tf = book.of(t)
        facts = [(f.label, f.display()) for f in tf.facts.values() if not f.key.startswith("vs_")]
        facts += [(f"{c.kind} cross", c.date) for c in tf.crosses]
        para = (tag + prose[t]) if prose[t] else "(every drafted sentence was removed)"
        sections.append(Section(f"{t}{' (' + SYNTHETIC + ')' if label else ''}",
                                str(tpl.ticker(t, label, para, removed[t], facts, plots[t], tf.notes))))  # fmt: skip
    sections.append(_stress_section(tpl, stress, label, cfg.stress_steps))
    summary = (f"{off} of {len(drafts)} drafts were dropped before checking (they state nothing "
               "about their opener's topic). "
               f"{len(checks.checks)} claims checked in {checks.sentences} drafted sentences: "
               f"{checks.verified} verified as drafted, {checks.rewritten} rewritten to the "
               f"facts, {checks.removed} sentence(s) removed; unverified claims in the final "
               f"prose (fresh re-check): {checks.unverified}.")  # fmt: skip
    sections.append(Section("Fact-check log", str(tpl.factcheck(checks.checks, drafts, summary))))
    sections.append(Section("Data notes", str(tpl.data_notes(market.skipped, market.ignored_columns,
                                                              bool(market.fundamentals)))))  # fmt: skip
    verdict = _verdict(checks, stress, market.synthetic)
    title = f"{tag}Market report: {company}"
    subtitle = (f"{market.source}; prose by {writer.description.split(' (')[0]}; "
                f"stress model run {stress.run.name}")  # fmt: skip
    paths = write_recipe_report(out, title=title, subtitle=subtitle, verdict=verdict,
                                sections=sections, pdf=cfg.pdf)  # fmt: skip
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


def _verdict(checks: CheckReport, stress: StressResult, synthetic: bool) -> Verdict:
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


def _stress_section(tpl: Any, s: StressResult, label: str, steps: int) -> Section:
    measures = list(next(iter(s.rows.values())))
    header = ["", *measures]
    rows = [[k, *(f"{v[m]:.2f}" for m in measures)] for k, v in s.rows.items()]
    cols = [c for c in s.worst.columns]
    worst = [
        [(f"{v:.2f}" if isinstance(v, float) else str(v)) for v in r]
        for r in s.worst.itertuples(index=False)
    ]
    fid = [(k, f"{v:.2f}") for k, v in s.fidelity.items()]
    plot = png_img(s.figure, "historical vs synthetic daily returns")
    return Section("Stress scenarios (SYNTHETIC)",
                   str(tpl.stress(label, s.run.name, s.n_hist, s.n_synth, header, rows, cols,
                                  worst, fid, plot, steps)))  # fmt: skip


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
        if p != "(every drafted sentence was removed)":
            n += count_unverified(p, book, t)
    return n


# ---------------------------------------------------------------------------------------
# Benchmark: many seeded demo reports
# ---------------------------------------------------------------------------------------


def numbers_without_fact(text: str, book: FactBook) -> int:
    """Numbers in `text` that equal no fact of the book at all (same unit, within the shown
    rounding, sign ignored): an audit that does not depend on how claims are tied to facts."""
    from genforge.recipes.factcheck import _tolerance, find_claims

    facts = book.all_facts()
    n = 0
    for sentence in split_sentences(text):
        for c in find_claims(sentence):
            if c.kind != "number":
                continue
            unit = "ratio" if c.unit == "bare" else c.unit
            same = [f for f in facts if f.unit == unit]
            if unit == "date":
                ok = any(f.value == c.value for f in same) or any(
                    x.date == c.value for t in book.tickers.values() for x in t.crosses
                )
            else:
                tol = 0.5 if unit == "count" else _tolerance(c.decimals)
                ok = any(abs(abs(float(f.value)) - abs(float(c.value))) <= tol for f in same)  # type: ignore[arg-type]
            n += not ok
    return n


@dataclass
class BenchRow:
    seed: int
    claims: int
    verified_as_drafted: int
    rewritten: int
    sentences: int
    removed: int
    unverified: int  # fresh re-check of the written report's prose
    without_fact: int  # numbers in the written prose equal to no fact at all
    seconds: float
    verdict: str


def bench_reports(reports: int, folder: Path, runs_dir: str | None, seed: int = 0,
                  stress_steps: int = 100, demo_days: int = 756,
                  say: Callable[[str], None] = print) -> list[BenchRow]:  # fmt: skip
    """`reports` demo reports with seeds seed .. seed + reports - 1; one row per report."""
    import time

    rows = []
    for i in range(reports):
        s = seed + i
        t0 = time.perf_counter()
        cfg = FinanceConfig(demo=True, seed=s, out=str(folder / f"demo-{s}.html"),
                            stress_steps=stress_steps, demo_days=demo_days, runs_dir=runs_dir,
                            name=f"bench-s{s}")  # fmt: skip
        r = run(cfg, say=lambda m: None)
        dt_s = time.perf_counter() - t0
        prose = " ".join(report_prose(r.paths[0]))
        c = r.check
        row = BenchRow(s, len(c.checks), c.verified, c.rewritten, c.sentences, c.removed,
                       r.unverified, numbers_without_fact(prose, r.book), dt_s, r.verdict.level)  # fmt: skip
        say(f"seed {s}: {row.claims} claims, {row.rewritten} rewritten, {row.removed} sentences "
            f"removed, {row.unverified} unverified, {dt_s:.1f} s")  # fmt: skip
        rows.append(row)
    return rows
