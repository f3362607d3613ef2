"""Fact-check prose against a FactBook: every number and direction word is verified, rewritten
to the true value / word, or its sentence is removed.

One pass, per sentence:

1. Claims are found: numbers (percent, $ price, ratio, count with its noun, ISO or
   "March 5, 2024" dates, window labels such as "3-month" / "50-day") and direction words
   (rose/fell, gained/lost, up/down, higher/lower, increase/decline, above/below,
   bullish/bearish, uptrend/downtrend, golden/death cross ...). Any digit no claim covers is an
   unrecognised number.
2. Each claim is tied to the fact it refers to: the ticker named last before it (else the
   section's ticker), and the topic cue nearest before it (else nearest after it): "volatility",
   "drawdown", "3 months", "P/E", "closed at", "200-day", ... A direction word is tied to the
   signed fact of the number it governs, else to the sentence's window / trend / average cue.
3. A claim is *verified* when it matches its fact within the displayed rounding (a claim shown
   with d decimals may differ by at most half a unit in its last place), *wrong* when it does
   not (rewritten to the fact's value or the opposite word), *unidentified* when no single fact
   is found (or the sentence negates a direction word): the sentence is removed.

`fact_check` applies the actions and re-runs the checker on its own output until every claim
left is verified; `CheckReport.unverified` counts what a fresh re-check of the final text does
not verify (zero by construction, asserted in the tests and the benchmark).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from genforge.recipes.finance.facts import Fact, FactBook, TickerFacts, format_value

Verdict = Literal["verified", "wrong", "unidentified"]
Action = Literal["kept", "rewritten", "removed"]

# ---------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------

_MOVE = [("rose", "fell"), ("rise", "fall"), ("rises", "falls"), ("rising", "falling"),
         ("risen", "fallen"), ("gained", "lost"), ("gain", "loss"), ("gains", "losses"),
         ("climbed", "dropped"), ("climbs", "drops"), ("advanced", "declined"),
         ("advance", "decline"), ("advances", "declines"), ("rallied", "slumped"),
         ("surged", "plunged"), ("jumped", "tumbled"), ("up", "down"), ("higher", "lower"),
         ("increase", "decrease"), ("increased", "decreased"), ("grew", "shrank"),
         ("positive", "negative"), ("added", "shed"), ("firmed", "slipped"),
         ("strengthened", "weakened")]  # fmt: skip
_POSITION = [("above", "below")]
_TREND = [("bullish", "bearish"), ("uptrend", "downtrend"), ("upward", "downward")]
_CROSS = [("golden cross", "death cross"), ("golden crosses", "death crosses")]
WORDS: dict[str, tuple[str, int, str]] = {}  # word -> (group, polarity, opposite)
for _group, _pairs in (("move", _MOVE), ("position", _POSITION), ("trend", _TREND),
                       ("cross", _CROSS)):  # fmt: skip
    for _pos, _neg in _pairs:
        WORDS.setdefault(_pos, (_group, 1, _neg))
        WORDS.setdefault(_neg, (_group, -1, _pos))
WORDS["declined"] = ("move", -1, "advanced")
WORDS["decline"] = ("move", -1, "increase")
_WORD_RE = re.compile(
    r"\b(" + "|".join(sorted((re.escape(w) for w in WORDS), key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(r"\b(not|no|never|without|neither|nor)\b|n't\b", re.IGNORECASE)

_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
_TOKEN = re.compile(
    r"(?P<iso>(?<![\w.])\d{4}-\d{2}-\d{2}(?![\w-]))"
    rf"|(?P<mdate>\b(?:{_MONTHS})[a-z]*\.?\s+\d{{1,2}},\s+\d{{4}}\b)"
    r"|(?P<count>(?<![\w.$])\d[\d,]*\s+(?:trading\s+days|sessions|golden\s+cross(?:es)?"
    r"|death\s+cross(?:es)?|crossovers?|crosses)\b)"
    r"|(?P<label>(?<![\w.$])\d+[- ](?:day|week|month|year)s?\b)"
    r"|(?P<wlabel>\b(?:1M|3M|6M|1Y|12M)\b)"
    r"|(?P<num>(?<![\w.$])(?:[-+\u2212]\s?)?\$?\d[\d,]*(?:\.\d+)?(?:\s?%|\s?percent\b|x\b)?)",
)
_NUMBER_OK = re.compile(r"^(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")

# topic cues; the window cues double as the return's cue
_WINDOW_CUES = {
    "1M": r"\b(?:1|one)[- ]month\b|\bpast month\b|\blast month\b|\b1M\b",
    "3M": r"\b(?:3|three)[- ]months?\b|\b3M\b|\bquarter\b",
    "6M": r"\b(?:6|six)[- ]months?\b|\b6M\b|\bhalf[- ]year\b",
    "1Y": r"\b(?:1|one)[- ]year\b|\b(?:12|twelve)[- ]months?\b|\bpast year\b|\b1Y\b|\b12M\b"
    r"|\b52[- ]weeks?\b",
    "YTD": r"\byear[- ]to[- ]date\b|\bYTD\b|\bsince the start of the year\b|\bthis year\b",
    "ALL": r"\bwhole record\b|\bfull record\b|\bentire record\b|\bsince the start of the record\b",
}
_TREND_CUE = r"\btrend(?!s? (?:line )?(?:up|down))|\bslope\b|\bregression\b"
_DRAWDOWN_CUE = r"\bdrawdown|\bpeak[- ]to[- ]trough"
# cue -> {claim unit: fact key}. A claim takes the nearest cue (in its clause first); when that
# cue has no fact of the claim's unit, the claim is about something else and is unidentified.
_CUES: list[tuple[str, dict[str, str]]] = [
    *((pattern, {"pct": f"return.{w}"}) for w, pattern in _WINDOW_CUES.items()),
    (r"\bvolatil", {"pct": "volatility"}),
    (_DRAWDOWN_CUE, {"pct": "drawdown"}),
    (r"\bmargin", {"pct": "margin"}),
    (r"\brevenue|\bsales\b", {"pct": "revenue_growth"}),
    (_TREND_CUE, {"pct": "trend"}),
    (r"\b(?:last|latest|final|most recent) close\b|\bclosed\b|\bclosing price\b"
     r"|\btrad(?:es|ed|ing) at\b|\blast price\b|\bfinished\b", {"price": "close", "date": "last_date"}),
    (r"\bhighest\b|\bhigh\b|\bpeak(?:ed)?\b", {"price": "high", "date": "high_date"}),
    (r"\blowest\b|\blow\b|\btrough\b|\bbottom", {"price": "low", "date": "low_date"}),
    (r"\b50[- ]day\b", {"price": "ma50", "date": "cross"}),
    (r"\b200[- ]day\b", {"price": "ma200", "date": "cross"}),
    (r"\bEPS\b|\bearnings per share\b", {"price": "eps"}),
    (r"\bP/E\b|\bprice[- ]to[- ]earnings\b|\bearnings multiple\b|\btimes earnings\b",
     {"ratio": "pe"}),
    (r"\bP/B\b|\bprice[- ]to[- ]book\b|\btimes book\b", {"ratio": "pb"}),
    (r"\bdebt[- ]to[- ]equity\b|\bdebt/equity\b|\bD/E\b|\bleverage\b", {"ratio": "de"}),
    (r"\bgolden cross|\bdeath cross|\bcrossovers?\b|\bcross(?:ed|es)?\b", {"date": "cross"}),
    (r"\bas of\b", {"date": "last_date"}),
    (r"\bsince\b|\bstart(?:ing|ed|s)?\b|\bbegan\b|\bbegins\b|\bfirst close\b",
     {"date": "first_date"}),
]  # fmt: skip
_DRAWDOWN_DATES = {"high_date": "drawdown_peak", "low_date": "drawdown_trough"}
# a metric the facts do not hold ("price-to-sales", "EV/EBITDA"): a cue that matches no fact
_OTHER_METRIC = (
    r"\b(?:price|debt|earnings|book|sales|cash|enterprise|equity)[- ]to[- ][a-z]+\b"
    r"|\b[A-Z]{1,4}/[A-Z]{1,6}\b|\bdividend|\byield\b|\bbeta\b"
)
# all-capital words that are not tickers
_ACRONYMS = {"P", "E", "B", "D", "EPS", "YTD", "MA", "SMA", "EMA", "US", "USD", "EUR", "CEO",
             "SYNTHETIC", "DATA", "VAR", "ES", "GDP", "IPO", "CTGAN", "LM", "AI", "ETF", "NYSE",
             "EBITDA", "EV", "Q", "FY", "OK", "I", "A"}  # fmt: skip
_MA_CUE = r"\b(?:50|200)[- ]day\b|\bmoving average|\baverage\b"
_SIGNED_KEYS = ("return.", "revenue_growth", "trend")
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[\[(\"'A-Z0-9$])")


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------


@dataclass
class Claim:
    kind: Literal["number", "label", "word", "stray", "subject"]
    text: str
    start: int
    end: int
    unit: str = ""  # pct | price | ratio | count | date | bare | label
    value: float | str | None = None
    decimals: int = 0
    signed: bool = False
    group: str = ""  # words: move | position | trend | cross
    polarity: int = 0
    style: str = ""  # how to write a replacement: "%", " percent", "x", "mdate", ...


@dataclass
class Check:
    """One claim checked: what the text said, the fact it refers to, and what was done."""

    sentence: int
    claim: str
    fact: str
    verdict: Verdict
    action: Action
    replacement: str = ""
    ticker: str = ""


@dataclass
class _Resolved:
    claim: Claim
    fact: Fact | None
    verdict: Verdict
    replacement: str = ""
    why: str = ""


@dataclass
class CheckReport:
    """The final text, every check made, and the count a fresh re-check does not verify."""

    text: str
    checks: list[Check] = field(default_factory=list)
    sentences: int = 0
    removed: int = 0
    unverified: int = 0  # claims in the final text that a fresh check does not verify

    @property
    def verified(self) -> int:
        return sum(c.verdict == "verified" for c in self.checks)

    @property
    def rewritten(self) -> int:
        return sum(c.action == "rewritten" for c in self.checks)


# ---------------------------------------------------------------------------------------
# Finding claims
# ---------------------------------------------------------------------------------------


def split_sentences(text: str) -> list[str]:
    return [s for s in (p.strip() for p in _SENT_SPLIT.split(text.strip())) if s]


def _mask(sentence: str, names: list[str]) -> tuple[str, list[tuple[int, str]]]:
    """Ticker names replaced by same-length filler (their digits are not claims); mentions."""
    mentions = []
    for name in sorted(names, key=len, reverse=True):
        for m in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", sentence):
            mentions.append((m.start(), name))
            sentence = sentence[: m.start()] + "#" * len(name) + sentence[m.end() :]
    return sentence, sorted(mentions)


def _parse_mdate(text: str) -> str | None:
    t = re.sub(r"\s+", " ", text.replace(".", ""))
    for fmt in ("%B %d, %Y", "%b %d, %Y"):
        try:
            return dt.datetime.strptime(t.replace("Sept ", "Sep "), fmt).strftime("%Y-%m-%d")
        except ValueError:
            continue
    return None


def find_claims(sentence: str) -> list[Claim]:
    """Number, label and direction-word claims of one (ticker-masked) sentence, in order."""
    claims: list[Claim] = []
    covered = [False] * len(sentence)
    for m in _TOKEN.finditer(sentence):
        kind, text = m.lastgroup, m.group()
        s, e = m.span()
        for i in range(s, e):
            covered[i] = True
        if kind == "iso":
            try:
                value = dt.date.fromisoformat(text).isoformat()
            except ValueError:
                claims.append(Claim("stray", text, s, e))
                continue
            claims.append(Claim("number", text, s, e, "date", value, style="iso"))
        elif kind == "mdate":
            value = _parse_mdate(text)
            claims.append(Claim("number", text, s, e, "date", value, style="mdate") if value
                          else Claim("stray", text, s, e))  # fmt: skip
        elif kind == "count":
            num = re.match(r"[\d,]+", text).group()  # type: ignore[union-attr]
            noun = re.sub(r"\s+", " ", text[len(num) :].strip().lower())
            ok = _NUMBER_OK.match(num)
            claims.append(Claim("number", text, s, e, "count", float(num.replace(",", "")),
                                style=noun) if ok else Claim("stray", text, s, e))  # fmt: skip
        elif kind in ("label", "wlabel"):
            claims.append(Claim("label", text, s, e, "label", text))
        else:
            claims.append(_number_claim(text, s, e))
    for i, ch in enumerate(sentence):  # a digit no token explains is an unrecognised number
        if ch.isdigit() and not covered[i]:
            claims.append(Claim("stray", ch, i, i + 1))
            break
    for m in _WORD_RE.finditer(sentence):
        if any(covered[i] for i in range(*m.span())):
            continue  # part of a count ("2 golden crosses")
        word = re.sub(r"\s+", " ", m.group().lower())
        group, polarity, _ = WORDS[word]
        claims.append(Claim("word", m.group(), *m.span(), group=group, polarity=polarity))
    return sorted(claims, key=lambda c: c.start)


def _number_claim(text: str, s: int, e: int) -> Claim:
    body = text
    signed = bool(re.match(r"[-+\u2212]", body))
    negative = bool(re.match(r"[-\u2212]", body))
    body = re.sub(r"^[-+\u2212]\s?", "", body)
    style = ""
    if body.endswith("%"):
        unit, style, body = "pct", "%", body[:-1].rstrip()
    elif body.endswith("percent"):
        unit, style, body = "pct", " percent", body[: -len("percent")].rstrip()
    elif body.endswith("x"):
        unit, style, body = "ratio", "x", body[:-1]
    elif body.startswith("$"):
        unit, body = "price", body[1:]
    else:
        unit = "bare"
    if body.startswith("$"):  # "$12%" and the like
        return Claim("stray", text, s, e)
    if not _NUMBER_OK.match(body):
        return Claim("stray", text, s, e)
    value = float(body.replace(",", "")) * (-1 if negative else 1)
    decimals = len(body.split(".")[1]) if "." in body else 0
    return Claim("number", text, s, e, unit, value, decimals, signed, style=style)


# ---------------------------------------------------------------------------------------
# Tying claims to facts
# ---------------------------------------------------------------------------------------


def _cues(sentence: str, in_drawdown: bool = False) -> list[tuple[int, int, dict[str, str]]]:
    """(start, end, {unit: fact key}) of every topic cue in the sentence."""
    out = []
    for pattern, keys in _CUES:
        if in_drawdown and "date" in keys and keys["date"] in _DRAWDOWN_DATES:
            keys = {**keys, "date": _DRAWDOWN_DATES[keys["date"]]}
        for m in re.finditer(pattern, sentence, re.IGNORECASE):
            out.append((m.start(), m.end(), keys))
    for m in re.finditer(_OTHER_METRIC, sentence):
        if not any(a < m.end() and m.start() < b for a, b, _ in out):
            out.append((m.start(), m.end(), {}))
    return out


_CLAUSE = re.compile(r"[,;:]|\s(?:while|whereas|but|and|although|though)\s", re.IGNORECASE)


def _clause(sentence: str, pos: int) -> tuple[int, int]:
    """(start, end) of the clause of `sentence` holding position `pos`."""
    start, end = 0, len(sentence)
    for m in _CLAUSE.finditer(sentence):
        if m.end() <= pos:
            start = m.end()
        elif m.start() >= pos:
            end = m.start()
            break
    return start, end


def _nearest(
    cues: list[tuple[int, int, Any]], pos: int, clause: tuple[int, int] | None = None
) -> Any:
    """The key of the cue nearest `pos` in its clause (ending before it first, else starting
    after it), else the same rule over the whole sentence."""
    if clause is not None:
        inside = [c for c in cues if c[0] >= clause[0] and c[1] <= clause[1]]
        key = _nearest(inside, pos)
        if key is not None:
            return key
    before = [c for c in cues if c[1] <= pos]
    if before:
        return max(before, key=lambda c: c[1])[2]
    after = [c for c in cues if c[0] >= pos]
    return min(after, key=lambda c: c[0])[2] if after else None


def _ticker_at(pos: int, mentions: list[tuple[int, str]], default: str) -> str:
    before = [t for p, t in mentions if p <= pos]
    if before:
        return before[-1]
    return mentions[0][1] if mentions else default


def tolerance(decimals: int) -> float:
    return 0.5 * 10.0**-decimals + 1e-9


def _label_ok(text: str) -> bool:
    t = text.upper()
    if t in ("1M", "3M", "6M", "1Y", "12M"):
        return True
    m = re.match(r"(\d+)[- ](DAY|WEEK|MONTH|YEAR)S?$", t)
    if not m:
        return False
    n, unit = int(m.group(1)), m.group(2)
    return {"DAY": n in (50, 200, 21, 63, 126, 252), "WEEK": n == 52,
            "MONTH": n in (1, 3, 6, 12), "YEAR": n == 1}[unit]  # fmt: skip


class _Sentence:
    """One sentence analysed against a ticker's facts."""

    def __init__(self, sentence: str, book: FactBook, default: str):
        self.raw = sentence
        self.masked, self.mentions = _mask(sentence, list(book.tickers))
        self.book, self.default = book, default
        self.claims = find_claims(self.masked)
        self.negated = bool(_NEGATION.search(self.masked))
        self.in_drawdown = bool(re.search(_DRAWDOWN_CUE, self.masked, re.IGNORECASE))
        self.about_cross = bool(re.search(r"\bcross(?:ed|es|ing|overs?)?\b", self.masked, re.I))
        known = set(book.tickers)
        for m in re.finditer(r"\b[A-Z][A-Z0-9.]{1,5}\b", self.masked):
            if m.group() not in known and m.group() not in _ACRONYMS:  # another company
                self.claims.append(Claim("subject", m.group(), m.start(), m.end()))

    def facts_at(self, pos: int) -> TickerFacts:
        return self.book.of(_ticker_at(pos, self.mentions, self.default))

    # -- numbers ----------------------------------------------------------------------
    def fact_of_number(self, c: Claim) -> Fact | None:
        tf = self.facts_at(c.start)
        if c.unit == "count":
            key = {"trading days": "days", "sessions": "days", "golden cross": "crosses.golden",
                   "golden crosses": "crosses.golden", "death cross": "crosses.death",
                   "death crosses": "crosses.death"}.get(c.style, "crosses")  # fmt: skip
            return tf.get(key)
        key = self._key(c)
        return tf.get(key) if key and key != "cross" else None

    def _key(self, c: Claim) -> str | None:
        """The fact key of a number claim from its nearest cue ("cross" for crossover dates)."""
        unit = "ratio" if c.unit == "bare" else c.unit
        keys = _nearest(
            _cues(self.masked, self.in_drawdown), c.start, _clause(self.masked, c.start)
        )
        return keys.get(unit) if keys else None

    def _date_key(self, c: Claim, tf: TickerFacts) -> str | None:
        key = self._key(c)
        return None if key == "cross" else (key or "?")

    def compare_number(self, c: Claim, f: Fact) -> _Resolved:
        if c.unit == "date" or f.unit == "date":
            if c.unit != "date" or f.unit != "date":
                return _Resolved(c, f, "unidentified", why="a date against a number")
            ok = c.value == f.value
            return _Resolved(c, f, "verified" if ok else "wrong", "" if ok else _write_date(f, c))
        if c.unit == "count":
            ok = abs(float(c.value) - float(f.value)) < 0.5  # type: ignore[arg-type]
            n = round(float(f.value))
            return _Resolved(
                c, f, "verified" if ok else "wrong", "" if ok else f"{n} {_noun(c.style, n)}"
            )
        unit_ok = {"pct": ("pct",), "price": ("price",), "ratio": ("ratio",),
                   "bare": ("ratio",)}.get(c.unit, ())  # fmt: skip
        if f.unit not in unit_ok:
            return _Resolved(c, f, "unidentified", why=f"a {c.unit} claim against a {f.unit} fact")
        truth = float(f.value)
        claim = float(c.value)  # type: ignore[arg-type]
        magnitude = f.key == "drawdown" or (
            f.key.startswith(_SIGNED_KEYS) and not c.signed and self._governed(c)
        )
        if magnitude:
            truth, claim = abs(truth), abs(claim)
        ok = abs(claim - truth) <= tolerance(c.decimals)
        if ok:
            return _Resolved(c, f, "verified")
        return _Resolved(c, f, "wrong", _write_number(truth, c, f))

    def _governed(self, c: Claim) -> bool:
        """A move / trend word sits in the same sentence (it carries the sign of the number)."""
        return any(w.kind == "word" and w.group in ("move", "trend") for w in self.claims)

    # -- words ------------------------------------------------------------------------
    def fact_of_word(self, w: Claim, numbers: dict[int, Fact | None]) -> Fact | str | None:
        tf = self.facts_at(w.start)
        s = self.masked
        if w.group == "position" or (
            w.group == "move"
            and w.text.lower() in ("higher", "lower", "up", "down")
            and re.search(_MA_CUE, s, re.IGNORECASE)
            and not any(f is not None and f.key.startswith(_SIGNED_KEYS) for f in numbers.values())
        ):
            has50 = re.search(r"\b50[- ]day\b", s, re.IGNORECASE)
            has200 = re.search(r"\b200[- ]day\b", s, re.IGNORECASE)
            if has50 and has200:
                if re.search(r"\bboth\b", s, re.IGNORECASE):
                    a, b = tf.get("vs_ma50"), tf.get("vs_ma200")
                    return a if a and b and a.sign == b.sign else None
                return tf.get("ma50_vs_ma200")
            return tf.get("vs_ma50" if has50 else "vs_ma200" if has200 else "")
        if w.group == "trend":
            return tf.get("trend")
        if w.group == "cross":
            return "cross"
        # move words: the signed fact of the nearest number they govern, else the cues
        signed = [(c.start, f) for c in self.claims if c.kind == "number"
                  and (f := numbers.get(c.start)) is not None and f.key.startswith(_SIGNED_KEYS)]  # fmt: skip
        a, b = _clause(s, w.start)
        signed = [x for x in signed if a <= x[0] < b] or signed
        after = [x for x in signed if x[0] > w.start]
        if after:
            return min(after, key=lambda x: x[0])[1]
        if signed:
            return max(signed, key=lambda x: x[0])[1]
        cues = [(a, b, k["pct"]) for a, b, k in _cues(s)
                if k.get("pct", "").startswith(_SIGNED_KEYS)]  # fmt: skip
        key = _nearest(cues, w.start, _clause(s, w.start))
        return tf.get(key) if key else None

    def resolve(self) -> list[_Resolved]:
        out: list[_Resolved] = []
        numbers: dict[int, Fact | None] = {}
        for c in self.claims:
            if c.kind == "number":
                numbers[c.start] = self.fact_of_number(c)
        cross_dates = self._cross_dates()
        for c in self.claims:
            if c.kind == "stray":
                out.append(_Resolved(c, None, "unidentified", why="unrecognised number"))
            elif c.kind == "subject":
                out.append(_Resolved(c, None, "unidentified", why="a company without facts here"))
            elif c.kind == "label":
                ok = _label_ok(c.text)
                out.append(_Resolved(c, None, "verified" if ok else "unidentified",
                                     why="" if ok else "unknown window"))  # fmt: skip
            elif c.kind == "number":
                if c.start in cross_dates:
                    out.append(cross_dates[c.start])
                    continue
                f = numbers[c.start]
                out.append(self.compare_number(c, f) if f else _Resolved(c, None, "unidentified",
                                                                           why="no single fact"))  # fmt: skip
            else:
                out.append(self._word(c, numbers, cross_dates))
        return out

    def _word(self, w: Claim, numbers: dict, cross_dates: dict) -> _Resolved:
        if self.negated:
            return _Resolved(w, None, "unidentified", why="negated direction word")
        if w.group == "position" and self.about_cross:  # "crossed above": the event's kind
            return self._cross_word(w, cross_dates)
        f = self.fact_of_word(w, numbers)
        if f == "cross":
            return self._cross_word(w, cross_dates)
        if not isinstance(f, Fact) or f.sign is None:
            return _Resolved(w, None, "unidentified", why="no signed fact")
        if f.sign == w.polarity:
            return _Resolved(w, f, "verified")
        return _Resolved(w, f, "wrong", _opposite(w.text))

    # -- crossovers: a cross word and its date are checked together --------------------
    def _cross_pairs(self) -> list[tuple[Claim, Claim | None]]:
        """Each cross word (and, in a sentence about a crossover, each above/below) with the
        crossover date nearest after it, else nearest before it (None without one)."""
        words = [c for c in self.claims if c.kind == "word" and (c.group == "cross" or (
            c.group == "position" and self.about_cross))]  # fmt: skip
        dates = [c for c in self.claims if c.kind == "number" and c.unit == "date"
                 and self._date_key(c, self.facts_at(c.start)) is None]  # fmt: skip
        pairs = []
        for w in words:
            after = [d for d in dates if d.start > w.start]
            before = [d for d in dates if d.start < w.start]
            d = (min(after, key=lambda d: d.start) if after else
                 max(before, key=lambda d: d.start) if before else None)  # fmt: skip
            pairs.append((w, d))
        return pairs

    def _cross_dates(self) -> dict[int, _Resolved]:
        """Each paired crossover date: verified (a cross that day), wrong (moved to the last
        cross of its word's kind; cross words come first) or unidentified."""
        out: dict[int, _Resolved] = {}
        pairs = sorted(self._cross_pairs(), key=lambda p: p[0].group != "cross")
        for w, d in pairs:
            if d is None or d.start in out:  # the first word on a date places it
                continue
            tf = self.facts_at(d.start)
            kind = "golden" if w.polarity > 0 else "death"
            on_day = [x for x in tf.crosses if x.date == d.value]
            last = tf.get(f"cross.{kind}")
            if on_day:
                fact = Fact(tf.ticker, "cross.on", f"{on_day[0].kind} cross on {d.value}",
                            str(d.value), "date")  # fmt: skip
                out[d.start] = _Resolved(d, fact, "verified")
            elif last is not None and "crosses.golden" in tf.facts:
                out[d.start] = _Resolved(d, last, "wrong", _write_date(last, d))
            else:
                out[d.start] = _Resolved(d, None, "unidentified", why=f"no {kind} cross")
        return out

    def _cross_word(self, w: Claim, cross_dates: dict[int, _Resolved]) -> _Resolved:
        tf = self.facts_at(w.start)
        if "crosses" not in tf.facts:
            return _Resolved(w, None, "unidentified", why="no crossover facts")
        kind = "golden" if w.polarity > 0 else "death"
        pair = dict((id(a), b) for a, b in self._cross_pairs()).get(id(w))
        if pair is not None:
            r = cross_dates.get(pair.start)
            if r is None or r.verdict == "unidentified":
                return _Resolved(w, None, "unidentified", why="its date is not a crossover")
            if r.verdict == "wrong":  # the date is rewritten to the last cross of a kind
                assert r.fact is not None
                same = r.fact.key == f"cross.{kind}"
                return _Resolved(w, r.fact, "verified" if same else "wrong",
                                 "" if same else _opposite(w.text))  # fmt: skip
            event = next(x for x in tf.crosses if x.date == pair.value)
            fact = Fact(tf.ticker, "cross.on", f"{event.kind} cross on {event.date}",
                        event.date, "date")  # fmt: skip
            if event.kind == kind:
                return _Resolved(w, fact, "verified")
            return _Resolved(w, fact, "wrong", _opposite(w.text))
        if not tf.crosses:
            return _Resolved(w, None, "unidentified", why="no crossovers in the record")
        last = tf.crosses[-1]
        fact = Fact(tf.ticker, "cross.last", "most recent crossover", f"{last.kind} cross", "date")
        if last.kind == kind:
            return _Resolved(w, fact, "verified")
        return _Resolved(w, fact, "wrong", _opposite(w.text))


# ---------------------------------------------------------------------------------------
# Writing replacements
# ---------------------------------------------------------------------------------------


_SINGULAR = {"golden crosses": "golden cross", "death crosses": "death cross", "crossovers":
             "crossover", "crosses": "cross", "trading days": "trading day", "sessions": "session"}  # fmt: skip


def _noun(noun: str, n: int) -> str:
    """The count noun in the number `n` asks for ("1 golden cross", "2 golden crosses")."""
    singular = _SINGULAR.get(noun, noun)
    plural = next((p for p, s in _SINGULAR.items() if s == singular), noun)
    return singular if n == 1 else plural


def _opposite(word: str) -> str:
    key = re.sub(r"\s+", " ", word.lower())
    new = WORDS[key][2]
    return new[0].upper() + new[1:] if word[0].isupper() else new


def _article(head: str, word: str) -> str:
    """`head` (the text before `word`) with a trailing "a"/"an" agreeing with `word`."""
    n = "n" if word[:1].lower() in "aeiou" else ""
    return re.sub(r"\b([Aa])n?(\s+)$", lambda m: m.group(1) + n + m.group(2), head)


def _write_date(f: Fact, c: Claim) -> str:
    if c.style == "mdate":
        d = dt.date.fromisoformat(str(f.value))
        return f"{d.strftime('%B')} {d.day}, {d.year}"
    return str(f.value)


def _write_number(truth: float, c: Claim, f: Fact) -> str:
    sign = ""
    if c.signed:
        sign = "+" if truth > 0 else "-" if truth < 0 else ""
        truth = abs(truth)
    if c.unit == "pct":
        if f.key == "drawdown" and c.value is not None and float(c.value) < 0:
            sign = "-"  # keep the writer's style for a drawdown: "-23.4%"
        return f"{sign}{truth:.{f.decimals}f}{c.style or '%'}"
    if c.unit == "price":
        return f"{sign}${truth:,.{f.decimals}f}"
    if c.unit in ("ratio", "bare"):
        return f"{sign}{truth:.{f.decimals}f}{'x' if c.style == 'x' else ''}"
    return sign + format_value(truth, f.unit, f.decimals)


# ---------------------------------------------------------------------------------------
# The pass
# ---------------------------------------------------------------------------------------


def _fact_text(r: _Resolved) -> str:
    if r.fact is None:
        return f"none ({r.why})" if r.why else "none"
    f = r.fact
    if f.key in ("cross.last", "cross.on"):
        return f"{f.ticker} {f.label}" + (f": {f.value}" if f.key == "cross.last" else "")
    value = f.display()
    if r.claim.kind == "word" and f.sign is not None and f.key not in ("cross.on", "cross.last"):
        value = f"{f.display()} ({'positive' if f.sign > 0 else 'negative'})"
    return f"{f.ticker} {f.label}: {value}"


def check_sentence(sentence: str, book: FactBook, ticker: str) -> list[_Resolved]:
    """Every claim of one sentence tied to its fact (no changes made)."""
    return _Sentence(sentence, book, ticker).resolve()


def _last_ticker(sentence: str, book: FactBook, default: str) -> str:
    _, mentions = _mask(sentence, list(book.tickers))
    return mentions[-1][1] if mentions else default


def fact_check(
    text: str, book: FactBook, ticker: str | None = None, max_rounds: int = 4
) -> CheckReport:
    """Check `text` against `book`: rewrite wrong claims, remove unidentifiable sentences,
    re-check the result until clean; `ticker` is the default subject (else the book's primary)."""
    default = ticker or book.primary
    sentences = split_sentences(text)
    report = CheckReport(text="", sentences=len(sentences))
    kept: list[str] = []
    subject = default
    for i, s in enumerate(sentences):
        resolved = check_sentence(s, book, subject)
        remove = any(r.verdict == "unidentified" for r in resolved)
        new = s
        for r in sorted(resolved, key=lambda r: r.claim.start, reverse=True):
            if not remove and r.verdict == "wrong":
                head = new[: r.claim.start]
                if r.claim.kind == "word":
                    head = _article(head, r.replacement)
                new = head + r.replacement + new[r.claim.end :]
        for r in resolved:
            if r.claim.kind == "label" and r.verdict == "verified":
                continue  # labels ("3-month") are listed only when they fail
            action: Action = ("removed" if remove else
                              "rewritten" if r.verdict == "wrong" else "kept")  # fmt: skip
            report.checks.append(Check(i + 1, r.claim.text, _fact_text(r), r.verdict, action,
                                       r.replacement if action == "rewritten" else "",
                                       r.fact.ticker if r.fact else ""))  # fmt: skip
        subject = _last_ticker(s, book, subject)
        if remove:
            report.removed += 1
        else:
            kept.append(new)
    # re-check the output: a rewrite must itself verify; anything that does not is removed
    for _ in range(max_rounds):
        bad = _unverified_sentences(kept, book, default)
        if not bad:
            break
        for j in sorted(bad, reverse=True):
            report.checks.append(Check(0, kept[j], "re-check of the rewritten sentence failed",
                                       "unidentified", "removed"))  # fmt: skip
            report.removed += 1
            del kept[j]
    report.text = " ".join(kept)
    report.unverified = count_unverified(report.text, book, default)
    return report


def _unverified_sentences(sentences: list[str], book: FactBook, default: str) -> list[int]:
    bad, subject = [], default
    for j, s in enumerate(sentences):
        if any(r.verdict != "verified" for r in check_sentence(s, book, subject)):
            bad.append(j)
        subject = _last_ticker(s, book, subject)
    return bad


def count_unverified(text: str, book: FactBook, ticker: str | None = None) -> int:
    """Claims in `text` (numbers, labels, direction words) a fresh check does not verify."""
    subject, n = ticker or book.primary, 0
    for s in split_sentences(text):
        n += sum(r.verdict != "verified" for r in check_sentence(s, book, subject))
        subject = _last_ticker(s, book, subject)
    return n
