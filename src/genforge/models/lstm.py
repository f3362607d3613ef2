"""LSTM language model (Zaremba et al. 2014, arXiv:1409.2329): embedding -> stacked LSTM ->
tied output layer (Press & Wolf 2017).

The network is a small transformers `PreTrainedModel` with `GenerationMixin`, so it decodes with
the same `generate()` as GPT (beams, sampling, no-repeat-n-gram, watermarking). It runs
without a KV cache: each step re-reads the sequence, which is cheap at these sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genforge.data.text import TextSpec
from genforge.models.text_base import TextModel

# ---------------------------------------------------------------------------------------
# Config and family
# ---------------------------------------------------------------------------------------


@dataclass
class LSTMConfig:
    n_embd: int = 256
    n_layer: int = 2
    dropout: float = 0.0
    grad_clip: float = 1.0


class LSTM(TextModel):
    Config = LSTMConfig

    def __init__(self, config: LSTMConfig, spec: TextSpec):
        super().__init__(config, spec)
        from genforge.models.lstm_network import LSTMLM, LSTMLMConfig

        self.lm = LSTMLM(
            LSTMLMConfig(vocab_size=spec.vocab_size, n_embd=config.n_embd,
                         n_layer=config.n_layer, dropout=config.dropout,
                         bos_token_id=spec.eos_id, eos_token_id=spec.eos_id)
        )  # fmt: skip

    def save_hf(self, model_dir: Path, tokenizer: Any) -> None:
        self.lm.save_pretrained(str(model_dir / "hf"), safe_serialization=True)
        tokenizer.save_hf(model_dir / "hf")
