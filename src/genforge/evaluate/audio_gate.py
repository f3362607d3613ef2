"""The quality gate for audio runs: score generated clips, keep the best of each group.

Each score component lies in [0, 1]:
- confidence: the audio evaluator's label classifier (evaluate/audio.py, trained once on the
  run's clips and cached): its probability of the requested class (conditional runs) or of its
  top class; labeled data only;
- clipping: 1 with no sample at |x| >= 0.999, falling linearly to 0 when 2 % of them are;
- silence: the share of 20 ms frames louder than the silence floor (default -50 dBFS RMS);
- snr: the clip's own signal-to-noise estimate (evaluate/audio.signal_stats), 0 at 0 dB or
  below, 1 at 30 dB or above;
- learned: P(a person approves), from `genforge gate fit` (gate "learned" or "both").
The score is the mean of the components of the chosen gate.

Hard limits reject a clip whatever its score, each with its reason: more clipped samples than
`max_clipping`, more silent frames than `max_silence`, an SNR below `min_snr_db`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from genforge.core.errors import GenforgeError
from genforge.evaluate.audio import SILENCE_DB, audio_space, signal_stats
from genforge.evaluate.gate import GATES, Scored, best_in_groups, score_stats

CLIP_ZERO = 0.02  # the clipping component is 0 from this share of clipped samples
SNR_CLEAN_DB = 30.0  # the snr component is 1 from this SNR


@dataclass
class AudioLimits:
    """Hard limits: a clip outside them is rejected whatever its score."""

    max_clipping: float = 0.01  # share of samples at |x| >= 0.999
    max_silence: float = 0.9  # share of silent 20 ms frames
    min_snr_db: float | None = None
    silence_db: float = SILENCE_DB  # a frame whose RMS is below this (dBFS) is silent

    def __post_init__(self) -> None:
        for name in ("max_clipping", "max_silence"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise GenforgeError(f"--{name.replace('_', '-')} is a share in [0, 1], got {v}")
        if self.silence_db >= 0:
            raise GenforgeError(f"the silence floor is in dBFS, below 0; got {self.silence_db}")


class AudioGate:
    """Scores clips of one run; built once (it loads or trains the domain networks)."""

    def __init__(self, pipe: Any, gate: str = "auto", limits: AudioLimits | None = None):
        from genforge.evaluate.learned_gate import AudioFeatures, LearnedGate

        if gate not in GATES:
            raise GenforgeError(f"--gate is one of {', '.join(GATES)}, got {gate!r}")
        self.pipe, self.gate = pipe, gate
        self.limits = limits or AudioLimits()
        self.space = audio_space(pipe.run)
        self.learned, self.features = None, None
        if gate != "auto":
            self.features = AudioFeatures(pipe.run, self.space)
            self.learned = LearnedGate.load_for(pipe.run, self.features)
        self.components = []
        if gate != "learned":
            self.components += ["confidence"] if self.space.judge is not None else []
            self.components += ["clipping", "silence", "snr"]
        if self.learned is not None:
            self.components.append("learned")

    @torch.no_grad()
    def score(self, waves: torch.Tensor, labels: torch.Tensor | None = None) -> Scored:
        """Clips (N, 1, L) and the labels they were asked for (conditional runs) or None."""
        lim = self.limits
        st = signal_stats(waves, self.pipe.sample_rate, lim.silence_db)
        comp: dict[str, torch.Tensor] = {}
        if "confidence" in self.components:
            p = self.space.probs(waves).float()
            comp["confidence"] = (p.gather(1, labels.view(-1, 1)).squeeze(1)
                                  if labels is not None else p.max(1).values)  # fmt: skip
        if "clipping" in self.components:
            comp["clipping"] = (1 - st["clipped"] / CLIP_ZERO).clamp(0, 1)
            comp["silence"] = 1 - st["silent"]
            comp["snr"] = (st["snr_db"] / SNR_CLEAN_DB).clamp(0, 1)
        if self.learned is not None:
            comp["learned"] = self.learned.prob(self.features.of_outputs(waves))
        score = torch.stack([comp[k].float() for k in self.components]).mean(0)
        return Scored(score, comp, [self.reasons(st, i) for i in range(len(waves))])

    def reasons(self, st: dict[str, torch.Tensor], i: int) -> list[str]:
        """Why clip `i` breaks the hard limits (empty when it does not)."""
        lim, why = self.limits, []
        clipped, silent, snr = (float(st[k][i]) for k in ("clipped", "silent", "snr_db"))
        if clipped > lim.max_clipping:
            why.append(f"clipping ({clipped:.1%} of samples > {lim.max_clipping:.1%})")
        if silent > lim.max_silence:
            why.append(f"silence ({silent:.0%} of frames > {lim.max_silence:.0%})")
        if lim.min_snr_db is not None and snr < lim.min_snr_db:
            why.append(f"noise (SNR {snr:.1f} dB < {lim.min_snr_db:g})")
        return why


def gated_clips(
    pipe: Any,
    n: int,
    best_of: int = 4,
    min_score: float = 0.5,
    seed: int = 0,
    label: int | str | None = None,
    gate: str = "auto",
    limits: AudioLimits | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, dict[str, Any]]:
    """Draw `best_of` candidates per requested clip (each with the clip's label) and keep the
    best one within the limits scoring at least `min_score`.

    Returns:
        (kept clips (k, 1, L), their labels or None, their scores (k,), the gate's stats: what
        `cli.sample.gate_summary` reads, plus `rejected`: limit -> candidates it rejected).
    """
    from collections import Counter

    if best_of < 1:
        raise GenforgeError(f"--best-of must be at least 1, got {best_of}")
    if not 0.0 <= min_score <= 1.0:
        raise GenforgeError(f"--min-score is a score in [0, 1], got {min_score}")
    scorer = AudioGate(pipe, gate, limits)
    waves, labels = pipe.sample(n, seed, label, repeat=best_of)
    scored = scorer.score(waves, labels)
    keep = [i for i in best_in_groups(scored.score, scored.rejected, best_of, min_score)
            if i is not None]  # fmt: skip
    idx = torch.tensor(keep, dtype=torch.long)
    rejected = Counter(r.split(" (")[0] for why in scored.rejected for r in why)
    stats = score_stats(scored.score, len(keep), n, scorer.components, min_score=min_score,
                        best_of=best_of, gate=gate, rejected=dict(rejected))  # fmt: skip
    return (waves[idx], labels[idx] if labels is not None else None, scored.score[idx], stats)
