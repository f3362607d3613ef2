"""Seq2seq: a transformers encoder-decoder (Marian architecture, Vaswani et al. 2017) for
translation and summarisation of text pairs, and `PairModel`, what every text-to-text family
shares (the GRU baseline in gru_seq2seq.py is the other).

Trained from scratch at a preset size on the joint BPE tokenizer the data layer fitted on the
training pairs, or fine-tuned from a local pretrained seq2seq model (`init=FOLDER`: Marian,
T5, BART, mBART), fully or with LoRA adapters (peft). Checkpoints write `model/hf/` with
save_pretrained (safetensors) and the tokenizer, so `AutoModelForSeq2SeqLM` + `AutoTokenizer`
load a run directly.

Batches are the (B, 2, L) token tensors of `genforge.data.text_pairs.encode_pairs`: source
ids and target ids, padded with the pad id; the loss is the decoder's teacher-forced
cross-entropy with pad positions ignored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from genforge.core.checkpoint import distinct_storage
from genforge.core.errors import GenforgeError
from genforge.core.hf import quiet_transformers
from genforge.data.text_pairs import PairSpec, load_pair_tokenizer
from genforge.models.text_base import optimizer_step

# size -> (encoder/decoder layers, heads, width)
PRESETS: dict[str, tuple[int, int, int]] = {
    "micro": (1, 2, 64),
    "tiny": (2, 4, 128),
    "small": (4, 8, 256),
}


@dataclass
class DecodeConfig:
    """transformers `generate` options (the GRU baseline: beams, length penalty, sampling)."""

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


class PairModel(nn.Module):
    """What every text-to-text family provides: the trainer's interface on (B, 2, L) batches,
    batched decoding, and its tokenizer (the spec's) saved beside the weights."""

    Config: ClassVar[type]
    task: ClassVar[str] = "text-to-text"
    count_based: ClassVar[bool] = False
    fused_optimizer: ClassVar[bool] = True
    conditional = False
    net: nn.Module

    def __init__(self, config: Any, spec: PairSpec):
        super().__init__()
        self.config, self.spec = config, spec
        if spec.tokenizer_obj is None:
            raise GenforgeError("a text-to-text model needs its tokenizer (the run's model/hf)")
        self.tokenizer = spec.tokenizer_obj

    # -- training (the shared trainer's family interface) --------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def sampling_network(self) -> str:
        return "net"

    def unpack(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(source ids, labels) of a (B, 2, L) batch, cut to the longest side in the batch;
        label pads are -100 (ignored by the loss)."""
        pad = self.spec.pad_id
        src, tgt = x[:, 0], x[:, 1]
        src = src[:, : max(1, int((src != pad).sum(1).max()))]
        tgt = tgt[:, : max(1, int((tgt != pad).sum(1).max()))]
        return src, tgt.masked_fill(tgt == pad, -100)

    def loss(self, net: nn.Module, src: torch.Tensor, labels: torch.Tensor,
             smoothing: float = 0.0) -> torch.Tensor:  # fmt: skip
        """Mean teacher-forced cross-entropy per target token (nats); with `smoothing` > 0 the
        label-smoothed training loss (Szegedy et al. 2016), which held-out scores never use."""
        raise NotImplementedError

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], tuple[torch.Tensor, None]],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        net, opt = nets["net"], opts["net"]
        x, _ = next_batch()
        loss = self.loss(net, *self.unpack(x), smoothing=self.config.label_smoothing)
        optimizer_step(net, opt, loss, accelerator, self.config.grad_clip)
        return {"loss": loss.detach()}

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return distinct_storage(super().state_dict(*args, **kwargs))

    # -- inference ------------------------------------------------------------------------
    def decode_batch(self, net: nn.Module, src: torch.Tensor, d: DecodeConfig,
                     **generate: Any) -> list[str]:  # fmt: skip
        raise NotImplementedError

    @torch.no_grad()
    def translate(self, texts: list[str], decode: DecodeConfig | None = None,
                  batch_size: int = 16, net: nn.Module | None = None,
                  **generate: Any) -> list[str]:  # fmt: skip
        """Outputs for `texts`, batch by batch; `generate`: extra transformers `generate`
        options (a watermarking config)."""
        d = decode or DecodeConfig()
        net = net if net is not None else self.net
        was_training = net.training
        net.eval()
        device = next(net.parameters()).device
        out: list[str] = []
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer(texts[i : i + batch_size], padding=True, truncation=True,
                                 max_length=self.spec.max_length, return_tensors="pt")  # fmt: skip
            torch.manual_seed(d.seed + i)
            out += self.decode_batch(net, enc["input_ids"].to(device), d, **generate)
        net.train(was_training)
        return [o.strip() for o in out]

    @torch.no_grad()
    def heldout_loss(self, x: torch.Tensor, net: nn.Module | None = None,
                     batch_size: int = 64) -> tuple[float, int]:  # fmt: skip
        """(total teacher-forced NLL in nats, target tokens scored) on (N, 2, L) pairs."""
        net = net if net is not None else self.net
        was_training = net.training
        net.eval()
        device = next(net.parameters()).device
        total, count = 0.0, 0
        for i in range(0, len(x), batch_size):
            src, labels = self.unpack(x[i : i + batch_size].to(device))
            n = int((labels != -100).sum())
            total += float(self.loss(net, src, labels)) * n
            count += n
        net.train(was_training)
        return total, count

    # -- the Run --------------------------------------------------------------------------
    def save_extra(self, model_dir: Path, old_model_dir: Path | None) -> None:
        """The tokenizer (and a transformers folder) in a checkpoint's staged `model/`."""
        quiet_transformers()
        self.tokenizer.save_pretrained(str(model_dir / "hf"))

    @classmethod
    def from_run(cls, config: Any, spec: PairSpec, model_dir: Path) -> PairModel:
        raise NotImplementedError


def load_pretrained(path: str) -> Any:
    """A seq2seq model from a local folder; a wrong folder is a one-line error."""
    from transformers import AutoModelForSeq2SeqLM

    quiet_transformers()
    p = Path(path)
    if not (p / "config.json").exists():
        raise GenforgeError(
            f"--init {path}: no config.json there; give a local transformers seq2seq folder "
            "(genforge never downloads weights)"
        )
    try:
        return AutoModelForSeq2SeqLM.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError) as e:
        raise GenforgeError(
            f"cannot load a seq2seq model from {p}: {str(e).splitlines()[0]}"
        ) from None


@dataclass
class Seq2SeqConfig:
    size: Literal["micro", "tiny", "small"] = "tiny"
    dropout: float = 0.1
    init: str | None = None  # local HF seq2seq folder to start from (never downloaded)
    finetune: Literal["full", "lora"] = "full"
    lora_r: int = 8
    lora_alpha: int = 16
    grad_clip: float = 1.0
    label_smoothing: float = 0.1  # training loss only, as in Vaswani et al. 2017


def token_cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                        smoothing: float = 0.0) -> torch.Tensor:  # fmt: skip
    """Mean cross-entropy of (B, T, V) logits against (B, T) labels, -100 ignored."""
    return nn.functional.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(),
                                       ignore_index=-100, label_smoothing=smoothing)  # fmt: skip


def _scratch_model(config: Seq2SeqConfig, spec: PairSpec) -> nn.Module:
    from transformers import MarianConfig, MarianMTModel

    layers, heads, width = PRESETS[config.size]
    hf_cfg = MarianConfig(
        vocab_size=spec.vocab_size, d_model=width, encoder_layers=layers, decoder_layers=layers,
        encoder_attention_heads=heads, decoder_attention_heads=heads,
        encoder_ffn_dim=4 * width, decoder_ffn_dim=4 * width, dropout=config.dropout,
        max_position_embeddings=max(spec.max_length, 256), pad_token_id=spec.pad_id,
        eos_token_id=spec.eos_id, decoder_start_token_id=spec.pad_id,
        forced_eos_token_id=spec.eos_id, share_encoder_decoder_embeddings=True,
        # token embeddings x sqrt(width), as the OPUS-MT Marian models are configured: unscaled,
        # N(0, 0.02) embeddings drown under the unit-size sinusoidal positions and the encoder
        # output barely depends on the words
        scale_embedding=True,
    )  # fmt: skip
    return MarianMTModel(hf_cfg)


def _lora(base: nn.Module, config: Seq2SeqConfig) -> nn.Module:
    from peft import LoraConfig, TaskType, get_peft_model

    # attention query/value projections: T5's are q/v, Marian/BART/mBART's q_proj/v_proj
    targets = ["q", "v"] if "t5" in base.config.model_type else ["q_proj", "v_proj"]
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                      target_modules=targets, task_type=TaskType.SEQ_2_SEQ_LM)  # fmt: skip
    try:
        return get_peft_model(base, lora)
    except ValueError as e:
        raise GenforgeError(f"LoRA cannot wrap this model: {str(e).splitlines()[0]}") from None


class Seq2Seq(PairModel):
    """An encoder-decoder family; `net` is the transformers model (a peft model with LoRA)."""

    Config = Seq2SeqConfig

    def __init__(self, config: Seq2SeqConfig, spec: PairSpec):
        super().__init__(config, spec)
        if config.init is None:
            if config.finetune == "lora":
                raise GenforgeError("LoRA fine-tunes a pretrained model: give --init PATH")
            base = _scratch_model(config, spec)
        else:
            base = load_pretrained(config.init)
            n_emb = base.get_input_embeddings().num_embeddings
            if spec.vocab_size > n_emb:
                raise GenforgeError(
                    f"tokenizer mismatch: the tokenizer has {spec.vocab_size} tokens but the "
                    f"model at {config.init} has {n_emb} embeddings; use its own tokenizer"
                )
        self.net = _lora(base, config) if config.finetune == "lora" else base

    def loss(self, net: nn.Module, src: torch.Tensor, labels: torch.Tensor,
             smoothing: float = 0.0) -> torch.Tensor:  # fmt: skip
        mask = (src != self.spec.pad_id).long()
        # the decoder's inputs without `labels=`: transformers would compute a loss of its own
        decoder_in = net.prepare_decoder_input_ids_from_labels(labels=labels)
        logits = net(input_ids=src, attention_mask=mask, decoder_input_ids=decoder_in).logits
        return token_cross_entropy(logits, labels, smoothing)

    def _word_ids(self, words: list[str]) -> list[list[int]] | None:
        if not words:
            return None
        return [self.tokenizer(w, add_special_tokens=False).input_ids for w in words]

    def generate_kwargs(self, d: DecodeConfig) -> dict[str, Any]:
        """transformers `generate` options for a DecodeConfig."""
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

    def decode_batch(self, net: nn.Module, src: torch.Tensor, d: DecodeConfig,
                     **generate: Any) -> list[str]:  # fmt: skip
        mask = (src != self.spec.pad_id).long()
        ids = net.generate(input_ids=src, attention_mask=mask, **self.generate_kwargs(d),
                           **generate)  # fmt: skip
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True)

    def hf_model(self, net: nn.Module | None = None) -> nn.Module:
        """The plain transformers model of `net` (LoRA adapters merged into a copy)."""
        net = net if net is not None else self.net
        if hasattr(net, "merge_and_unload"):
            return copy.deepcopy(net).merge_and_unload()
        return net

    def save_extra(self, model_dir: Path, old_model_dir: Path | None) -> None:
        """model/hf: save_pretrained (safetensors) + tokenizer; LoRA also writes model/adapter."""
        super().save_extra(model_dir, old_model_dir)
        if hasattr(self.net, "merge_and_unload"):
            self.net.save_pretrained(str(model_dir / "adapter"))
        self.hf_model().save_pretrained(str(model_dir / "hf"), safe_serialization=True)

    @classmethod
    def from_run(cls, config: Seq2SeqConfig, spec: PairSpec, model_dir: Path) -> Seq2Seq:
        """The run's model/hf folder (merged weights, whatever the fine-tuning was)."""
        return cls.from_folder(model_dir / "hf", config, spec.max_length)

    @classmethod
    def from_folder(cls, folder: Path, config: Seq2SeqConfig | None = None,
                    max_length: int = 128) -> Seq2Seq:  # fmt: skip
        """Any local transformers seq2seq folder (a run's model/hf, a pretrained model)."""
        from genforge.data.text_pairs import pair_spec

        tok = load_pair_tokenizer(folder)
        cfg = replace(config or Seq2SeqConfig(), init=str(folder), finetune="full")
        return cls(cfg, pair_spec(tok, max_length, "pretrained")).eval()
