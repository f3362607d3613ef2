"""Diversity and memorisation checks around a feedback round.

A model trained on its own approved outputs can narrow onto what pleased the raters (fewer
classes, the same few texts) or drift towards copies. `genforge.api.feedback_round` measures
fresh, ungated samples of the weights before and after a round with `checks(run, folder)`;
`fell(before, after)` says, in words, which diversity measure fell beyond its tolerance.

- Images: classes the domain classifier reads with at least a quarter of their fair share,
  the entropy of the read classes, recall (Kynkaanniemi et al. 2019) in the domain feature
  space, and near-copies of training images (the memorisation audit).
- Text: distinct-1 and distinct-2, the repeated-4-gram share, and texts sharing 50 or more
  characters with the training corpus.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.models import modality_of

COPY_CHARS = 50
# (measure, how it may move before the guard speaks): "down" measures must not fall by more
# than the absolute and the relative amount both; "up" measures must not rise by more.
TOLERANCES: dict[str, tuple[str, float, float]] = {
    "classes_covered": ("down", 0.15, 0.0),
    "class_entropy_bits": ("down", 0.3, 0.1),
    "recall": ("down", 0.05, 0.3),
    "near_copies": ("up", 0.02, 0.0),
    "distinct_1": ("down", 0.02, 0.15),
    "distinct_2": ("down", 0.02, 0.15),
    "repeated_4grams": ("up", 0.1, 0.0),
    "copies": ("up", 0.05, 0.0),
}


def checks(run: Run, folder: Path | None = None, n: int = 200, seed: int = 0,
           device: str = "auto") -> dict[str, float]:  # fmt: skip
    """Diversity and memorisation of `n` fresh samples of the weights in `folder` (default:
    the run's last checkpoint; the feedback guard passes feedback/round-N/model)."""
    name = modality_of(run.read_config()).name
    if name == "image":
        return image_checks(run, folder, n, seed, device)
    if name == "text":
        return text_checks(run, folder, n, seed, device)
    raise GenforgeError(f"no feedback checks for {name} runs")


def image_checks(run: Run, folder: Path | None, n: int, seed: int, device: str) -> dict[str, float]:
    from genforge.evaluate.image import ImageEvaluator
    from genforge.evaluate.memorization import audit
    from genforge.generate.pipeline import ImagePipeline

    pipe = ImagePipeline(run, device=device)
    if folder is not None:  # the same family, other weights
        from genforge.core.checkpoint import load_ema, load_weights

        pipe.model.load_state_dict({**load_weights(run, folder), **(load_ema(run, folder) or {})})
    images = pipe.sample(n, seed=seed)
    labels = pipe.labels_for(n)
    ev = ImageEvaluator(run, features="domain", pipeline=pipe, device=device)
    quick = ev.quick(images, labels)
    out = {"recall": quick["recall"], "precision": quick["precision"], "fd": quick["fd"]}
    if ev.classifier is not None:
        k = pipe.spec.num_classes
        read = ev.classifier.logits(images).argmax(1)
        counts = torch.bincount(read, minlength=k).double()
        out["classes_covered"] = float((counts >= n / (4 * k)).double().mean())
        p = counts[counts > 0] / n
        out["class_entropy_bits"] = float(-(p * p.log2()).sum())  # at most log2(k)
    out["near_copies"] = audit(images, ev.data.train, ev.data.val).num_flagged / n
    return out


def text_checks(run: Run, folder: Path | None, n: int, seed: int, device: str) -> dict[str, float]:
    from genforge.data.modalities import get_modality
    from genforge.evaluate.text import distinct_n, longest_shared_substring, repetition_rate
    from genforge.generate.text import DecodeOptions, TextPipeline

    pipe = TextPipeline(run, device="cpu" if device == "auto" else device, model_dir=folder)
    opts = DecodeOptions(do_sample=True, num_return_sequences=n, seed=seed)
    texts = [g.text for g in pipe.generate([""], opts)[0]]
    train = get_modality("text").reload(run, tokenizer=pipe.tokenizer).train
    corpus = "\n".join(train.docs)[:2_000_000]
    copies = sum(len(longest_shared_substring(t, corpus)) >= COPY_CHARS for t in texts)
    return {
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "repeated_4grams": repetition_rate(texts, 4),
        "copies": copies / n,
    }


def fell(before: dict[str, float], after: dict[str, float]) -> list[str]:
    """Which measures moved the wrong way beyond their tolerance, in words (empty: none)."""
    out = []
    for key, (way, absolute, relative) in TOLERANCES.items():
        if key not in before or key not in after:
            continue
        b, a = before[key], after[key]
        if any(isinstance(v, float) and math.isnan(v) for v in (a, b)):
            continue
        change = (b - a) if way == "down" else (a - b)
        if change > absolute and change > relative * abs(b):
            verb = "fell" if way == "down" else "rose"
            out.append(f"{key.replace('_', ' ')} {verb} from {b:.3g} to {a:.3g}")
    return out
