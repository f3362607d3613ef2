"""GPT: a decoder-only Transformer LM, as transformers' `GPT2LMHeadModel` (Radford et al. 2019).

Trained from scratch at a preset size, or fine-tuned from a local pretrained causal LM
(`init=/path/to/hf-model`), fully or with LoRA adapters (Hu et al. 2021, arXiv:2106.09685,
via `peft`). Checkpoints also write `model/hf/` with `save_pretrained` (safetensors) and the
tokenizer, so `AutoModelForCausalLM.from_pretrained(run/model/hf)` loads a genforge run.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from torch import nn

from genforge.core.errors import GenforgeError
from genforge.core.hf import quiet_transformers
from genforge.data.text import TextSpec
from genforge.models.text_base import TextModel, check_vocab

# size -> (layers, heads, embedding width)
PRESETS: dict[str, tuple[int, int, int]] = {
    "tiny": (4, 4, 128),
    "small": (6, 6, 384),
    "medium": (12, 12, 768),  # GPT-2 small's shape
}


@dataclass
class GPTConfig:
    size: Literal["tiny", "small", "medium"] = "tiny"
    n_layer: int | None = None  # None: from the size preset
    n_head: int | None = None
    n_embd: int | None = None
    dropout: float = 0.0
    init: str | None = None  # local HF causal-LM folder to start from (never downloaded)
    finetune: Literal["full", "lora"] = "full"  # with init: train all weights or LoRA adapters
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    grad_clip: float = 1.0


def load_pretrained(path: str) -> Any:
    """A causal LM from a local folder; a missing or wrong folder is a one-line error."""
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    p = Path(path)
    if not (p / "config.json").exists():
        raise GenforgeError(
            f"--init {path}: no config.json there; give a local transformers model folder "
            "(genforge never downloads weights)"
        )
    try:
        return AutoModelForCausalLM.from_pretrained(
            str(p), local_files_only=True, use_safetensors=True
        )
    except (OSError, ValueError) as e:
        raise GenforgeError(f"cannot load a causal LM from {p}: {str(e).splitlines()[0]}") from None


class GPT(TextModel):
    """GPT-2 architecture; `lm` is the transformers model (a peft model with LoRA)."""

    Config = GPTConfig

    def __init__(self, config: GPTConfig, spec: TextSpec):
        super().__init__(config, spec)
        if config.init is None:
            from transformers import GPT2Config, GPT2LMHeadModel

            layers, heads, width = PRESETS[config.size]
            n_head = config.n_head or heads
            n_embd = config.n_embd or width
            if n_embd % n_head:
                raise GenforgeError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
            hf_cfg = GPT2Config(
                vocab_size=spec.vocab_size, n_positions=spec.block_size, n_embd=n_embd,
                n_layer=config.n_layer or layers, n_head=n_head, resid_pdrop=config.dropout,
                embd_pdrop=config.dropout, attn_pdrop=config.dropout,
                activation_function="gelu_pytorch_tanh",  # GPT-2's tanh GELU as one fused kernel
                bos_token_id=spec.eos_id, eos_token_id=spec.eos_id,
            )  # fmt: skip
            hf_cfg._attn_implementation = "sdpa"
            self.lm: nn.Module = GPT2LMHeadModel(hf_cfg)
            if config.finetune == "lora":
                raise GenforgeError("LoRA fine-tunes a pretrained model: give --init PATH")
            return
        base = load_pretrained(config.init)
        check_vocab(spec, base.get_input_embeddings().num_embeddings, f"the model at {config.init}")
        n_pos = getattr(base.config, "n_positions", None) or getattr(
            base.config, "max_position_embeddings", None
        )
        if n_pos is not None and spec.block_size > n_pos:
            raise GenforgeError(
                f"--context {spec.block_size} is longer than the model's {n_pos} positions"
            )
        if config.finetune == "lora":
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(
                r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                task_type="CAUSAL_LM",
                fan_in_fan_out=base.config.model_type == "gpt2",  # GPT-2's Conv1D is (in, out)
            )  # fmt: skip
            try:
                base = get_peft_model(base, lora)
            except ValueError as e:
                raise GenforgeError(
                    f"LoRA cannot wrap this model: {str(e).splitlines()[0]}"
                ) from None
        self.lm = base

    @property
    def context(self) -> int | None:
        cfg = self.base_model().config
        return getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None)

    def base_model(self) -> Any:
        """The transformers model (LoRA merged views are made on save)."""
        return self.lm.get_base_model() if hasattr(self.lm, "get_base_model") else self.lm

    def save_hf(self, model_dir: Path, tokenizer: Any) -> None:
        hf_dir = model_dir / "hf"
        if hasattr(self.lm, "merge_and_unload"):  # LoRA: adapters alone, and a merged model
            self.lm.save_pretrained(str(model_dir / "adapter"))
            model = copy.deepcopy(self.lm).merge_and_unload()
        else:
            model = self.lm
        model.save_pretrained(str(hf_dir), safe_serialization=True)
        tokenizer.save_hf(hf_dir)

    @classmethod
    def from_run(cls, config: GPTConfig, spec: TextSpec, model_dir: Path) -> GPT:
        """Load `model/hf` (merged weights, whatever the fine-tuning was)."""
        cfg = replace(config, init=str(model_dir / "hf"), finetune="full")
        return cls(cfg, spec).eval()
