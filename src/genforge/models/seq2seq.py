"""Seq2seq: a transformers encoder-decoder (Marian architecture, Vaswani et al. 2017) for
translation and summarisation of text pairs.

Trained from scratch at a preset size with a joint BPE tokenizer fitted on the training pairs,
or fine-tuned from a local pretrained seq2seq model (`init=FOLDER`: Marian, T5, BART, mBART),
fully or with LoRA adapters (peft). `save(folder)` writes save_pretrained files (safetensors)
and the tokenizer, so `AutoModelForSeq2SeqLM` + `AutoTokenizer` load the folder directly.

Batches are `(src_ids, tgt_ids)` padded with the tokenizer's pad id; the loss is the decoder's
teacher-forced cross-entropy with pad positions ignored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.core.hf import quiet_transformers

# size -> (encoder/decoder layers, heads, width)
PRESETS: dict[str, tuple[int, int, int]] = {
    "micro": (1, 2, 64),
    "tiny": (2, 4, 128),
    "small": (4, 8, 256),
}
SPECIALS = ("<pad>", "</s>", "<unk>")


@dataclass
class Seq2SeqConfig:
    size: Literal["micro", "tiny", "small"] = "tiny"
    vocab_size: int = 2000
    max_length: int = 128  # tokens per side (longer pairs are truncated)
    dropout: float = 0.1
    init: str | None = None  # local HF seq2seq folder to start from (never downloaded)
    finetune: Literal["full", "lora"] = "full"
    lora_r: int = 8
    lora_alpha: int = 16
    grad_clip: float = 1.0


@dataclass
class DecodeConfig:
    """transformers `generate` options; see docs/models.md (Seq2seq decoding)."""

    num_beams: int = 4
    length_penalty: float = 1.0
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 128
    force_words: list[str] = field(default_factory=list)  # each must appear in the output
    bad_words: list[str] = field(default_factory=list)  # never generated
    forced_bos_token: str | None = None  # mBART-style target-language token
    seed: int = 0


def train_tokenizer(pairs: list[tuple[str, str]], vocab_size: int) -> Any:
    """A joint byte-level BPE tokenizer fitted on both sides of the training pairs."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    quiet_transformers()
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator((t for pair in pairs for t in pair), trainer)
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def load_pretrained(path: str) -> tuple[Any, Any]:
    """(model, tokenizer) from a local seq2seq folder; a wrong folder is a one-line error."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    quiet_transformers()
    p = Path(path)
    if not (p / "config.json").exists():
        raise GenforgeError(
            f"--init {path}: no config.json there; give a local transformers seq2seq folder "
            "(genforge never downloads weights)"
        )
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(str(p), local_files_only=True)
        tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError) as e:
        raise GenforgeError(
            f"cannot load a seq2seq model from {p}: {str(e).splitlines()[0]}"
        ) from None
    return model, tok


def _scratch_model(config: Seq2SeqConfig, tokenizer: Any) -> nn.Module:
    from transformers import MarianConfig, MarianMTModel

    layers, heads, width = PRESETS[config.size]
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    hf_cfg = MarianConfig(
        vocab_size=len(tokenizer), d_model=width, encoder_layers=layers, decoder_layers=layers,
        encoder_attention_heads=heads, decoder_attention_heads=heads,
        encoder_ffn_dim=4 * width, decoder_ffn_dim=4 * width, dropout=config.dropout,
        max_position_embeddings=config.max_length, pad_token_id=pad, eos_token_id=eos,
        decoder_start_token_id=pad, forced_eos_token_id=eos, share_encoder_decoder_embeddings=True,
    )  # fmt: skip
    return MarianMTModel(hf_cfg)


class Seq2Seq(nn.Module):
    """An encoder-decoder family; `net` is the transformers model (a peft model with LoRA)."""

    Config = Seq2SeqConfig
    task = "text-to-text"

    def __init__(self, config: Seq2SeqConfig, tokenizer: Any = None,
                 train_pairs: list[tuple[str, str]] | None = None):  # fmt: skip
        super().__init__()
        self.config = config
        if config.init is not None:
            base, self.tokenizer = load_pretrained(config.init)
        else:
            if config.finetune == "lora":
                raise GenforgeError("LoRA fine-tunes a pretrained model: give --init PATH")
            if tokenizer is None:
                if not train_pairs:
                    raise GenforgeError("a seq2seq model from scratch needs training pairs")
                tokenizer = train_tokenizer(train_pairs, config.vocab_size)
            self.tokenizer = tokenizer
            base = _scratch_model(config, tokenizer)
        if config.finetune == "lora":
            from peft import LoraConfig, TaskType, get_peft_model

            # attention query/value projections: T5's are q/v, Marian/BART/mBART's q_proj/v_proj
            targets = ["q", "v"] if "t5" in base.config.model_type else ["q_proj", "v_proj"]
            lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                              target_modules=targets, task_type=TaskType.SEQ_2_SEQ_LM)  # fmt: skip
            try:
                base = get_peft_model(base, lora)
            except ValueError as e:
                raise GenforgeError(
                    f"LoRA cannot wrap this model: {str(e).splitlines()[0]}"
                ) from None
        self.net = base

    # -- training (the shared trainer's family interface) --------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def sampling_network(self) -> str:
        return "net"

    def encode_pairs(self, pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded (src_ids, labels) for a batch of pairs; label pads are -100 (ignored)."""
        enc = self.tokenizer(
            [s for s, _ in pairs], text_target=[t for _, t in pairs], padding=True,
            truncation=True, max_length=self.config.max_length, return_tensors="pt",
        )  # fmt: skip
        labels = enc["labels"].masked_fill(enc["labels"] == self.tokenizer.pad_token_id, -100)
        return enc["input_ids"], labels

    def loss(self, net: nn.Module, src: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        mask = (src != self.tokenizer.pad_token_id).long()
        return net(input_ids=src, attention_mask=mask, labels=labels).loss

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        net, opt = nets["net"], opts["net"]
        src, labels = next_batch()
        loss = self.loss(net, src, labels)
        opt.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(net.parameters(), self.config.grad_clip)
        opt.step()
        return {"loss": loss.detach()}

    # -- inference ------------------------------------------------------------------------
    def _word_ids(self, words: list[str]) -> list[list[int]] | None:
        if not words:
            return None
        return [self.tokenizer(w, add_special_tokens=False).input_ids for w in words]

    def generate_kwargs(self, d: DecodeConfig) -> dict[str, Any]:
        """transformers `generate` options for a DecodeConfig (constraints need beams)."""
        kw: dict[str, Any] = {"max_new_tokens": d.max_new_tokens, "num_beams": d.num_beams,
                              "length_penalty": d.length_penalty, "do_sample": d.do_sample}  # fmt: skip
        if d.do_sample:
            kw.update(temperature=d.temperature, top_p=d.top_p)
        if d.force_words:
            # transformers >= 5 moved constrained beam search (force_words_ids) to a Hub repo
            # loaded as remote code; genforge never downloads code or weights at run time.
            raise GenforgeError(
                "forced words need constrained beam search, which this transformers version "
                "only offers as downloaded Hub code; use --bad-words or a forced BOS token"
            )
        if d.bad_words:
            kw["bad_words_ids"] = self._word_ids(d.bad_words)
        if d.forced_bos_token:
            tid = self.tokenizer.convert_tokens_to_ids(d.forced_bos_token)
            if tid is None or tid == self.tokenizer.unk_token_id:
                raise GenforgeError(
                    f"forced BOS token '{d.forced_bos_token}' is not in the vocabulary"
                )
            kw["forced_bos_token_id"] = tid
        return kw

    @torch.no_grad()
    def translate(self, texts: list[str], decode: DecodeConfig | None = None,
                  batch_size: int = 16) -> list[str]:  # fmt: skip
        """Outputs for `texts`, batch by batch, through transformers' `generate`."""
        d = decode or DecodeConfig()
        kw = self.generate_kwargs(d)
        net = self.net
        net.eval()
        device = next(net.parameters()).device
        out: list[str] = []
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer(texts[i : i + batch_size], padding=True, truncation=True,
                                 max_length=self.config.max_length, return_tensors="pt").to(device)  # fmt: skip
            torch.manual_seed(d.seed)
            ids = net.generate(**enc, **kw)
            out += self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return [o.strip() for o in out]

    # -- saving ---------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """save_pretrained (safetensors) + tokenizer; LoRA also writes `adapter/` next to it."""
        folder = Path(folder)
        model = self.net
        if hasattr(model, "merge_and_unload"):
            model.save_pretrained(str(folder.parent / "adapter"))
            model = copy.deepcopy(model).merge_and_unload()
        model.save_pretrained(str(folder), safe_serialization=True)
        self.tokenizer.save_pretrained(str(folder))

    @classmethod
    def from_folder(cls, folder: Path, config: Seq2SeqConfig | None = None) -> Seq2Seq:
        from dataclasses import replace

        cfg = replace(config or Seq2SeqConfig(), init=str(folder), finetune="full")
        return cls(cfg).eval()
