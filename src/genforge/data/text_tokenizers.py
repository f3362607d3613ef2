"""Tokenizers for text runs, all HF `tokenizers` objects so one file format serves them all.

    char  one token per character seen in the training text (+ <|endoftext|>, <unk>)
    bpe   byte-level BPE trained on the training text (GPT-2 style, no unknown characters)
    DIR   a local pretrained tokenizer folder (tokenizer.json, or vocab.json + merges.txt)

Saved inside the Run as `model/tokenizer.json`, and as a transformers tokenizer beside the HF
weights (`model/hf/`), so `AutoTokenizer.from_pretrained(run/model/hf)` loads it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from genforge.core.errors import GenforgeError

EOS = "<|endoftext|>"
UNK = "<unk>"
KINDS = ("char", "bpe")


class TextTokenizer:
    """A `tokenizers.Tokenizer` plus what genforge needs: its kind and end-of-text id."""

    def __init__(self, backend: Any, kind: str, eos: str = EOS):
        self.backend = backend
        self.kind = kind
        self.eos = eos
        eos_id = backend.token_to_id(eos)
        if eos_id is None:
            raise GenforgeError(
                f"tokenizer ({kind}) has no end-of-text token {eos!r}; genforge separates "
                "documents with it"
            )
        self.eos_id = int(eos_id)
        unk_id = backend.token_to_id(UNK)
        self.unk_id = -1 if unk_id is None else int(unk_id)
        self._char_table: np.ndarray | None = None  # char tokenizers: code point -> id

    # -- use ---------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return int(self.backend.get_vocab_size(with_added_tokens=True))

    def encode(self, text: str) -> list[int]:
        return self.backend.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]] | list[np.ndarray]:
        """Token ids per text (char tokenizers: int32 arrays, by one table lookup per text)."""
        if (
            self.kind == "char"
            and self.unk_id >= 0
            and not any(EOS in t or UNK in t for t in texts)
        ):
            return [self._char_ids(t) for t in texts]
        return [e.ids for e in self.backend.encode_batch(texts, add_special_tokens=False)]

    def _char_ids(self, text: str) -> np.ndarray:
        """What the backend gives a text without special-token strings, ~100x faster: each
        character's id, <unk> for characters outside the vocabulary."""
        if self._char_table is None:
            vocab = self.backend.get_vocab(with_added_tokens=False)
            chars = {ord(c): i for c, i in vocab.items() if len(c) == 1}
            self._char_table = np.full(max(chars, default=0) + 1, self.unk_id, np.int32)
            self._char_table[list(chars)] = list(chars.values())
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        ids = np.full(len(codes), self.unk_id, np.int32)
        known = codes < len(self._char_table)
        ids[known] = self._char_table[codes[known]]
        return ids

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def describe(self) -> str:
        return f"{self.kind}, {self.vocab_size} tokens"

    # -- files -------------------------------------------------------------------------
    def to_json(self) -> str:
        return self.backend.to_str()

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:16]

    def save(self, model_dir: Path) -> None:
        """Write `tokenizer.json` (+ kind) into `model_dir`."""
        from genforge.core.io import write_json, write_text

        write_text(model_dir / "tokenizer.json", self.to_json())
        write_json(model_dir / "tokenizer_kind.json", {"kind": self.kind, "eos": self.eos})

    def hf(self) -> Any:
        """The transformers tokenizer (PreTrainedTokenizerFast) for generate() and streaming."""
        from transformers import PreTrainedTokenizerFast

        unk = UNK if self.backend.token_to_id(UNK) is not None else None
        return PreTrainedTokenizerFast(
            tokenizer_object=self.backend,
            eos_token=self.eos,
            bos_token=self.eos,
            pad_token=self.eos,
            unk_token=unk,
        )

    def save_hf(self, hf_dir: Path) -> None:
        self.hf().save_pretrained(str(hf_dir))

    @classmethod
    def load(cls, model_dir: Path) -> TextTokenizer:
        """The tokenizer saved in a run's `model/` folder."""
        import json

        from tokenizers import Tokenizer

        path = model_dir / "tokenizer.json"
        if not path.exists():
            raise GenforgeError(f"{model_dir} holds no tokenizer.json; is this a text run?")
        kind_path = model_dir / "tokenizer_kind.json"
        info = json.loads(kind_path.read_text()) if kind_path.exists() else {}
        return cls(
            Tokenizer.from_file(str(path)), info.get("kind", "pretrained"), info.get("eos", EOS)
        )


# ---------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------


def char_tokenizer(texts: list[str]) -> TextTokenizer:
    """One token per distinct character of `texts` (sorted), plus <|endoftext|> and <unk>."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    chars = sorted(set().union(*map(set, texts))) if texts else []
    vocab = {EOS: 0, UNK: 1, **{c: i + 2 for i, c in enumerate(chars)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens([EOS, UNK])
    return TextTokenizer(tok, "char")


def bpe_tokenizer(texts: list[str], vocab_size: int) -> TextTokenizer:
    """Byte-level BPE (as GPT-2) trained on `texts`; every byte is representable."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 257:
        raise GenforgeError(
            f"a byte-level BPE needs at least 257 tokens (256 bytes + end of text), got {vocab_size}"
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return TextTokenizer(tok, "bpe")


def pretrained_tokenizer(path: str | Path) -> TextTokenizer:
    """A tokenizer folder on disk (never downloaded): tokenizer.json or vocab.json + merges.txt."""
    p = Path(path)
    if not p.is_dir():
        raise GenforgeError(
            f"tokenizer '{path}' is neither {' nor '.join(KINDS)} nor a tokenizer folder"
        )
    if not any((p / f).exists() for f in ("tokenizer.json", "vocab.json", "tokenizer_config.json")):
        raise GenforgeError(
            f"no tokenizer files in {p} (tokenizer.json, or vocab.json + merges.txt); "
            "genforge never downloads them"
        )
    from transformers import AutoTokenizer

    try:
        hf = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError) as e:
        raise GenforgeError(f"cannot load a tokenizer from {p}: {str(e).splitlines()[0]}") from None
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is None:
        raise GenforgeError(f"{p} holds a slow (Python) tokenizer; genforge needs a fast one")
    if hf.eos_token is None:
        raise GenforgeError(f"the tokenizer in {p} has no end-of-text (eos) token")
    return TextTokenizer(backend, "pretrained", hf.eos_token)


def make_tokenizer(spec: str, texts: list[str], vocab_size: int = 4096) -> TextTokenizer:
    """`spec` is "char", "bpe" or a tokenizer folder."""
    if spec == "char":
        return char_tokenizer(texts)
    if spec == "bpe":
        return bpe_tokenizer(texts, vocab_size)
    return pretrained_tokenizer(spec)
