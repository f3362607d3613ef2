"""The quality gate for text runs: score sampled texts, keep the best of each group.

Each score component lies in [0, 1]:
- fluency: where the text's mean per-token NLL under the run's own LM falls among held-out
  chunks of the corpus of about the same length (the share of real chunks the model finds *less*
  likely), the text twin of the image gate's realism;
- repetition: 1 - the share of the text's word 3-grams already seen earlier in it;
- learned: P(a person approves), from `genforge gate fit` (gate "learned" or "both").
The score is the mean of the components of the chosen gate.

Hard limits reject a text whatever its score, each with its reason: fewer than `min_words` or
more than `max_words` words, a banned word (whole word, any case), or a copy of the training
text (a shared passage of `max_copy_chars` characters or more).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.evaluate.text import longest_shared_substring

GATES = ("auto", "learned", "both")
REF_CHUNKS = 200
MAX_CORPUS_CHARS = 2_000_000  # the copy check searches this much of the training text


@dataclass
class TextLimits:
    """Hard limits: a text outside them is rejected whatever its score."""

    min_words: int = 1
    max_words: int | None = None
    banned: tuple[str, ...] = ()
    max_copy_chars: int = 50

    def __post_init__(self) -> None:
        if self.min_words < 0 or (self.max_words is not None and self.max_words < self.min_words):
            raise GenforgeError(
                f"word bounds must satisfy 0 <= min ({self.min_words}) <= max ({self.max_words})"
            )
        if self.max_copy_chars < 8:
            raise GenforgeError(f"--max-copy-chars must be at least 8, got {self.max_copy_chars}")


@dataclass
class TextVerdict:
    text: str
    score: float
    components: dict[str, float]
    rejected: list[str] = field(default_factory=list)  # "kind (detail)"; empty: within limits


class TextGate:
    """Scores texts of one run; built once (it reads the corpus), reused for every batch."""

    def __init__(self, pipe: Any, gate: str = "auto", limits: TextLimits | None = None):
        from genforge.evaluate.learned_gate import LearnedGate, TextFeatures

        if gate not in GATES:
            raise GenforgeError(f"--gate is one of {', '.join(GATES)}, got {gate!r}")
        self.pipe, self.gate = pipe, gate
        self.limits = limits or TextLimits()
        self.features = TextFeatures(pipe.run, pipe)
        self.learned = LearnedGate.load(pipe.run) if gate != "auto" else None
        self.components = [] if gate == "learned" else ["fluency", "repetition"]
        if self.learned is not None:
            self.components.append("learned")
        train, val = self._split()
        self.corpus = "\n".join(train)[:MAX_CORPUS_CHARS]
        self._banned = [re.compile(rf"\b{re.escape(w)}\b", re.IGNORECASE)
                        for w in self.limits.banned]  # fmt: skip
        self._val = val
        self._ref: dict[int, np.ndarray] = {}

    def _split(self) -> tuple[list[str], list[str]]:
        from genforge.data.modalities import get_modality

        split = get_modality("text").reload(self.pipe.run, tokenizer=self.pipe.tokenizer)
        return list(split.train.docs), list(split.val.docs)

    def _reference(self, chars: int) -> np.ndarray:
        """Sorted mean NLLs of held-out chunks of about `chars` characters (rounded to a
        power of two, so texts of similar length share one reference)."""
        size = max(32, 1 << max(5, int(chars).bit_length() - 1))
        if size not in self._ref:
            chunks = [d[i : i + size] for d in self._val
                      for i in range(0, len(d) - size + 1, size)]  # fmt: skip
            random.Random(0).shuffle(chunks)
            nll = [self.features.token_nll(c) for c in chunks[:REF_CHUNKS]]
            self._ref[size] = np.sort([float(x.mean()) for x in nll if len(x)])
        return self._ref[size]

    @torch.no_grad()
    def score(self, texts: list[str]) -> list[TextVerdict]:
        learned = None
        if self.learned is not None:
            learned = self.learned.prob(self.features.of_texts(texts)).tolist()
        out = []
        for i, text in enumerate(texts):
            comp: dict[str, float] = {}
            if "fluency" in self.components:
                comp["fluency"] = self.fluency(text)
                words = text.split()
                grams = [tuple(words[j : j + 3]) for j in range(len(words) - 2)]
                comp["repetition"] = len(set(grams)) / len(grams) if grams else 1.0
            if learned is not None:
                comp["learned"] = float(learned[i])
            score = float(np.mean([comp[k] for k in self.components]))
            out.append(TextVerdict(text, score, comp, self.reasons(text)))
        return out

    def fluency(self, text: str) -> float:
        """The share of held-out chunks of about the text's length that the run's LM finds
        less likely than the text."""
        ref = self._reference(len(text))
        nll = self.features.token_nll(text)
        mean = float(nll.mean()) if len(nll) else float("inf")
        return float(1 - np.searchsorted(ref, mean) / len(ref)) if len(ref) else 0.5

    def reasons(self, text: str) -> list[str]:
        """Why a text breaks the hard limits (empty when it does not)."""
        lim, words = self.limits, len(text.split())
        why = []
        if words < lim.min_words:
            why.append(f"too short ({words} words < {lim.min_words})")
        if lim.max_words is not None and words > lim.max_words:
            why.append(f"too long ({words} words > {lim.max_words})")
        why += [f"banned word ({w})" for w, rx in zip(lim.banned, self._banned, strict=True)
                if rx.search(text)]  # fmt: skip
        copied = longest_shared_substring(text, self.corpus) if self.corpus else ""
        if len(copied) >= lim.max_copy_chars:
            why.append(f"copy of training text ({len(copied)} characters shared)")
        return why


class FolderTextGate(TextGate):
    """The text gate over a local causal LM folder (`generate text --model`): no run, so no
    training text and no fitted gate. Fluency is the geometric mean of the tokens'
    probabilities under the folder's own model, exp(-mean NLL) (comparable between texts of one
    model, not with a run's percentile fluency); repetition and the hard limits are as for runs,
    except the copy check (there is no training text to copy)."""

    def __init__(self, pipe: Any, gate: str = "auto", limits: TextLimits | None = None):
        if gate != "auto":
            raise GenforgeError(f"--gate {gate} needs a text run's fitted gate (genforge gate "
                                "fit RUN); a --model folder has the auto gate only")  # fmt: skip
        self.pipe, self.gate = pipe, gate
        self.limits = limits or TextLimits()
        self.learned = None
        self.components = ["fluency", "repetition"]
        self.corpus = ""
        self._banned = [re.compile(rf"\b{re.escape(w)}\b", re.IGNORECASE)
                        for w in self.limits.banned]  # fmt: skip

    @torch.no_grad()
    def fluency(self, text: str) -> float:
        pipe = self.pipe
        ids = [pipe.start_id, *pipe.tokenizer.encode(text)][-(pipe.context or 1 << 30) :]
        if len(ids) < 2:
            return 0.0
        x = torch.tensor([ids], device=pipe.device)
        logits = pipe.hf(x[:, :-1]).logits.float()
        nll = torch.nn.functional.cross_entropy(logits[0], x[0, 1:])
        return float(torch.exp(-nll))


def best_texts(verdicts: list[TextVerdict], k: int, min_score: float) -> list[TextVerdict | None]:
    """Of every `k` consecutive verdicts, the best-scored one within the limits and at or above
    `min_score` (None where no candidate of the group passes)."""
    out = []
    for g in range(0, len(verdicts), k):
        ok = [v for v in verdicts[g : g + k] if not v.rejected and v.score >= min_score]
        out.append(max(ok, key=lambda v: v.score) if ok else None)
    return out
