"""Sentence pairs for translation and summarisation: read, cleaned, filtered and split by source.

pairs = load_pairs(PairDataConfig(source="./de-en.tsv", source_lang="en", target_lang="de"))
pairs.train, pairs.val     # [(source, target), ...]; no source sentence is on both sides
pairs.report.dropped       # {"length-ratio": 3, "language": 1, "exact-duplicate": 7, ...}

Sources: a .tsv/.csv with two columns (first = source, second = target; a header row naming
`source`/`target` is skipped), a .jsonl with `source`/`target` fields, two line-aligned text
files given as "src.txt,tgt.txt", or an embedded corpus:

- `country-names:SRC-TGT` (e.g. `country-names:en-de`): CLDR display names of territories,
  languages, scripts and currencies in two locales, as shipped by the `babel` package.
- `pydoc-summaries`: Python's own documentation, as pydoc shows it: the bundled topics
  (pydoc_data.topics), each body paired with its opening sentence (removed from the body),
  and the standard library's docstrings (PEP 257: a summary line, a blank line, the rest),
  each rest paired with its summary line. The library's files are parsed, never imported.

Cleaning is the text corpora's (genforge.data.text): Unicode normalisation, PII scrubbing,
exact and MinHash near-duplicate pairs. Then a length-ratio filter and a script-based
language-identity filter: a side is accepted when most of its letters are in the Unicode
script of its declared language (Latin for en/de/fr/..., Cyrillic for ru/uk/..., etc.); this
is not a statistical language identifier, it cannot tell German from English.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genforge.core.errors import GenforgeError
from genforge.core.hf import quiet_transformers
from genforge.data.text import clean_text, find_duplicates, scrub_pii

EMBEDDED_PAIRS = {
    "country-names:SRC-TGT": "CLDR names of territories, languages, scripts, currencies (babel)",
    "pydoc-summaries": "Python's documentation topics and standard-library docstrings, each "
    "paired with its opening sentence or summary line",
}

_SCRIPTS = {
    "LATIN": "af ca cs da de en es et fi fr ga hr hu id is it lt lv ms nl no pl pt ro sk sl sq sv"
    " sw tr vi",
    "CYRILLIC": "be bg kk mk mn ru sr uk",
    "GREEK": "el",
    "ARABIC": "ar fa ur",
    "HEBREW": "he",
    "CJK": "zh",
    "HANGUL": "ko",
    "DEVANAGARI": "hi mr ne",
    "THAI": "th",
    "GEORGIAN": "ka",
    "ARMENIAN": "hy",
}
LANG_SCRIPT = {lang: script for script, langs in _SCRIPTS.items() for lang in langs.split()}
# why load_pairs drops a pair (a PairReport's `dropped` keys)
DROP_REASONS = ("empty side", "length-ratio", "language", "exact-duplicate", "near-duplicate")


@dataclass
class PairDataConfig:
    source: str = "country-names:en-de"
    source_lang: str | None = None  # for the language filter; embedded corpora set their own
    target_lang: str | None = None
    normalize: str = "NFC"
    scrub_pii: bool = True
    dedup: str = "near"  # "none" | "exact" | "near"
    near_threshold: float = 0.9
    max_length_ratio: float | None = 4.0  # chars; None = off (summaries); sides < 8 exempt
    min_script_share: float = 0.6
    val_fraction: float = 0.1
    # "bpe": a joint byte-level BPE fitted on the training pairs; or a local tokenizer folder
    # (a pretrained model's own, which `--init` brings)
    tokenizer: str = "bpe"
    vocab_size: int = 1000  # BPE vocabulary size
    max_length: int = 128  # tokens per side; longer sides are truncated


@dataclass
class PairReport:
    source: str
    read: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> count
    examples: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # reason -> pairs
    pii: Counter = field(default_factory=Counter)
    train: int = 0
    val: int = 0
    val_sources: int = 0  # unique held-out source sentences
    val_sources_in_train: int = 0  # of them also a training source: 0 by construction

    def drop(self, reason: str, pair: tuple[str, str]) -> None:
        self.dropped[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 3:
            self.examples[reason].append(pair)

    def lines(self) -> list[str]:
        out = [f"pairs from {self.source}: read {self.read}, kept {self.kept}"]
        out += [f"  dropped {n} ({reason})" for reason, n in sorted(self.dropped.items())]
        if self.pii:
            out.append("  PII scrubbed: " + ", ".join(f"{k} {n}" for k, n in self.pii.items()))
        out.append(f"  split by unique source: {self.train} train, {self.val} held out")
        out.append(
            f"  held-out sources: {self.val_sources}, of them in training: "
            f"{self.val_sources_in_train}"
        )
        return out

    def render(self, console: Any) -> None:
        """The report as `genforge data inspect` prints it: every filter's count (0 included),
        PII scrubbed per kind, the split, and up to three dropped pairs per reason."""
        from rich.markup import escape
        from rich.table import Table

        t = Table(title=f"Text pairs: {escape(self.source)}", show_header=False,
                  title_justify="left")  # fmt: skip
        t.add_column("field", style="bold")
        t.add_column("value")
        t.add_row("pairs read", str(self.read))
        t.add_row("pairs kept", str(self.kept))
        for reason in (*DROP_REASONS, *sorted(set(self.dropped) - set(DROP_REASONS))):
            t.add_row(f"dropped: {reason}", str(self.dropped.get(reason, 0)))
        pii = ", ".join(f"{k} {n}" for k, n in sorted(self.pii.items()))
        t.add_row("PII scrubbed", pii or "none found")
        t.add_row("split (by unique source)", f"{self.train} train, {self.val} held out")
        t.add_row("held-out sources in training",
                  f"{self.val_sources_in_train} of {self.val_sources}")  # fmt: skip
        console.print(t)
        for reason, pairs in sorted(self.examples.items()):
            console.print(f"[bold]dropped ({escape(reason)}), e.g.:[/]")
            for s, tgt in pairs:
                console.print(f"  {escape(s[:70])!r} -> {escape(tgt[:70])!r}", soft_wrap=True)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "read": self.read,
            "kept": self.kept,
            "dropped": dict(self.dropped),
            "examples": {k: [list(p) for p in v] for k, v in self.examples.items()},
            "pii": dict(self.pii),
            "train": self.train,
            "val": self.val,
            "val_sources": self.val_sources,
            "val_sources_in_train": self.val_sources_in_train,
        }


@dataclass
class PairCorpus:
    train: list[tuple[str, str]]
    val: list[tuple[str, str]]
    report: PairReport
    source_lang: str | None = None
    target_lang: str | None = None


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def _read_table(path: Path) -> list[tuple[str, str]]:
    delim = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter=delim))
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["source", "target"]:
        rows = rows[1:]
    pairs = []
    for i, row in enumerate(rows, 1):
        if not any(c.strip() for c in row):
            continue
        if len(row) < 2:
            raise GenforgeError(f"{path.name}:{i}: needs two columns (source, target), got 1")
        pairs.append((row[0], row[1]))
    return pairs


def _read_jsonl(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise GenforgeError(f"{path.name}:{i}: not valid JSON ({e.msg})") from None
        if not isinstance(rec, dict) or "source" not in rec or "target" not in rec:
            raise GenforgeError(f"{path.name}:{i}: needs 'source' and 'target' fields")
        pairs.append((str(rec["source"]), str(rec["target"])))
    return pairs


def _read_aligned(src: Path, tgt: Path) -> list[tuple[str, str]]:
    a = src.read_text(encoding="utf-8").splitlines()
    b = tgt.read_text(encoding="utf-8").splitlines()
    if len(a) != len(b):
        raise GenforgeError(
            f"{src.name} has {len(a)} lines but {tgt.name} has {len(b)}; they must be aligned"
        )
    return list(zip(a, b, strict=True))


def country_names(src: str, tgt: str) -> list[tuple[str, str]]:
    """CLDR display names (territories, languages, scripts, currencies) in two locales."""
    from babel import Locale, UnknownLocaleError

    try:
        a, b = Locale.parse(src), Locale.parse(tgt)
    except (UnknownLocaleError, ValueError) as e:
        raise GenforgeError(f"country-names: unknown locale ({e})") from None
    pairs = []
    for table in ("territories", "languages", "scripts", "currencies"):
        da, db = getattr(a, table), getattr(b, table)
        pairs += [(da[k], db[k]) for k in sorted(da) if k in db]
    return pairs


_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(?:\s|$)", re.S)


def pydoc_summaries() -> list[tuple[str, str]]:
    """pydoc's topics and the standard library's docstrings as (document, summary) pairs."""
    return pydoc_topic_pairs() + stdlib_docstring_pairs()


def pydoc_topic_pairs() -> list[tuple[str, str]]:
    """(rest of the topic, opening sentence of its first prose paragraph) per pydoc topic;
    rules (`---`, `***`) and grammar productions (`::=`) are not prose."""
    from pydoc_data.topics import topics

    pairs = []
    for name in sorted(topics):
        paras = [" ".join(p.split()) for p in topics[name].split("\n\n") if p.strip()]
        prose = [i for i, p in enumerate(paras) if not re.search(r"[*=-]{3,}|::=", p)]
        if not prose:
            continue
        first = paras[prose[0]]
        m = _FIRST_SENTENCE.match(first)
        summary = m.group(1) if m else first
        rest = " ".join([first[len(summary) :].strip(), *paras[prose[0] + 1 :]]).strip()
        if len(rest) > 200 and 20 <= len(summary) <= 300 and len(summary.split()) >= 4:
            pairs.append((rest, summary))
    return pairs


# not library code: tests, demos, IDLE, and the packages installed into this Python
_NOT_LIBRARY = {"test", "tests", "idlelib", "turtledemo", "lib2to3", "site-packages"}


@functools.cache
def _stdlib_docstring_pairs() -> tuple[tuple[str, str], ...]:
    import ast
    import sysconfig

    root = Path(sysconfig.get_paths()["stdlib"])
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    seen: dict[tuple[str, str], None] = {}  # ordered, exact duplicates once
    for path in sorted(root.rglob("*.py")):
        if _NOT_LIBRARY & set(path.relative_to(root).parts):
            continue
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            doc = ast.get_docstring(node) if isinstance(node, kinds) else None
            if not doc or "\n\n" not in doc:
                continue
            head, rest = (" ".join(part.split()) for part in doc.split("\n\n", 1))
            if 20 <= len(head) <= 200 and head.endswith(".") and len(rest) >= 200:
                seen[(rest, head)] = None
    return tuple(seen)


def stdlib_docstring_pairs() -> list[tuple[str, str]]:
    """(rest of the docstring, its summary line) for every standard-library module, class and
    function whose docstring follows PEP 257 (a one-sentence summary, a blank line, at least
    200 more characters). Read from the source files with `ast`; nothing is imported."""
    return list(_stdlib_docstring_pairs())


def _check_sides(pairs: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    for i, (s, t) in enumerate(pairs, 1):
        if not t.strip() or not s.strip():
            side = "target" if not t.strip() else "source"
            raise GenforgeError(f"{name}: pair {i} has an empty {side}")
    return pairs


def read_pairs(source: str) -> tuple[list[tuple[str, str]], str | None, str | None]:
    """Raw pairs and the languages implied by the source (embedded corpora only)."""
    if source.startswith("country-names:"):
        langs = source.split(":", 1)[1].split("-")
        if len(langs) != 2 or not all(langs):
            raise GenforgeError(f"'{source}': write country-names:SRC-TGT, e.g. en-de")
        return country_names(*langs), langs[0], langs[1]
    if source == "pydoc-summaries":
        return pydoc_summaries(), "en", "en"
    if "," in source and not Path(source).exists():
        a, b = (Path(p.strip()) for p in source.split(",", 1))
        for p in (a, b):
            if not p.is_file():
                raise GenforgeError(f"pair file '{p}' not found")
        return _check_sides(_read_aligned(a, b), source), None, None
    path = Path(source)
    if not path.is_file():
        known = ", ".join(EMBEDDED_PAIRS)
        raise GenforgeError(f"pair source '{source}' not found (a file, SRC,TGT or: {known})")
    if path.suffix.lower() == ".jsonl":
        return _check_sides(_read_jsonl(path), path.name), None, None
    if path.suffix.lower() in (".tsv", ".tab", ".csv"):
        return _check_sides(_read_table(path), path.name), None, None
    raise GenforgeError(f"'{path.name}': pairs come from .tsv, .csv, .jsonl or two text files")


# ---------------------------------------------------------------------------------------
# Filters and split
# ---------------------------------------------------------------------------------------


def script_share(text: str, lang: str | None) -> float:
    """Share of the letters of `text` in the Unicode script of `lang` (1.0 if unknown)."""
    script = LANG_SCRIPT.get((lang or "").split("_")[0].lower())
    letters = [c for c in text if c.isalpha()]
    if script is None or not letters:
        return 1.0
    hits = sum(unicodedata.name(c, "").startswith(script) for c in letters)
    return hits / len(letters)


def _clean_side(text: str, cfg: PairDataConfig, report: PairReport) -> str:
    text, _ = clean_text(text, cfg.normalize)
    text = " ".join(text.split())
    if cfg.scrub_pii:
        text, found = scrub_pii(text)
        report.pii.update(kind for kind, _ in found)
    return text


def _filter_reason(src: str, tgt: str, cfg: PairDataConfig, langs: tuple) -> str | None:
    if not src or not tgt:
        return "empty side"
    short, long_ = sorted((len(src), len(tgt)))
    ratio = None if cfg.source == "pydoc-summaries" else cfg.max_length_ratio
    if ratio is not None and short >= 8 and long_ / short > ratio:
        return "length-ratio"
    if (
        script_share(src, langs[0]) < cfg.min_script_share
        or script_share(tgt, langs[1]) < cfg.min_script_share
    ):
        return "language"
    return None


def split_by_source(
    pairs: list[tuple[str, str]], val_fraction: float, seed: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Hold out a fraction of the unique source sentences with all their pairs."""
    sources = sorted({s for s, _ in pairs})
    random.Random(seed).shuffle(sources)
    n_val = round(len(sources) * val_fraction) if len(sources) > 1 else 0
    if val_fraction > 0 and len(sources) > 1:
        n_val = max(1, min(n_val, len(sources) - 1))
    held = set(sources[:n_val])
    return [p for p in pairs if p[0] not in held], [p for p in pairs if p[0] in held]


def load_pairs(cfg: PairDataConfig, seed: int = 0) -> PairCorpus:
    """Read, clean, filter, de-duplicate and split pairs (the held-out sources drawn with
    `seed`); raise GenforgeError on bad input."""
    raw, src_lang, tgt_lang = read_pairs(cfg.source)
    langs = (cfg.source_lang or src_lang, cfg.target_lang or tgt_lang)
    report = PairReport(source=cfg.source, read=len(raw))
    kept: list[tuple[str, str]] = []
    for s, t in raw:
        pair = (_clean_side(s, cfg, report), _clean_side(t, cfg, report))
        reason = _filter_reason(*pair, cfg, langs)
        if reason:
            report.drop(reason, pair)
        else:
            kept.append(pair)
    dups = find_duplicates([f"{s}\n{t}" for s, t in kept], cfg.dedup, cfg.near_threshold, seed)
    for i, (_, how) in sorted(dups.items()):
        report.drop(f"{how}-duplicate", kept[i])
    kept = [p for i, p in enumerate(kept) if i not in dups]
    if not kept:
        raise GenforgeError(f"no pairs left in '{cfg.source}' after cleaning: {report.lines()}")
    train, val = split_by_source(kept, cfg.val_fraction, seed)
    report.kept, report.train, report.val = len(kept), len(train), len(val)
    val_sources = {s for s, _ in val}
    report.val_sources = len(val_sources)
    report.val_sources_in_train = len(val_sources & {s for s, _ in train})
    return PairCorpus(train, val, report, *langs)


def inspect_pairs(
    source: str,
    source_lang: str | None = None,
    target_lang: str | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> PairReport:
    """The pair report a seq2seq run on `source` writes to data_report.json (with the default
    cleaning), without fitting a tokenizer. Languages: for the script filter of pair files."""
    cfg = PairDataConfig(source=source, source_lang=source_lang, target_lang=target_lang,
                         val_fraction=val_fraction)  # fmt: skip
    return load_pairs(cfg, seed).report


def looks_like_pairs(source: str) -> bool:
    """An embedded pair corpus, two existing files written "src.txt,tgt.txt", or a .jsonl /
    .tsv / .csv whose first record names `source` and `target` (other files: `--pairs`)."""
    if is_pairs_embedded(source):
        return True
    path = Path(source)
    if not path.is_file():
        parts = [Path(p.strip()) for p in source.split(",")]
        return len(parts) == 2 and all(p.is_file() for p in parts)
    with path.open(encoding="utf-8", errors="replace") as f:
        first = next((line for line in f if line.strip()), "")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        try:
            rec = json.loads(first)
        except json.JSONDecodeError:
            return False
        return isinstance(rec, dict) and {"source", "target"} <= set(rec)
    if suffix in (".tsv", ".tab", ".csv"):
        delim = "\t" if suffix in (".tsv", ".tab") else ","
        return [c.strip().lower() for c in first.split(delim)[:2]] == ["source", "target"]
    return False


# ---------------------------------------------------------------------------------------
# Tokenizer, spec and the trainer's dataset
# ---------------------------------------------------------------------------------------

PAIR_SPECIALS = ("<pad>", "</s>", "<unk>")


def fit_pair_tokenizer(pairs: list[tuple[str, str]], vocab_size: int) -> Any:
    """A joint byte-level BPE tokenizer fitted on both sides of the training pairs (shared
    source and target vocabulary, as Marian's joint models use); `</s>` ends every sequence."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    quiet_transformers()
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(PAIR_SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator((t for pair in pairs for t in pair), trainer)
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def load_pair_tokenizer(path: str | Path) -> Any:
    """A local transformers tokenizer folder (a pretrained seq2seq model's own)."""
    from transformers import AutoTokenizer

    quiet_transformers()
    p = Path(path)
    if not p.is_dir():
        raise GenforgeError(f"tokenizer folder '{path}' not found (genforge never downloads)")
    try:
        tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError) as e:
        raise GenforgeError(f"cannot load a tokenizer from {p}: {str(e).splitlines()[0]}") from None
    if tok.pad_token_id is None or tok.eos_token_id is None:
        raise GenforgeError(f"the tokenizer in {p} has no pad or end-of-sequence token")
    return tok


def tokenizer_sha(tok: Any) -> str:
    """A fingerprint of a tokenizer's vocabulary (a refitted BPE must give the same one)."""
    vocab = json.dumps(sorted(tok.get_vocab().items()), ensure_ascii=False)
    return hashlib.sha256(vocab.encode("utf-8")).hexdigest()[:16]


@dataclass
class PairSpec:
    """The vocabulary and lengths a text-to-text model is built for."""

    vocab_size: int
    max_length: int
    tokenizer: str  # "bpe" or "pretrained"
    pad_id: int
    eos_id: int
    tokenizer_sha: str = ""
    tokenizer_obj: Any = field(default=None, compare=False, repr=False)  # not saved

    def to_dict(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "max_length": self.max_length,
                "tokenizer": self.tokenizer, "pad_id": self.pad_id, "eos_id": self.eos_id,
                "tokenizer_sha": self.tokenizer_sha}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PairSpec:
        keys = ("vocab_size", "max_length", "tokenizer", "pad_id", "eos_id", "tokenizer_sha")
        return cls(**{k: d[k] for k in keys if k in d})


def pair_spec(tokenizer: Any, max_length: int, kind: str = "bpe") -> PairSpec:
    return PairSpec(len(tokenizer), max_length, kind, tokenizer.pad_token_id,
                    tokenizer.eos_token_id, tokenizer_sha(tokenizer), tokenizer)  # fmt: skip


def encode_pairs(tokenizer: Any, pairs: list[tuple[str, str]], max_length: int) -> torch.Tensor:
    """(N, 2, L) token ids: [:, 0] the source, [:, 1] the target (each ended by EOS, padded
    with the pad id, truncated to `max_length`); L is the longest side in `pairs`."""
    if not pairs:
        return torch.zeros((0, 2, 1), dtype=torch.long)
    enc = tokenizer([s for s, _ in pairs], text_target=[t for _, t in pairs], truncation=True,
                    max_length=max_length, padding="longest", return_tensors="pt")  # fmt: skip
    src, tgt = enc["input_ids"], enc["labels"]
    width = max(src.shape[1], tgt.shape[1])
    out = torch.full((len(pairs), 2, width), tokenizer.pad_token_id, dtype=torch.long)
    out[:, 0, : src.shape[1]], out[:, 1, : tgt.shape[1]] = src, tgt
    return out


@dataclass
class PairDataset:
    """Sentence pairs as the trainer batches them: `images` is the (N, 2, L) token tensor of
    `encode_pairs` (a batch is one gather); `pairs` keeps the text. `split` returns the sides
    `load_pairs` made (split by unique source), so it ignores its arguments' values beyond
    checking them."""

    pairs: list[tuple[str, str]]
    tokenizer: Any
    max_length: int
    report: PairReport
    name: str = "pairs"
    held_out: list[tuple[str, str]] = field(default_factory=list)  # the val side of a corpus
    val_fraction: float = 0.1
    source_lang: str | None = None
    target_lang: str | None = None
    tokenizer_kind: str = "bpe"  # or "pretrained" (a local folder's)

    labels = None
    num_classes = 0
    in_memory = True
    stream = None

    def __post_init__(self) -> None:
        self.images = encode_pairs(self.tokenizer, self.pairs, self.max_length)

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def sources(self) -> list[str]:
        return [s for s, _ in self.pairs]

    @property
    def targets(self) -> list[str]:
        return [t for _, t in self.pairs]

    def side(self, pairs: list[tuple[str, str]]) -> PairDataset:
        return PairDataset(pairs, self.tokenizer, self.max_length, self.report, self.name,
                           [], self.val_fraction, self.source_lang, self.target_lang,
                           self.tokenizer_kind)  # fmt: skip

    def split(self, val_fraction: float, seed: int = 0) -> tuple[PairDataset, PairDataset]:
        if val_fraction != self.val_fraction:
            raise GenforgeError(
                f"these pairs were split with val_fraction {self.val_fraction}, not {val_fraction}"
            )
        return self.side(self.pairs), self.side(self.held_out)


def load_pair_dataset(cfg: PairDataConfig, seed: int, tokenizer: Any = None) -> PairDataset:
    """The training side of `cfg`'s pairs as a PairDataset (its held-out side kept for
    `split`). `tokenizer`: a trained run's own; else cfg.tokenizer ("bpe" is fitted on the
    training pairs only, so the held-out side stays unseen, or a local folder)."""
    corpus = load_pairs(cfg, seed)
    kind = "bpe" if cfg.tokenizer == "bpe" else "pretrained"
    if tokenizer is None:
        if cfg.tokenizer == "bpe":
            tokenizer = fit_pair_tokenizer(corpus.train, cfg.vocab_size)
        else:
            tokenizer = load_pair_tokenizer(cfg.tokenizer)
    name = cfg.source if cfg.source in EMBEDDED_PAIRS or ":" in cfg.source else Path(
        cfg.source.split(",")[0]).stem  # fmt: skip
    return PairDataset(corpus.train, tokenizer, cfg.max_length, corpus.report,
                       name.replace(":", "-"), corpus.val, cfg.val_fraction,
                       corpus.source_lang, corpus.target_lang, kind)  # fmt: skip


def is_pairs_embedded(source: str) -> bool:
    return source in EMBEDDED_PAIRS or source.startswith("country-names:")
