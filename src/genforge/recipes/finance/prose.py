"""Prose for the finance report: a text model completes sentence openers, one per fact topic.

The writer is one of
    a genforge text Run   an n-gram (default) or any text run; the default is trained here by
                          `train("ngram", ...)` on a seeded corpus of market-commentary sentences
                          whose numbers, dates and directions are drawn at random: it learns the
                          phrasing, never the facts
    a local causal LM     `--lm PATH`, a transformers folder (safetensors, loaded offline); its
                          prompt starts with the facts, which a capable model may copy

Either way the drafts are not trusted: `factcheck.fact_check` verifies every number and
direction word afterwards. With `drafts > 1` each opener is completed several times (seeded)
and the draft with the fewest failed checks is kept (best-of-n with the checker as the judge).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from genforge.core.errors import GenforgeError
from genforge.recipes.finance.config import FinanceConfig, Say
from genforge.recipes.finance.factcheck import check_sentence, split_sentences
from genforge.recipes.finance.facts import FactBook, TickerFacts

# ---------------------------------------------------------------------------------------
# The commentary corpus (what the default writer learns its phrasing from)
# ---------------------------------------------------------------------------------------

SUBJECT = "XYZ"  # the corpus's one subject; openers name it and the ticker replaces it after
_WINDOWS = {"1M": "past month", "3M": "past three months", "6M": "past six months",
            "1Y": "past year"}  # fmt: skip
_UP = ["rose", "gained", "climbed", "advanced", "rallied"]
_DOWN = ["fell", "lost", "dropped", "declined", "slumped"]
_REASONS = ["as investors weighed the outlook", "on steady buying", "amid heavy trading",
            "as sentiment shifted", "in a choppy market", "with broad participation",
            "despite mixed signals", "as the sector rotated"]  # fmt: skip

# topic -> templates; {s} subject, {d} direction verb, {p} percent, {q} second percent,
# {m} a price, {n} a second price, {r} ratio, {c} count, {t}/{u} dates, {w} window phrase,
# {pos} above/below, {atr} an uptrend/a downtrend, {x} golden/death, {why} a reason
TEMPLATES: dict[str, list[str]] = {
    "return": ["Over the {w}, {s} shares {d} {p} {why}.",
               "Over the {w}, {s} shares {d} {p}, while volatility stayed elevated.",
               "Over the {w}, {s} shares {d} {p} and closed at {m}."],
    "ytd": ["Year to date, {s} shares {d} {p} {why}.",
            "Year to date, {s} shares {d} {p}, a move that stands out in the record."],
    "volatility": ["{s}'s annualised volatility was {p}, {why}.",
                   "{s}'s annualised volatility was {p} over the record."],
    "drawdown": ["The maximum drawdown of {s} was {p}, from a peak on {t} to a trough on {u}.",
                 "The maximum drawdown of {s} was {p}, reached on {u}."],
    "trend": ["The regression trend of {s} is {atr}, with a slope of {p} a year.",
              "The regression trend of {s} points to {atr} of {p} a year."],
    "close": ["{s} last closed at {m}, {pos} its 200-day moving average of {n}.",
              "{s} last closed at {m}, {pos} its 50-day moving average of {n}."],
    "cross": ["The 50-day moving average of {s} formed a {x} cross on {t}.",
              "The 50-day moving average of {s} crossed the 200-day average on {t}, a {x} cross.",
              "The 50-day moving average of {s} has made {c} crossovers of the 200-day average."],
    "valuation": ["On valuation, {s} trades at a P/E of {r} and a price-to-book of {r2}.",
                  "On valuation, {s} trades at a P/E of {r}."],
    "margin": ["{s}'s net margin was {p}, {why}.", "{s}'s net margin was {p} in the latest period."],
    "leverage": ["{s}'s debt-to-equity ratio was {r}.",
                 "{s}'s debt-to-equity ratio was {r}, a balance sheet to watch."],
    "revenue": ["{s}'s revenue {d} {p} from the previous period.",
                "{s}'s revenue {d} {p} {why}."],
}  # fmt: skip


def _date(rng: random.Random) -> str:
    return f"{rng.randint(2019, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def commentary_corpus(n: int = 3000, seed: int = 0) -> list[str]:
    """`n` seeded commentary sentences, numbers and directions drawn at random."""
    rng = random.Random(seed)
    topics = sorted(TEMPLATES)
    out = []
    for _ in range(n):
        topic = rng.choice(topics)
        up = rng.random() < 0.5
        fill = {
            "s": SUBJECT, "w": _WINDOWS[rng.choice(list(_WINDOWS))],
            "d": rng.choice(_UP if up else _DOWN), "p": f"{rng.uniform(0.1, 60):.1f}%",
            "m": f"${rng.uniform(5, 400):.2f}", "n": f"${rng.uniform(5, 400):.2f}",
            "r": f"{rng.uniform(0.1, 45):.1f}", "r2": f"{rng.uniform(0.5, 12):.1f}",
            "c": str(rng.randint(0, 6)), "t": _date(rng), "u": _date(rng),
            "pos": "above" if up else "below", "atr": "an uptrend" if up else "a downtrend",
            "x": "golden" if up else "death", "why": rng.choice(_REASONS),
        }  # fmt: skip
        out.append(rng.choice(TEMPLATES[topic]).format(**fill))
    return out


def write_corpus(path: Path, sentences: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps({"text": s}) for s in sentences) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------


class Writer(Protocol):
    description: str

    def complete(self, prompt: str, facts: str, seed: int, subject: str) -> str: ...


class RunWriter:
    """A genforge text Run (n-gram, LSTM or GPT) completing openers by seeded sampling."""

    def __init__(self, run: Any, description: str):
        from genforge.generate.text import TextPipeline

        self.pipe = TextPipeline(run)
        self.run, self.description = run, description

    def complete(self, prompt: str, facts: str, seed: int, subject: str) -> str:
        """The continuation of `prompt`; the subject is written as the corpus's placeholder
        (a ticker the model never saw would break its n-gram contexts) and put back after."""
        from genforge.generate.text import DecodeOptions

        prompt = prompt.replace(subject, SUBJECT)
        ctx = self.pipe.context
        m = (
            48
            if ctx is None
            else max(1, min(48, ctx - len(self.pipe.tokenizer.encode(prompt)) - 1))
        )
        opts = DecodeOptions(do_sample=True, temperature=0.9, top_k=40, max_new_tokens=m,
                             seed=seed, truncate=True)  # fmt: skip
        text = self.pipe.generate([prompt], opts)[0][0].text
        return re.sub(rf"\b{SUBJECT}\b", subject, text)


class HFWriter:
    """A local transformers causal LM folder (never downloaded; safetensors only)."""

    def __init__(self, path: str):
        from transformers import AutoTokenizer

        from genforge.models.lm import load_pretrained

        self.model = load_pretrained(path).eval()
        try:
            self.tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as e:
            raise GenforgeError(
                f"--lm {path}: no usable tokenizer there ({str(e).splitlines()[0]})"
            ) from None
        self.description = f"local pretrained causal LM at {path} ({type(self.model).__name__})"

    def complete(self, prompt: str, facts: str, seed: int, subject: str) -> str:
        import torch

        text = f"{facts}\n{prompt}"
        ids = self.tok(text, return_tensors="pt").input_ids
        ctx = getattr(self.model.config, "n_positions", None) or getattr(
            self.model.config, "max_position_embeddings", 1024
        )
        new = max(1, min(48, ctx - 1 - ids.shape[1]))
        if ids.shape[1] + new > ctx:
            ids = self.tok(prompt, return_tensors="pt").input_ids[:, -(ctx // 2) :]
            new = max(1, min(48, ctx - 1 - ids.shape[1]))
        eos = self.tok.eos_token_id if self.tok.eos_token_id is not None else 0
        torch.manual_seed(seed)
        with torch.no_grad():
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True,
                                      top_k=40, max_new_tokens=new, pad_token_id=eos,
                                      eos_token_id=eos)  # fmt: skip
        return self.tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def train_commentary_lm(folder: Path, runs_dir: Any, name: str, seed: int = 0,
                        sentences: int = 3000, n: int = 4) -> Any:  # fmt: skip
    """Train the default writer: an n-gram LM (BPE tokens) on the commentary corpus."""
    from genforge.train.launch import train

    corpus = write_corpus(folder / f"{name}.commentary.jsonl", commentary_corpus(sentences, seed))
    return train("ngram", str(corpus), name=name, runs_dir=runs_dir, tokenizer="bpe",
                 vocab_size=800, n=n, dedup="exact", pii="keep", val_fraction=0.05, seed=seed)  # fmt: skip


def free_run_name(name: str, runs_dir: str | None) -> str:
    """`name`, or `name-2`, `name-3`, ... when a run of that name exists (a report re-run)."""
    from genforge.core.run import new_run_path

    return new_run_path(None, name, runs_dir).name


def choose_writer(cfg: FinanceConfig, folder: Path, prefix: str, say: Say) -> tuple[Any, Any]:
    """(writer, its Run or None): a local LM, an existing text run, or a freshly trained n-gram."""
    from genforge.core.run import resolve_run

    if cfg.lm:
        return HFWriter(cfg.lm), None
    if cfg.text_run:
        run = resolve_run(cfg.text_run, cfg.runs_dir)
        return RunWriter(run, f"genforge text run '{run.name}' ({run.read_config()['model']})"), run
    say(f"  training the commentary writer (ngram, n={cfg.ngram_n}) on "
        f"{cfg.corpus_sentences} synthetic commentary sentences")  # fmt: skip
    name = free_run_name(f"{prefix}-commentary-ngram", cfg.runs_dir)
    run = train_commentary_lm(folder, cfg.runs_dir, name, cfg.seed,
                              cfg.corpus_sentences, cfg.ngram_n)  # fmt: skip
    desc = (f"a {cfg.ngram_n}-gram language model (genforge run '{run.name}', Kneser-Ney, BPE "
            f"tokens) trained here on {cfg.corpus_sentences} template-generated commentary "
            "sentences whose numbers and directions are random: it knows the phrasing, not the "
            "facts")  # fmt: skip
    return RunWriter(run, desc), run


# ---------------------------------------------------------------------------------------
# Openers and drafting
# ---------------------------------------------------------------------------------------


@dataclass
class Draft:
    ticker: str
    topic: str
    prompt: str
    text: str  # the full drafted sentence (opener + completion)
    failed: int  # claims the checker did not verify as drafted
    claims: int
    unidentified: int = 0  # of those, claims tied to no fact (the sentence would be removed)
    on_topic: bool = True  # a claim states the fact its opener asks about; if not, dropped


# opener topic -> fact keys (prefixes) a draft must state something about
TOPIC_FACTS = {"volatility": ("volatility",), "drawdown": ("drawdown",), "trend": ("trend",),
               "close": ("close",), "cross": ("cross", "crosses"), "valuation": ("pe", "pb"),
               "margin": ("margin",), "leverage": ("de",), "revenue": ("revenue_growth",)}  # fmt: skip


def openers(tf: TickerFacts) -> list[tuple[str, str]]:
    """(topic, opener) for each topic the ticker's facts can answer."""
    s, f = tf.ticker, tf.facts
    out = []
    for w in ("1M", "3M", "1Y"):
        if f"return.{w}" in f:
            out.append((f"return.{w}", f"Over the {_WINDOWS[w]}, {s} shares"))
    if "return.YTD" in f:
        out.append(("return.YTD", f"Year to date, {s} shares"))
    out.append(("volatility", f"{s}'s annualised volatility"))
    out.append(("drawdown", f"The maximum drawdown of {s}"))
    out.append(("trend", f"The regression trend of {s}"))
    out.append(("close", f"{s} last closed"))
    if "crosses" in f:
        out.append(("cross", f"The 50-day moving average of {s}"))
    if "pe" in f:
        out.append(("valuation", f"On valuation, {s} trades at"))
    if "margin" in f:
        out.append(("margin", f"{s}'s net margin"))
    if "de" in f:
        out.append(("leverage", f"{s}'s debt-to-equity ratio"))
    if "revenue_growth" in f:
        out.append(("revenue", f"{s}'s revenue"))
    return out


def first_sentence(prompt: str, completion: str) -> str:
    """Opener + completion cut after its first sentence (a period not inside a number)."""
    text = re.sub(r"\s+", " ", prompt + completion).strip()
    m = re.search(r"(?<=[^\d\s])[.!?](?=\s|$)|(?<=\d)[.!?](?=\s|$)", text[len(prompt) :])
    if m:
        text = text[: len(prompt) + m.end()]
    elif not text.endswith((".", "!", "?")):
        text += "."
    return text


def facts_line(tf: TickerFacts) -> str:
    """The facts as one line (the prompt preface for a pretrained LM)."""
    return f"Facts for {tf.ticker}: " + "; ".join(
        f"{f.label} {f.display()}" for f in tf.facts.values()
    )


def draft_ticker(
    writer: Writer, book: FactBook, ticker: str, seed: int, drafts: int = 3
) -> list[Draft]:
    """One drafted sentence per opener: the best of `drafts` completions (see `_rank`); a
    best draft that still says nothing about its opener's topic is marked off topic."""
    tf = book.of(ticker)
    preface = facts_line(tf)
    out = []
    for k, (topic, prompt) in enumerate(openers(tf)):
        wanted = TOPIC_FACTS.get(topic, (topic,))
        best: Draft | None = None
        for j in range(drafts):
            text = first_sentence(
                prompt, writer.complete(prompt, preface, seed + 1000 * k + j, ticker)
            )
            checks = [r for s in split_sentences(text) for r in check_sentence(s, book, ticker)]
            failed = sum(r.verdict != "verified" for r in checks)
            lost = sum(r.verdict == "unidentified" for r in checks)
            on = any(r.fact is not None and r.fact.key.startswith(wanted) for r in checks)
            d = Draft(ticker, topic, prompt, text, failed, len(checks), lost, on)
            if best is None or _rank(d) < _rank(best):
                best = d
        assert best is not None
        out.append(best)
    return out


def _rank(d: Draft) -> tuple[int, int, int, int]:
    """Order of preference: on topic, then fewest claims tied to no fact, fewest failed
    checks, most claims."""
    return (not d.on_topic, d.unidentified, d.failed, -d.claims)
