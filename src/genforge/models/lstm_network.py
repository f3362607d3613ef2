"""The LSTM language model's network: a small transformers `PreTrainedModel` with
`GenerationMixin`, so it decodes with the same `generate()` as GPT. Kept apart from
`lstm.py` so importing the registry does not import transformers (seconds per CLI call)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

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
