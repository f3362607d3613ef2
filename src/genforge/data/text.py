"""Text corpora: documents from folders, .jsonl, .csv or the embedded `pydoc` set, cleaned,
de-duplicated, PII-scrubbed and split by document, with a report of everything done.

corpus = load_corpus(TextDataConfig(source="./tickets.jsonl", field="body"))
ds = TextDataset.build(corpus, tokenizer, block_size=128)   # token windows for the trainer
train, val = ds.split(0.1, seed=0)                          # whole documents go to one side

A "document" is one file of a folder, one .jsonl record, one .csv row, one pydoc topic.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import ipaddress
import json
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.data.governance import (
    SHEET_NAME,
    check_file_not_opted_out,
    content_digest,
    file_sha256,
    load_optout,
    text_digest,
)

if TYPE_CHECKING:
    from rich.console import Console

    from genforge.data.text_tokenizers import TextTokenizer

TEXT_EXTENSIONS = (".txt", ".md")
EMBEDDED_TEXT = {"pydoc": "Python's bundled documentation topics (pydoc_data.topics, ~460 KB)"}


@dataclass
class TextDataConfig:
    source: str = "pydoc"  # embedded corpus name, folder of .txt/.md, .jsonl, .csv or .txt file
    field: str = "text"  # .jsonl: the field holding the text
    column: str = "text"  # .csv: the column holding the text
    tokenizer: str = "char"  # "char", "bpe" (byte-level BPE trained here) or a tokenizer folder
    vocab_size: int = 4096  # BPE vocabulary size (ignored by the other tokenizers)
    block_size: int = 128  # context length in tokens of a training window
    stride: int | None = None  # "strided" sampling's window step; None: block_size // 2
    # "random": every training window starts at a random token (as nanoGPT draws them);
    # "strided": a seeded permutation of fixed windows `stride` tokens apart (genforge < 0.2)
    sampling: Literal["random", "strided"] = "random"
    val_fraction: float = 0.1  # share held out: whole documents, or the tail of each one
    # "documents": seeded whole documents; "tail": the last val_fraction of every document (by
    # position, as nanoGPT splits its corpus); "auto": tail for one document, else documents
    split: Literal["auto", "documents", "tail"] = "auto"
    normalize: Literal["NFC", "NFKC", "none"] = "NFC"
    dedup: Literal["near", "exact", "none"] = "near"  # near = MinHash + exact
    near_threshold: float = 0.85  # estimated Jaccard similarity of word 5-shingles
    pii: Literal["scrub", "keep"] = "scrub"  # replace e-mails, phones, cards, IBANs, IPs
    pii_originals: Literal["omit", "report"] = "omit"  # "report" lists found values in the Run


@dataclass(frozen=True)
class TextSpec:
    """The vocabulary and context a text model is built for."""

    vocab_size: int
    block_size: int  # training context in tokens
    tokenizer: str  # "char", "bpe" or "pretrained"
    eos_id: int
    tokenizer_sha: str = ""
    # The tokenizer object itself (set when built from data; not part of the saved spec).
    tokenizer_obj: Any = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "vocab_size": self.vocab_size,
            "block_size": self.block_size,
            "tokenizer": self.tokenizer,
            "eos_id": self.eos_id,
            "tokenizer_sha": self.tokenizer_sha,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextSpec:
        return cls(d["vocab_size"], d["block_size"], d["tokenizer"], d["eos_id"],
                   d.get("tokenizer_sha", ""))  # fmt: skip


# ---------------------------------------------------------------------------------------
# Cleaning
# ---------------------------------------------------------------------------------------

_EXOTIC_SPACE = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u2028\u2029\v\f]")
_TRAILING = re.compile(r"[ \t]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")


def clean_text(text: str, normalize: str = "NFC") -> tuple[str, int]:
    """Unicode-normalise, unify line ends and spaces, drop control characters.

    Returns:
        (cleaned text, number of control/format characters removed). Tabs and newlines stay;
        indentation is kept (code in documentation needs it).
    """
    if normalize != "none":
        text = unicodedata.normalize(normalize, text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _EXOTIC_SPACE.sub(" ", text)
    kept = [c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf", "Cs")]
    removed = len(text) - len(kept)
    text = "".join(kept)
    text = _TRAILING.sub("\n", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip(), removed


# ---------------------------------------------------------------------------------------
# PII scrubbing
# ---------------------------------------------------------------------------------------

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\d.])\d(?:[ -]?\d){12,18}(?!\d|\.\d)")
_PHONE = re.compile(
    r"(?<![\w.+-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,5}){1,4}(?![\w-]|\.\d)"
)
_US_PHONE = re.compile(r"^\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}$")
_IPV4 = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?!\d|\.\d)"
)
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")

PII_KINDS = ("email", "iban", "card", "phone", "ip")


def luhn_ok(digits: str) -> bool:
    """Luhn checksum of a card number (digits only)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """ISO 13616 mod-97 check: move the first 4 characters to the end, letters -> 10..35."""
    s = iban.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _is_phone(s: str) -> bool:
    digits = re.sub(r"\D", "", s)
    if not 9 <= len(digits) <= 15:
        return False
    return s.startswith("+") or "(" in s or bool(_US_PHONE.match(s))


def _is_ipv6(s: str) -> bool:
    groups = [g for g in s.split(":") if g]
    if len(groups) < 3 or not any(c.isdigit() for c in s):  # not "::" or "a::b" in code
        return False
    try:
        return ipaddress.ip_address(s).version == 6
    except ValueError:
        return False


_CHECKS: list[tuple[str, re.Pattern, Any]] = [
    ("email", _EMAIL, None),
    ("iban", _IBAN, iban_ok),
    ("card", _CARD, lambda s: luhn_ok(re.sub(r"\D", "", s))),
    ("phone", _PHONE, _is_phone),
    ("ip", _IPV4, None),
    ("ip", _IPV6, _is_ipv6),
]


def scrub_pii(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Replace PII by placeholders <EMAIL>, <IBAN>, <CARD>, <PHONE>, <IP>.

    Card numbers must pass the Luhn check and IBANs the mod-97 check, so order numbers, years
    and amounts are left alone.

    Returns:
        (scrubbed text, [(kind, original value), ...] in the order found).
    """
    found: list[tuple[str, str]] = []
    for kind, pattern, check in _CHECKS:

        def repl(m: re.Match, kind: str = kind, check: Any = check) -> str:
            if check is not None and not check(m.group(0)):
                return m.group(0)
            found.append((kind, m.group(0)))
            return f"<{kind.upper()}>"

        text = pattern.sub(repl, text)
    return text, found


# ---------------------------------------------------------------------------------------
# De-duplication
# ---------------------------------------------------------------------------------------


def _norm_key(text: str) -> str:
    return hashlib.sha1(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def _shingles(text: str, k: int = 5) -> set[bytes]:
    words = text.lower().split()
    if len(words) < k:  # short documents: character 5-grams
        s = " ".join(words)
        return {s[i : i + k].encode() for i in range(max(1, len(s) - k + 1))}
    return {" ".join(words[i : i + k]).encode() for i in range(len(words) - k + 1)}


def find_duplicates(
    texts: list[str], mode: str = "near", threshold: float = 0.85, seed: int = 0
) -> dict[int, tuple[int, str]]:
    """Documents to drop: {index: (index of the kept copy, "exact" | "near")}.

    Exact duplicates compare case- and whitespace-insensitively; near duplicates are found with
    MinHash LSH (datasketch, 128 permutations) on word 5-shingles at the given estimated Jaccard
    similarity.
    """
    dropped: dict[int, tuple[int, str]] = {}
    if mode == "none" or len(texts) < 2:  # one document has nothing to be a duplicate of
        return dropped
    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        key = _norm_key(t)
        if key in first:
            dropped[i] = (first[key], "exact")
        else:
            first[key] = i
    if mode != "near":
        return dropped
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    for i, t in enumerate(texts):
        if i in dropped:
            continue
        mh = MinHash(num_perm=128, seed=seed)
        mh.update_batch(list(_shingles(t)))
        hits = lsh.query(mh)
        if hits:
            dropped[i] = (min(hits), "near")
        else:
            lsh.insert(i, mh)
    return dropped


# ---------------------------------------------------------------------------------------
# Reading sources
# ---------------------------------------------------------------------------------------


@dataclass
class RawDoc:
    where: str  # file (relative), "file.jsonl:12", "pydoc:topic"
    text: str
    digest: str = ""  # sha256 of the file it is (folders, one file); "" for rows of a file


def is_text_embedded(source: str) -> bool:
    return source in EMBEDDED_TEXT


def _read_text_file(path: Path) -> str | None:
    """The file as text, or None when it is binary (NUL bytes or not UTF-8)."""
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _read_jsonl(path: Path, fld: str, skipped: list[tuple[str, str]]) -> list[RawDoc]:
    docs, seen_fields, total = [], Counter(), 0
    text = _read_text_file(path)
    if text is None:
        raise GenforgeError(f"{path} is a binary file, not UTF-8 JSON lines")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        total += 1
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            skipped.append((f"{path.name}:{n}", "not valid JSON"))
            continue
        if not isinstance(rec, dict):
            skipped.append((f"{path.name}:{n}", "not a JSON object"))
            continue
        seen_fields.update(rec.keys())
        if fld not in rec:
            skipped.append((f"{path.name}:{n}", f"no field '{fld}'"))
            continue
        value = rec[fld]
        if not isinstance(value, str):
            skipped.append((f"{path.name}:{n}", f"field '{fld}' is not a string"))
            continue
        docs.append(RawDoc(f"{path.name}:{n}", value))
    if total and not docs and seen_fields:
        raise GenforgeError(
            f"no record of {path.name} has a text field '{fld}'; fields found: "
            f"{', '.join(sorted(seen_fields))} (choose one with --field)"
        )
    return docs


def _read_csv(path: Path, column: str, skipped: list[tuple[str, str]]) -> list[RawDoc]:
    text = _read_text_file(path)
    if text is None:
        raise GenforgeError(f"{path} is a binary file, not UTF-8 CSV")
    reader = csv.DictReader(text.splitlines())
    columns = reader.fieldnames or []
    if column not in columns:
        raise GenforgeError(
            f"{path.name} has no column '{column}'; columns: {', '.join(columns) or '(none)'} "
            "(choose one with --column)"
        )
    docs = []
    for n, row in enumerate(reader, 2):
        value = row.get(column)
        if value is None:
            skipped.append((f"{path.name}:{n}", "short row"))
            continue
        docs.append(RawDoc(f"{path.name}:{n}", value))
    return docs


def read_documents(
    source: str, fld: str = "text", column: str = "text"
) -> tuple[str, list[RawDoc], int, list[tuple[str, str]]]:
    """Raw documents of a source.

    Returns:
        (kind, documents, files looked at, [(where, reason skipped), ...]).
    """
    skipped: list[tuple[str, str]] = []
    if is_text_embedded(source):
        from pydoc_data.topics import topics

        return "embedded", [RawDoc(f"pydoc:{k}", topics[k]) for k in sorted(topics)], 1, skipped
    path = Path(source)
    if not path.exists():
        known = ", ".join(EMBEDDED_TEXT)
        raise GenforgeError(f"no such file or folder: {source} (embedded text corpora: {known})")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                       and p.name != SHEET_NAME)  # fmt: skip
        docs = []
        optout = load_optout()
        for p in files:
            rel = str(p.relative_to(path))
            if p.suffix.lower() not in TEXT_EXTENSIONS:
                skipped.append((rel, f"not a {'/'.join(TEXT_EXTENSIONS)} file"))
                continue
            text = _read_text_file(p)
            if text is None:
                skipped.append((rel, "binary file (not UTF-8 text)"))
                continue
            digest = file_sha256(p)
            why = optout.match(p, digest)
            if why:  # the project's opt-out list (data/governance.py)
                skipped.append((rel, why))
                continue
            docs.append(RawDoc(rel, text, digest))
        return "text-folder", docs, len(files), skipped
    suffix = path.suffix.lower()
    digest = check_file_not_opted_out(path)
    if suffix == ".jsonl":
        return "jsonl", _optout_rows(_read_jsonl(path, fld, skipped), skipped), 1, skipped
    if suffix == ".csv":
        return "csv", _optout_rows(_read_csv(path, column, skipped), skipped), 1, skipped
    text = _read_text_file(path)
    if text is None:
        raise GenforgeError(f"{source} is a binary file, not UTF-8 text")
    return "text-file", [RawDoc(path.name, text, digest)], 1, skipped


def _optout_rows(docs: list[RawDoc], skipped: list[tuple[str, str]]) -> list[RawDoc]:
    """The rows of a .jsonl/.csv whose text is not on the opt-out list (by its sha256)."""
    optout = load_optout()
    if not optout.sha256:
        return docs
    kept = []
    for d in docs:
        if text_digest(d.text) in optout.sha256:
            skipped.append((d.where, "opted out (exact copy of a listed work)"))
        else:
            kept.append(d)
    return kept


# ---------------------------------------------------------------------------------------
# The corpus and its report
# ---------------------------------------------------------------------------------------


@dataclass
class TextReport:
    """What a text source held and what was done to it."""

    source: str
    kind: str
    num_files: int
    num_documents_found: int
    num_documents: int  # kept
    num_chars: int  # kept, after cleaning and scrubbing
    num_tokens: int | None = None  # with the run's tokenizer (None: not tokenized yet)
    tokenizer: str | None = None
    control_chars_removed: int = 0
    empty_documents: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    duplicates: list[tuple[str, str, str]] = field(default_factory=list)  # (dropped, kept, how)
    pii_scrubbed: bool = True
    pii_counts: dict[str, int] = field(default_factory=dict)
    pii_items: list[tuple[str, str, str]] = field(default_factory=list)  # (where, kind, value)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, reason)
    # the exact documents used: {"sha256": over (where, sha256 of each), "files": n}; {} embedded
    content: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("duplicates", "pii_items", "skipped"):
            d[k] = [list(x) for x in d[k]]
        return d

    def render(self, console: Console) -> None:
        from rich.table import Table

        t = Table(title=f"Text data: {self.source}", show_header=False, title_justify="left")
        t.add_column("field", style="bold")
        t.add_column("value")
        rows = [
            ("kind", self.kind),
            ("files looked at", self.num_files),
            ("documents found", self.num_documents_found),
            ("documents kept", self.num_documents),
            ("characters", f"{self.num_chars:,}"),
            ("tokens", f"{self.num_tokens:,} ({self.tokenizer})" if self.num_tokens else "-"),
            ("empty documents dropped", self.empty_documents),
            ("exact duplicates dropped", self.exact_duplicates),
            ("near duplicates dropped", self.near_duplicates),
            ("control characters removed", self.control_chars_removed),
            ("PII", ("scrubbed: " if self.pii_scrubbed else "kept (not scrubbed): ")
             + (", ".join(f"{k} {v}" for k, v in self.pii_counts.items() if v) or "none found")),
            ("skipped", len(self.skipped)),
        ]  # fmt: skip
        for k, v in rows:
            t.add_row(k, str(v))
        console.print(t)
        if self.skipped:
            s = Table(title=f"Skipped ({len(self.skipped)})", title_justify="left")
            s.add_column("where")
            s.add_column("reason", style="yellow")
            for where, reason in self.skipped[:20]:
                s.add_row(where, reason)
            console.print(s)
        if self.duplicates:
            s = Table(title=f"Duplicates dropped ({len(self.duplicates)})", title_justify="left")
            for col in ("dropped", "same as (kept)", "how"):
                s.add_column(col)
            for row in self.duplicates[:20]:
                s.add_row(*row)
            console.print(s)


@dataclass
class Corpus:
    name: str
    docs: list[str]
    where: list[str]
    report: TextReport


def load_corpus(cfg: TextDataConfig, seed: int = 0) -> Corpus:
    """Read, clean, de-duplicate and scrub the documents of `cfg.source`."""
    kind, raw, num_files, skipped = read_documents(cfg.source, cfg.field, cfg.column)
    report = TextReport(cfg.source, kind, num_files, len(raw), 0, 0, skipped=skipped)
    report.pii_scrubbed = cfg.pii == "scrub"
    texts, where, digests = [], [], []
    for d in raw:
        text, removed = clean_text(d.text, cfg.normalize)
        report.control_chars_removed += removed
        if not text:
            report.empty_documents += 1
            continue
        texts.append(text)
        where.append(d.where)
        digests.append(d.digest or text_digest(d.text))
    dropped = find_duplicates(texts, cfg.dedup, cfg.near_threshold, seed)
    for i, (j, how) in sorted(dropped.items()):
        report.duplicates.append((where[i], where[j], how))
    report.exact_duplicates = sum(how == "exact" for _, how in dropped.values())
    report.near_duplicates = sum(how == "near" for _, how in dropped.values())
    keep = [i for i in range(len(texts)) if i not in dropped]
    texts, where = [texts[i] for i in keep], [where[i] for i in keep]
    if kind != "embedded":
        report.content = content_digest((where[k], digests[i]) for k, i in enumerate(keep))
    counts = Counter({k: 0 for k in PII_KINDS})
    for i, t in enumerate(texts):
        scrubbed, found = scrub_pii(t)
        counts.update(kind for kind, _ in found)
        if cfg.pii_originals == "report":
            report.pii_items += [(where[i], kind, value) for kind, value in found]
        if cfg.pii == "scrub":
            texts[i] = scrubbed
    report.pii_counts = dict(counts)
    if not texts:
        why = (
            f"; {len(skipped)} skipped (first: {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        )
        raise GenforgeError(f"no text found in {cfg.source}: the corpus is empty{why}")
    report.num_documents = len(texts)
    report.num_chars = sum(map(len, texts))
    name = cfg.source if kind == "embedded" else Path(cfg.source).stem or "text"
    return Corpus(name, texts, where, report)


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded (train, val) document indices; at least one document on each side."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(n * val_fraction)))
    return sorted(perm[n_val:].tolist()), sorted(perm[:n_val].tolist())


def split_tail(text: str, val_fraction: float) -> tuple[str, str]:
    """One document: the last `val_fraction` of it (cut at a line break when one is near)."""
    cut = int(len(text) * (1 - val_fraction))
    nl = text.rfind("\n", 0, cut)
    cut = nl + 1 if nl > len(text) // 2 else cut
    return text[:cut], text[cut:]


SPLIT_HOW = ("auto", "documents", "tail")


def split_mode(split: str, num_docs: int) -> str:
    """How a corpus of `num_docs` documents is split: "documents" or "tail" ("auto": tail for a
    single document, whole documents otherwise)."""
    if split not in SPLIT_HOW:
        raise GenforgeError(f"unknown text split '{split}'; choose one of {', '.join(SPLIT_HOW)}")
    if split == "auto":
        return "tail" if num_docs == 1 else "documents"
    return split


def split_texts(
    docs: list[str], val_fraction: float, seed: int, split: str = "auto"
) -> tuple[list[str], list[str]]:
    """(training texts, held-out texts) of a split with these settings.

    "documents" keeps each document whole on one side; "tail" holds out the last
    `val_fraction` of every document, so both sides see every document's subject.
    """
    if not 0 <= val_fraction < 1:
        raise GenforgeError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if val_fraction == 0:
        return docs, []
    if split_mode(split, len(docs)) == "tail":
        parts = [split_tail(d, val_fraction) for d in docs]
        return [a for a, _ in parts if a], [b for _, b in parts if b]
    train, val = split_indices(len(docs), val_fraction, seed)
    return [docs[i] for i in train], [docs[i] for i in val]


def train_texts(docs: list[str], val_fraction: float, seed: int, split: str = "auto") -> list[str]:
    """The documents (or text) a split with these settings puts on the training side."""
    return split_texts(docs, val_fraction, seed, split)[0]


# ---------------------------------------------------------------------------------------
# The dataset the trainer sees: token windows
# ---------------------------------------------------------------------------------------


def with_eos(tokenizer: TextTokenizer, docs: list[str]) -> list[np.ndarray]:
    """Each document's token ids (int32) followed by the end-of-text token."""
    eos = np.asarray([tokenizer.eos_id], np.int32)
    return [np.concatenate([np.asarray(x, np.int32), eos]) for x in tokenizer.encode_batch(docs)]


@dataclass
class TextDataset:
    """Documents, their tokens, and how the trainer draws (block_size + 1)-token windows.

    With `sampling="random"` (the default) every training window starts at a random token of
    the stream (`train.batches.WindowBatches`); with "strided" the trainer permutes the fixed
    windows of `images`, `stride` tokens apart (`train.batches.Batches`, as for images).
    `len()` counts the strided windows either way: the run's data report records it, and
    evaluation checks it to rebuild the same split.
    """

    name: str
    docs: list[str]
    tokens: list[np.ndarray]  # per document, int32, each ending with the EOS token
    tokenizer: TextTokenizer
    block_size: int
    stride: int
    report: TextReport
    labels: None = None
    stream: None = None
    num_classes: int = 0
    in_memory: bool = True
    split_how: str = "documents"  # "documents", "tail" (by position) or "none"
    sampling: str = "random"  # "random" or "strided" (training windows)
    split_by: str = "auto"  # how split() divides the documents (see split_texts)
    _windows: torch.Tensor | None = None

    @classmethod
    def build(
        cls,
        corpus: Corpus,
        tokenizer: TextTokenizer,
        block_size: int,
        stride: int | None = None,
        sampling: str = "random",
        split: str = "auto",
    ) -> TextDataset:
        if sampling not in ("random", "strided"):
            raise GenforgeError(f"unknown window sampling '{sampling}'; choose random or strided")
        split_mode(split, len(corpus.docs))  # an unknown split is an error before tokenizing
        tokens = with_eos(tokenizer, corpus.docs)
        corpus.report.num_tokens = int(sum(len(t) for t in tokens))
        corpus.report.tokenizer = tokenizer.describe()
        return cls(corpus.name, corpus.docs, tokens, tokenizer, block_size,
                   stride or max(1, block_size // 2), corpus.report, sampling=sampling,
                   split_by=split)  # fmt: skip

    @property
    def stream_ids(self) -> np.ndarray:
        return np.concatenate(self.tokens) if self.tokens else np.zeros(0, np.int32)

    @property
    def num_tokens(self) -> int:
        return int(sum(len(t) for t in self.tokens))

    def check_window(self) -> None:
        """A one-line error when the text is shorter than one window."""
        w = self.block_size + 1
        if self.num_tokens < w:
            raise GenforgeError(
                f"the text has {self.num_tokens} tokens, fewer than one window of {w}; "
                "add text or lower --context"
            )

    @property
    def images(self) -> torch.Tensor:
        """Token windows (N, block_size + 1), int64: inputs are [:, :-1], targets [:, 1:]."""
        if self._windows is None:
            self.check_window()
            ids = torch.from_numpy(self.stream_ids.astype(np.int64))
            self._windows = ids.unfold(0, self.block_size + 1, self.stride).contiguous()
        return self._windows

    def eval_windows(self, max_windows: int | None = None) -> torch.Tensor:
        """Non-overlapping windows (N, block_size + 1), int64, for held-out loss: each token is
        a target once (consecutive windows share only their boundary token)."""
        self.check_window()
        ids = torch.from_numpy(self.stream_ids.astype(np.int64))
        windows = ids.unfold(0, self.block_size + 1, self.block_size)
        return windows[:max_windows].contiguous()

    def __len__(self) -> int:
        n = self.num_tokens
        return 0 if n < self.block_size + 1 else (n - self.block_size - 1) // self.stride + 1

    def _with(self, docs: list[str], tokens: list[np.ndarray], how: str) -> TextDataset:
        return dataclasses.replace(self, docs=docs, tokens=tokens, split_how=how, _windows=None)

    def split(self, val_fraction: float, seed: int = 0) -> tuple[TextDataset, TextDataset]:
        """Seeded split by whole documents, or by position (the last `val_fraction` of each
        document); see `split_texts`. Held-out text is never seen in training."""
        if not 0 <= val_fraction < 1:
            raise GenforgeError(f"val_fraction must be in [0, 1), got {val_fraction}")
        if val_fraction == 0:
            return self, self._with([], [], "none")
        if split_mode(self.split_by, len(self.docs)) == "documents":
            train, val = split_indices(len(self.docs), val_fraction, seed)
            return (
                self._with([self.docs[i] for i in train], [self.tokens[i] for i in train], "documents"),
                self._with([self.docs[i] for i in val], [self.tokens[i] for i in val], "documents"),
            )  # fmt: skip
        train_docs, val_docs = split_texts(self.docs, val_fraction, seed, "tail")
        made = [self._with(d, with_eos(self.tokenizer, d), "tail") for d in (train_docs, val_docs)]
        return made[0], made[1]


# ---------------------------------------------------------------------------------------
# Inspection
# ---------------------------------------------------------------------------------------


def looks_like_text(source: str) -> bool:
    """True for text corpora: pydoc, .jsonl/.csv/.txt/.md files, folders of .txt/.md."""
    if is_text_embedded(source):
        return True
    p = Path(source)
    if p.is_file():  # (.csv files are tables unless a text column is named)
        return p.suffix.lower() in (".jsonl", *TEXT_EXTENSIONS)
    if p.is_dir():  # text files and no images (an image folder may hold a README.txt)
        from genforge.data.images import IMAGE_EXTENSIONS

        suffixes = {f.suffix.lower() for f in p.rglob("*") if f.is_file()}
        return bool(suffixes & set(TEXT_EXTENSIONS)) and not suffixes & set(IMAGE_EXTENSIONS)
    return False


def inspect_text(
    source: str,
    field: str = "text",
    column: str = "text",
    tokenizer: str = "bpe",
    vocab: int = 4096,
) -> TextReport:
    """The report `genforge data inspect` shows: the corpus as training would see it."""
    from genforge.data.text_tokenizers import make_tokenizer

    src = source if is_text_embedded(source) else str(Path(source).resolve())
    corpus = load_corpus(TextDataConfig(source=src, field=field, column=column))
    tok = make_tokenizer(tokenizer, corpus.docs, vocab)
    corpus.report.num_tokens = sum(len(x) for x in tok.encode_batch(corpus.docs))
    corpus.report.tokenizer = tok.describe()
    return corpus.report
