"""Zero-shot scores of "machine-written" for text, from local language models only.

- **One model** (`--lm`): the mean token log-likelihood and the mean log-rank of the text
  under the model (Gehrmann et al. 2019, GLTR; Mitchell et al. 2023 use both as baselines).
  Sampled text sits in the model's high-probability region: higher log-likelihood, lower rank.
- **Two models** (`--lm` observer, `--lm2` performer): Binoculars (Hans et al. 2024,
  arXiv:2401.12070), the text's log-perplexity under the performer divided by the
  cross-perplexity: how surprising the observer's next-token distribution is to the
  performer. Lower means more machine-like; the ratio normalises away how hard the text is.
  The two must share one tokenizer.

A model is a genforge text run (its name or folder) or a local transformers folder with its
tokenizer; nothing is downloaded. The scores are raw: without a threshold measured on your
kind of text they decide nothing (docs/trust.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genforge.core.errors import GenforgeError
from genforge.core.run import resolve_run


@dataclass
class LocalLM:
    """A causal LM and its tokenizer: `encode(text) -> ids` (a start token first)."""

    name: str
    model: Any  # a transformers causal LM (logits of (1, T) ids -> (1, T, V))
    encode: Callable[[str], list[int]]
    vocab_id: str  # equal for two models that share one tokenizer
    context: int | None


def load_lm(ref: str | Path, runs_dir: str | Path | None = None) -> LocalLM:
    """A genforge text run (name or folder) or a local transformers model folder."""
    p = Path(str(ref))
    if (p / "config.yaml").exists() or not p.exists():
        return _run_lm(ref, runs_dir)
    if not (p / "config.json").exists():
        raise GenforgeError(f"{p} is neither a genforge text run nor a transformers model folder")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from genforge.core.hf import quiet_transformers

    quiet_transformers()
    try:
        tok = AutoTokenizer.from_pretrained(p, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(p, local_files_only=True).eval()
    except (OSError, ValueError) as e:
        raise GenforgeError(f"cannot load a causal LM from {p}: {str(e).splitlines()[0]}") from None
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id

    def encode(text: str) -> list[int]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        return ([start] if start is not None else []) + list(ids)

    import hashlib

    vocab = hashlib.sha256(str(sorted(tok.get_vocab().items())).encode()).hexdigest()
    ctx = getattr(model.config, "n_positions", None) or getattr(
        model.config, "max_position_embeddings", None
    )
    name = f"{p.name} ({model.config.model_type})"
    return LocalLM(name, model, encode, vocab, ctx)


def _run_lm(ref: str | Path, runs_dir: str | Path | None) -> LocalLM:
    from genforge.generate.text import TextPipeline

    pipe = TextPipeline(resolve_run(ref, runs_dir))
    if pipe.hf is None:
        raise GenforgeError(f"run '{pipe.run.name}' is an n-gram model; zero-shot needs a gpt/lstm")
    pipe.hf.eval()
    tok = pipe.tokenizer
    return LocalLM(f"{pipe.run.name} (genforge {pipe.cfg['model']})", pipe.hf,
                   lambda text: [tok.eos_id, *tok.encode(text)], tok.sha, pipe.context)  # fmt: skip


@torch.no_grad()
def _logits(lm: LocalLM, ids: list[int]) -> torch.Tensor:
    x = torch.tensor([ids], device=lm.model.device)
    return lm.model(x).logits[0, :-1].float().cpu()  # (T-1, V): predictions of ids[1:]


def zero_shot_scores(text: str, lm: LocalLM, lm2: LocalLM | None = None) -> dict[str, Any]:
    """Scores of `text` (see the module docstring); `tokens` says how many were scored."""
    ids = lm.encode(text)
    if lm.context is not None:
        ids = ids[: lm.context]
    if len(ids) < 3:
        raise GenforgeError("the text is too short for a zero-shot score (fewer than 2 tokens)")
    target = torch.tensor(ids[1:])
    logp = torch.log_softmax(_logits(lm, ids), -1)  # (T-1, V)
    token_logp = logp.gather(1, target[:, None])[:, 0]
    rank = (logp > token_logp[:, None]).sum(1) + 1
    out: dict[str, Any] = {
        "lm": lm.name,
        "tokens": len(target),
        "log_likelihood": float(token_logp.mean()),
        "log_rank": float(rank.float().log().mean()),
    }
    if lm2 is not None:
        if lm2.vocab_id != lm.vocab_id:
            raise GenforgeError(
                f"Binoculars needs two models with one tokenizer; {lm.name} and {lm2.name} differ"
            )
        perf = torch.log_softmax(_logits(lm2, ids), -1)  # performer
        log_ppl = -float(perf.gather(1, target[:, None]).mean())
        x_ppl = -float((logp.exp() * perf).sum(1).mean())  # observer probs vs performer
        out.update({"lm2": lm2.name, "binoculars": log_ppl / x_ppl})
    return out
