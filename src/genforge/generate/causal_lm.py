"""Decoding with a local transformers causal LM folder (save_pretrained: config.json,
safetensors weights, tokenizer files) instead of a genforge text run: the same options, the
same seeds, and the same texts transformers' own `generate()` gives for the same arguments.

pipe = CausalLMPipeline("models/tiny-gpt2")
outs = pipe.generate(["The quick brown fox"], DecodeOptions(num_beams=3, no_repeat_ngram_size=2))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.generate.text import DecodeOptions, Decoder


class FolderTokenizer:
    """A transformers tokenizer behind the interface `Decoder` decodes with (genforge's
    TextTokenizer's): `encode`, `decode` (special tokens dropped), `eos_id`, `hf()`."""

    def __init__(self, tokenizer: Any):
        self.tok = tokenizer
        self.eos_id = tokenizer.eos_token_id

    def encode(self, text: str) -> list[int]:
        return list(self.tok(text)["input_ids"])  # with the special tokens the model expects

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)

    def hf(self) -> Any:
        return self.tok


class CausalLMPipeline(Decoder):
    """A local causal LM folder ready to decode, loaded from disk only and from safetensors
    only (`genforge.core.hf.load_causal_lm`).

    Args:
        path: the folder.
        device: "cpu", "cuda" or "auto".
    """

    def __init__(self, path: str | Path, device: str = "cpu"):
        from genforge.core.device import pick_device
        from genforge.core.hf import load_causal_lm

        self.path = Path(path)
        self.name = self.path.name
        self.hf, tok = load_causal_lm(path)
        self.tokenizer = FolderTokenizer(tok)
        eos = self.hf.generation_config.eos_token_id
        eos = tok.eos_token_id if eos is None else eos
        self._eos = [eos] if isinstance(eos, int) else list(eos or [])
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if not self._eos or start is None:
            raise GenforgeError(f"{path}: the tokenizer and generation config name no "
                                "end-of-text token (eos_token_id)")  # fmt: skip
        self._start = start
        self.device = pick_device(device)
        self.hf.to(self.device)

    @property
    def context(self) -> int | None:
        cfg = self.hf.config
        return getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)

    @property
    def eos_ids(self) -> list[int]:
        return self._eos

    @property
    def start_id(self) -> int:
        return self._start

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.tok.pad_token_id
        return self._eos[0] if pad is None else pad

    def generate_kwargs(self, ids: list[int], m: int, opts: DecodeOptions) -> dict[str, Any]:
        kwargs = super().generate_kwargs(ids, m, opts)
        kwargs["pad_token_id"] = self.pad_id
        return kwargs
