"""LSTM language model (Zaremba et al. 2014, arXiv:1409.2329): embedding -> stacked LSTM ->
tied output layer (Press & Wolf 2017).

The network is a small transformers `PreTrainedModel` with `GenerationMixin`, so it decodes with
the same `generate()` as GPT (beams, sampling, no-repeat-n-gram, watermarking). It runs
without a KV cache: each step re-reads the sequence, which is cheap at these sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

from genforge.models.text_base import TextModel, TextSpec

# ---------------------------------------------------------------------------------------
# The network (a transformers model)
# ---------------------------------------------------------------------------------------


class LSTMLMConfig(PretrainedConfig):
    model_type = "genforge-lstm"

    def __init__(self, vocab_size=256, n_embd=256, n_layer=2, dropout=0.0, **kwargs):
        self.vocab_size, self.n_embd, self.n_layer, self.dropout = (
            vocab_size,
            n_embd,
            n_layer,
            dropout,
        )
        kwargs.setdefault("use_cache", False)
        kwargs.setdefault("tie_word_embeddings", True)
        super().__init__(**kwargs)


class LSTMLM(PreTrainedModel, GenerationMixin):
    config_class = LSTMLMConfig
    main_input_name = "input_ids"
    _tied_weights_keys: ClassVar[dict[str, str]] = {"head.weight": "embed.weight"}

    def __init__(self, config: LSTMLMConfig):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.rnn = nn.LSTM(config.n_embd, config.n_embd, config.n_layer, batch_first=True,
                           dropout=config.dropout if config.n_layer > 1 else 0.0)  # fmt: skip
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied
        self.post_init()
        self.generation_config.use_cache = False  # no KV cache: generate() re-feeds the sequence

    def get_input_embeddings(self) -> nn.Module:
        return self.embed

    def get_output_embeddings(self) -> nn.Module:
        return self.head

    def forward(self, input_ids: torch.Tensor, attention_mask: Any = None, **kwargs: Any):
        # (other generate() keywords such as use_cache do not apply to an LSTM)
        h, _ = self.rnn(self.drop(self.embed(input_ids)))  # (B, T, n_embd)
        return CausalLMOutput(logits=self.head(self.drop(h)))  # (B, T, V)

    def prepare_inputs_for_generation(self, input_ids: torch.Tensor, **kwargs: Any):
        return {"input_ids": input_ids}


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
        self.lm = LSTMLM(
            LSTMLMConfig(vocab_size=spec.vocab_size, n_embd=config.n_embd,
                         n_layer=config.n_layer, dropout=config.dropout,
                         bos_token_id=spec.eos_id, eos_token_id=spec.eos_id)
        )  # fmt: skip

    def save_hf(self, model_dir: Path, tokenizer: Any) -> None:
        self.lm.save_pretrained(str(model_dir / "hf"), safe_serialization=True)
        tokenizer.save_hf(model_dir / "hf")
