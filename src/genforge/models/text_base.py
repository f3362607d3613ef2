"""What every text model family provides: the spec it is built for, the next-token training
step on token windows, and what it adds to the Run's `model/` folder (the tokenizer, HF files).

Batches are `(x, None)` with x (B, T + 1) token ids: inputs x[:, :-1], targets x[:, 1:].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.checkpoint import distinct_storage
from genforge.core.errors import GenforgeError
from genforge.data.text import TextSpec


@dataclass
class PreferenceBatch:
    """Preference pairs for one DPO step: token ids (K, L) of the chosen and the rejected
    texts, right-padded; masks (K, L) mark the tokens whose probability counts (the text, not
    its prompt or padding); ref_*: (K,) their log-probabilities under the weights the round
    started from (the frozen reference); beta: DPO's temperature; scale: the DPO term's weight
    against the next-token loss on real text."""

    chosen: torch.Tensor
    chosen_mask: torch.Tensor
    rejected: torch.Tensor
    rejected_mask: torch.Tensor
    ref_chosen: torch.Tensor
    ref_rejected: torch.Tensor
    beta: float
    scale: float


def dpo_loss(policy_margin: torch.Tensor, ref_margin: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO (Rafailov et al. 2023, arXiv:2305.18290), per pair (K,):
    -log sigmoid(beta [(log pi(y_w) - log pi(y_l)) - (log ref(y_w) - log ref(y_l))])."""
    return -F.logsigmoid(beta * (policy_margin - ref_margin))


class TextModel(nn.Module):
    """Base class of text families (n-gram, LSTM, GPT)."""

    Config: ClassVar[type]
    task: ClassVar[str] = "complete"  # continue a prompt (genforge.data.modalities.TASKS)
    count_based: ClassVar[bool] = False  # True: fitted by counting (no optimiser steps)
    fused_optimizer: ClassVar[bool] = True  # one fused Adam/AdamW kernel per step
    feedback: ClassVar[str | None] = "preference"  # ratings become DPO pairs (`--feedback`)
    conditional = False

    def __init__(self, config: Any, spec: TextSpec):
        super().__init__()
        self.config = config
        self.spec = spec

    # -- training ----------------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return {"lm": self.lm}

    def sampling_network(self) -> str:
        return "lm"

    def logits(self, net: nn.Module, ids: torch.Tensor) -> torch.Tensor:
        """Next-token logits (B, T, V) for ids (B, T)."""
        return net(input_ids=ids, use_cache=False).logits  # no KV cache while training

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], tuple[torch.Tensor, None]],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        net, opt = nets["lm"], opts["lm"]
        x, _ = next_batch()  # (B, T + 1) token windows
        logits = self.logits(net, x[:, :-1])  # (B, T, V)
        # next-token cross-entropy, in nats per token
        loss = F.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:].flatten())
        optimizer_step(net, opt, loss, accelerator, getattr(self.config, "grad_clip", 0.0))
        return {"loss": loss.detach()}

    def sequence_logprob(
        self, net: nn.Module, ids: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Sum of log p(token | tokens before it) over the tokens `mask` (B, L) marks, (B,)."""
        logp = self.logits(net, ids[:, :-1]).float().log_softmax(-1)  # (B, L - 1, V)
        tok = torch.gather(logp, 2, ids[:, 1:, None]).squeeze(-1)  # (B, L - 1)
        return (tok * mask[:, 1:]).sum(1)

    def feedback_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], tuple[torch.Tensor, None]],
        feedback: Callable[[], PreferenceBatch],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        """DPO on preference pairs (an approved and a rejected text for the same prompt), plus
        the next-token loss on real text, which anchors the model to the corpus."""
        net, opt = nets["lm"], opts["lm"]
        x, _ = next_batch()  # (B, T + 1) token windows of the corpus
        logits = self.logits(net, x[:, :-1])
        loss_lm = F.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:].flatten())
        p = feedback()
        policy = self.sequence_logprob(net, p.chosen, p.chosen_mask) - self.sequence_logprob(
            net, p.rejected, p.rejected_mask
        )
        ref = p.ref_chosen - p.ref_rejected
        loss_dpo = dpo_loss(policy, ref, p.beta).mean()
        optimizer_step(net, opt, loss_lm + p.scale * loss_dpo, accelerator,
                       getattr(self.config, "grad_clip", 0.0))  # fmt: skip
        return {
            "loss": loss_lm.detach(),
            "dpo_loss": loss_dpo.detach(),
            "preference_accuracy": (policy > ref).float().mean().detach(),
        }

    # -- inference ---------------------------------------------------------------------
    @property
    def context(self) -> int | None:
        """Longest sequence (prompt + generated tokens) the model takes; None: unbounded."""
        return None

    @torch.no_grad()
    def preview_text(self, net: nn.Module, tokenizer: Any, seed: int, n: int = 3,
                     max_new: int = 200) -> str:  # fmt: skip
        """`n` samples (temperature 1) from end-of-text, without touching the training RNG."""
        ctx = self.context
        m = max_new if ctx is None else min(max_new, ctx - 1)
        device = next(net.parameters()).device
        was_training = net.training
        net.eval()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            x = torch.full((n, 1), tokenizer.eos_id, device=device)
            out = net.generate(x, do_sample=True, top_k=0, max_new_tokens=m, min_new_tokens=m,
                               pad_token_id=tokenizer.eos_id, attention_mask=torch.ones_like(x))  # fmt: skip
        net.train(was_training)
        return "\n\n---\n\n".join(tokenizer.decode(row[1:].tolist()) for row in out) + "\n"

    def hf_model(self) -> Any:
        """The transformers model used for `generate()`; None for families with their own loop."""
        return getattr(self, "lm", None)

    # -- the Run -----------------------------------------------------------------------
    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # Tied weights (GPT's embedding and output layer) share storage, which safetensors
        # refuses; give each key its own tensor.
        return distinct_storage(super().state_dict(*args, **kwargs))

    def save_extra(self, model_dir: Path, old_model_dir: Path | None) -> None:
        """Write the tokenizer (and HF files) into a checkpoint's staged `model_dir`.

        Args:
            model_dir: the new model/ folder being staged.
            old_model_dir: the current model/ folder (the tokenizer comes from there when this
                family was rebuilt from config.yaml on --resume).
        """
        from genforge.core.hf import quiet_transformers
        from genforge.data.text_tokenizers import TextTokenizer

        quiet_transformers()
        tok = self.spec.tokenizer_obj
        if tok is None:
            if old_model_dir is None or not (old_model_dir / "tokenizer.json").exists():
                raise GenforgeError("the run's tokenizer is missing (model/tokenizer.json)")
            tok = TextTokenizer.load(old_model_dir)
        tok.save(model_dir)
        self.save_hf(model_dir, tok)

    def save_hf(self, model_dir: Path, tokenizer: Any) -> None:
        """Families backed by transformers write `model_dir/hf` (save_pretrained, safetensors)."""

    @classmethod
    def from_run(cls, config: Any, spec: TextSpec, model_dir: Path) -> TextModel:
        """The family with the run's weights, for generation and evaluation."""
        from safetensors.torch import load_file

        model = cls(config, spec)
        model.load_state_dict(load_file(model_dir / "model.safetensors"))
        return model.eval()


def optimizer_step(net: nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor,
                   accelerator: Any, clip: float = 0.0) -> None:  # fmt: skip
    """Backpropagate `loss` and step `opt`, clipping the gradient norm at `clip` (0: off)."""
    opt.zero_grad(set_to_none=True)
    accelerator.backward(loss)
    if clip:
        torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
    opt.step()


def check_vocab(spec: TextSpec, num_embeddings: int, where: str) -> None:
    """A tokenizer with more ids than the model has embeddings is the wrong tokenizer."""
    if spec.vocab_size > num_embeddings:
        raise GenforgeError(
            f"tokenizer mismatch: the tokenizer has {spec.vocab_size} tokens but {where} has "
            f"{num_embeddings} embeddings; use the model's own tokenizer (--tokenizer PATH)"
        )
