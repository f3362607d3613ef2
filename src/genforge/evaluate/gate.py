"""Quality gate: generate candidates, score them, keep those above a bar.

Each score component lies in [0, 1]:
- realism: where the GAN discriminator puts the sample among real training images (the
  share of real images it rates lower), for GAN families;
- confidence: the domain classifier's probability of the requested class (conditional) or of
  its top class (unconditional), for labeled data;
- manifold: closeness to the real feature manifold (k-NN realism score, capped at 1).
The candidate's score is the mean of the components that apply to its run.

A candidate perceptually close to a work on the project's opt-out list (data/governance.py)
is rejected whatever its score, and counted (`rejected_opted_out`): the memorisation audit
against that list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from genforge.core.errors import GenforgeError
from genforge.data.governance import PHASH_MAX_BITS, load_optout
from genforge.evaluate.image_metrics import realism_scores

MAX_MANIFOLD_REF = 2000


@dataclass
class GateResult:
    images: torch.Tensor  # accepted (k, C, H, W), k <= n
    labels: torch.Tensor | None
    scores: torch.Tensor  # accepted scores (k,)
    all_scores: torch.Tensor  # every candidate's score
    components: list[str]
    candidates: int
    requested: int
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def acceptance_rate(self) -> float:
        return float((self.all_scores >= self.stats["min_score"]).double().mean())

    def summary(self) -> dict[str, Any]:
        out = score_stats(self.all_scores, len(self.images), self.requested, self.components,
                          **self.stats)  # fmt: skip
        out["candidates"] = self.candidates
        return out


def score_stats(
    all_scores: torch.Tensor, kept: int, requested: int, components: list[str], **stats: Any
) -> dict[str, Any]:
    """What a gate did, for `genforge sample`'s plain-words line (cli.sample.gate_summary): kept
    and requested counts, candidates drawn, the share that scored at least `stats["min_score"]`
    and the candidate scores' 10th, 50th and 90th percentiles."""
    s = all_scores.double()
    q = torch.quantile(s, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64))
    return {
        "requested": requested,
        "accepted": kept,
        "candidates": len(s),
        "acceptance_rate": float((s >= stats["min_score"]).double().mean()),
        "score_p10": float(q[0]),
        "score_p50": float(q[1]),
        "score_p90": float(q[2]),
        "components": components,
        **stats,
    }


def best_in_groups(
    scores: torch.Tensor, rejected: list[list[str]], k: int, min_score: float
) -> list[int | None]:
    """Of every `k` consecutive candidates, the index of the best-scored one that no hard limit
    rejected and that scores at least `min_score` (None where none of the group does)."""
    out: list[int | None] = []
    for g in range(0, len(scores), k):
        ok = [i for i in range(g, min(g + k, len(scores)))
              if not rejected[i] and float(scores[i]) >= min_score]  # fmt: skip
        out.append(max(ok, key=lambda i: float(scores[i])) if ok else None)
    return out


GATES = ("auto", "learned", "both")


@dataclass
class Scored:
    """A batch of candidates as the audio and table gates see them."""

    score: torch.Tensor  # (N,) in [0, 1]
    components: dict[str, torch.Tensor]  # name -> (N,)
    rejected: list[list[str]]  # per candidate: "kind (detail)"; empty: within the limits


class QualityScorer:
    """Scores images of one run; built once, reused over candidate rounds.

    `gate` picks the components: "auto" (realism, confidence, manifold: no ratings needed),
    "learned" (the probability that a person approves, from `genforge gate fit`), or "both"
    (the mean of all of them).
    """

    def __init__(self, evaluator: Any, gate: str = "auto"):
        if gate not in GATES:
            raise GenforgeError(f"--gate is one of {', '.join(GATES)}, got {gate!r}")
        self.ev = evaluator
        self.pipe = evaluator.pipe
        self.components: list[str] = []
        self.learned = None
        if gate != "auto":
            self.learned, self.learned_space = load_learned(evaluator)
        if gate == "learned":
            self.components.append("learned")
            return
        nets = self.pipe.model.networks()
        self.disc = nets.get("discriminator")
        d = evaluator.data
        if self.disc is not None:
            self.components.append("realism")
            ref = d.train[:1000]
            ref_y = d.train_labels[:1000] if d.train_labels is not None else None
            self.real_d = torch.sort(
                self._d(ref, ref_y if self.pipe.model.conditional else None)
            ).values
        if evaluator.classifier is not None:
            self.components.append("confidence")
        self.components.append("manifold")
        ref_feats = evaluator.ref_features()
        if len(ref_feats) > MAX_MANIFOLD_REF:
            g = torch.Generator().manual_seed(0)
            ref_feats = ref_feats[torch.randperm(len(ref_feats), generator=g)[:MAX_MANIFOLD_REF]]
        self.ref_feats = ref_feats
        if self.learned is not None:
            self.components.append("learned")

    @torch.no_grad()
    def _d(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        self.disc.eval()
        dev = self.pipe.device
        out = []
        for i in range(0, len(x), 256):
            yb = y[i : i + 256].to(dev) if y is not None else None
            out.append(self.disc(x[i : i + 256].to(dev), yb).float().flatten().cpu())
        return torch.cat(out)

    @torch.no_grad()
    def score(self, images: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Component scores and their mean ("score"), each (N,) in [0, 1]."""
        out: dict[str, torch.Tensor] = {}
        if self.learned is not None:
            out["learned"] = self.learned.prob(self.learned_space.of_outputs(images))
        if self.components == ["learned"]:
            out["score"] = out["learned"]
            return out
        if self.disc is not None:
            d = self._d(images, labels if self.pipe.model.conditional else None)
            out["realism"] = torch.searchsorted(self.real_d, d).float() / len(self.real_d)
        clf = self.ev.classifier
        if clf is not None:
            probs = clf.logits(images).softmax(1).float()
            if labels is not None:
                out["confidence"] = probs.gather(1, labels.view(-1, 1).cpu()).squeeze(1)
            else:
                out["confidence"] = probs.max(1).values
        out["manifold"] = realism_scores(self.ref_feats, self.ev.space.features(images))
        out["score"] = torch.stack([out[k] for k in self.components]).mean(0)
        return out


def load_learned(evaluator: Any) -> tuple[Any, Any]:
    """The run's learned gate and the feature space it was fitted in (checked to be the one
    this evaluator gives)."""
    from genforge.evaluate.learned_gate import ImageFeatures, LearnedGate

    gate = LearnedGate.load(evaluator.run)
    feats = ImageFeatures(evaluator.run, evaluator)
    if gate.info.get("features") != feats.name or gate.info.get("dim") != len(gate.weight):
        raise GenforgeError(
            f"the learned gate of '{evaluator.run.name}' was fitted in {gate.info.get('features')}"
            f", but this evaluation's space is {feats.name}; refit it: genforge gate fit "
            f"{evaluator.run.name}"
        )
    return gate, feats


def best_of_each(
    scorer: QualityScorer, candidates: torch.Tensor, labels: torch.Tensor | None, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Of every `k` consecutive candidates (n * k, C, H, W), the best by `scorer`: their
    indices into `candidates` (n,) and their scores (n,)."""
    scores = scorer.score(candidates, labels)["score"].view(-1, k)  # (n, k)
    best = scores.argmax(1)
    return torch.arange(len(scores)) * k + best, scores.gather(1, best[:, None]).squeeze(1)


def gated_sample(
    evaluator: Any,
    n: int,
    best_of: int = 4,
    min_score: float = 0.5,
    seed: int = 0,
    label: int | str | None = None,
    truncation: float | None = None,
    gate: str = "auto",
) -> GateResult:
    """Draw candidates until `n` pass `min_score` or `n * best_of` candidates were drawn
    (`genforge sample` fills in the default of whichever of --best-of/--min-score is not given).

    Accepted images keep the order they were drawn in; for conditional runs without `label`
    the classes cycle over the accepted images, as in plain sampling.
    """
    if best_of < 1:
        raise GenforgeError(f"--best-of must be at least 1, got {best_of}")
    if not 0.0 <= min_score <= 1.0:
        raise GenforgeError(f"--min-score is a score in [0, 1], got {min_score}")
    from genforge.generate.pipeline import truncated_latent

    pipe = evaluator.pipe
    scorer = QualityScorer(evaluator, gate)
    budget = n * best_of
    want = pipe.labels_for(n, label)  # labels the accepted set must have (None: unconditional)
    k = pipe.spec.num_classes if want is not None else 1
    need = torch.bincount(want, minlength=k) if want is not None else torch.tensor([n])
    pools: list[list[tuple[torch.Tensor, float]]] = [[] for _ in range(k)]
    all_s: list[torch.Tensor] = []
    drawn, rnd, opted_out = 0, 0, 0
    optout = load_optout()
    while int(need.sum()) > 0 and drawn < budget:
        missing = int(need.sum())
        m = min(budget - drawn, max(2 * missing, 16))
        y = None
        if want is not None:  # candidates for the classes still short, in proportion
            short = torch.repeat_interleave(torch.arange(k), need)
            y = short.repeat((m + len(short) - 1) // len(short))[:m]
        g = torch.Generator().manual_seed(seed * 1_000_003 + rnd)
        x = pipe.generate(truncated_latent(m, pipe.model.latent_dim, truncation, g), y)
        s = scorer.score(x, y)["score"]
        all_s.append(s)
        for i in torch.nonzero(s >= min_score).flatten().tolist():
            c = int(y[i]) if y is not None else 0
            if need[c] > 0 and near_opted_out(x[i], optout):
                opted_out += 1
            elif need[c] > 0:
                pools[c].append((x[i], float(s[i])))
                need[c] -= 1
        drawn += m
        rnd += 1
    order = want.tolist() if want is not None else [0] * n
    taken = [0] * k
    kept_x, kept_y, kept_s = [], [], []
    for c in order:  # the requested label order, as far as each class's pool reaches
        if taken[c] < len(pools[c]):
            img, sc = pools[c][taken[c]]
            taken[c] += 1
            kept_x.append(img)
            kept_y.append(c)
            kept_s.append(sc)
    c, h = pipe.spec.channels, pipe.spec.size
    images = torch.stack(kept_x) if kept_x else torch.zeros(0, c, h, h)
    return GateResult(
        images=images,
        labels=torch.tensor(kept_y) if want is not None else None,
        scores=torch.tensor(kept_s),
        all_scores=torch.cat(all_s),
        components=scorer.components,
        candidates=drawn,
        requested=n,
        stats={
            "min_score": min_score,
            "best_of": best_of,
            "rejected_opted_out": opted_out,
            "gate": gate,
        },
    )


def near_opted_out(image: torch.Tensor, optout: Any) -> bool:
    """Whether an image (C, H, W) in [-1, 1] is within the opt-out list's perceptual distance
    of a listed work."""
    if not optout.phash:
        return False
    from genforge.core.images import hamming, phash, to_pil, to_uint8

    h = phash(to_pil(to_uint8(image)))
    return h is not None and min(hamming(h, p) for p in optout.phash) <= PHASH_MAX_BITS
