"""The quality gate for table runs: score generated rows, keep the best of each group.

Each score component lies in [0, 1]:
- realism: how real a row looks to a classifier fitted on the real training rows against a
  batch of the model's own rows (evaluate/table.RowJudge), measured against real held-out
  rows: 1 for a row at least as real-looking as the median held-out row, 0 for one less
  real-looking than all of them;
- learned: P(a person approves), from `genforge gate fit` (gate "learned" or "both").
The score is the mean of the components of the chosen gate.

Hard limits reject a row whatever its score, each with its reason: a row that breaks one of
the run's constraints (`range:`, `positive:`, `fixed:`; the pipeline already redraws those),
and a copy of a training row: one whose distance to the closest training row (DCR, the
privacy check's distance) is `min_dcr` or less (default: exact copies only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.evaluate.gate import GATES, Scored, best_in_groups, score_stats
from genforge.evaluate.table import COPY_TOLERANCE, RowJudge


@dataclass
class TableLimits:
    """Hard limits: a row outside them is rejected whatever its score."""

    min_dcr: float = COPY_TOLERANCE  # a row this close to a training row (or closer) is a copy

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_dcr <= 1.0:
            raise GenforgeError(
                f"--min-dcr is a distance in [0, 1] (mean per-column L1), got {self.min_dcr}"
            )


class TableGate:
    """Scores rows of one run; built once (it fits the real-vs-synthetic classifier)."""

    def __init__(self, pipe: Any, gate: str = "auto", limits: TableLimits | None = None):
        from genforge.evaluate.learned_gate import LearnedGate, TableFeatures

        if gate not in GATES:
            raise GenforgeError(f"--gate is one of {', '.join(GATES)}, got {gate!r}")
        self.pipe, self.gate = pipe, gate
        self.limits = limits or TableLimits()
        self.judge = RowJudge.of_run(pipe.run, pipe)
        self.learned, self.features = None, None
        if gate != "auto":
            self.features = TableFeatures(pipe.run, self.judge)
            self.learned = LearnedGate.load_for(pipe.run, self.features)
        self.components = [] if gate == "learned" else ["realism"]
        if self.learned is not None:
            self.components.append("learned")

    def score(self, rows: Any) -> Scored:
        """A DataFrame of candidate rows -> their scores and the limits each breaks."""
        comp: dict[str, torch.Tensor] = {}
        if "realism" in self.components:
            comp["realism"] = torch.from_numpy(self.judge.realism(rows)).float()
        if self.learned is not None:
            comp["learned"] = self.learned.prob(self.features.of_outputs(rows))
        score = torch.stack([comp[k].float() for k in self.components]).mean(0)
        dcr = self.judge.dcr(rows)
        ok = self.judge.spec.satisfied(rows)
        rejected = []
        for i in range(len(rows)):
            why = [] if ok[i] else ["breaks a constraint"]
            if dcr[i] <= self.limits.min_dcr:
                why.append(f"copy of a training row (DCR {dcr[i]:.3g} <= {self.limits.min_dcr:g})")
            rejected.append(why)
        return Scored(score, comp, rejected)


def gated_rows(
    pipe: Any,
    n: int,
    best_of: int = 4,
    min_score: float = 0.5,
    seed: int = 0,
    gate: str = "auto",
    limits: TableLimits | None = None,
) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """Draw `best_of` candidate rows per requested row and keep the best one within the limits
    scoring at least `min_score`.

    Returns:
        (the kept rows as a DataFrame, their scores, the gate's stats: what
        `cli.sample.gate_summary` reads, plus `rejected`: limit -> candidates it rejected).
    """
    from collections import Counter

    from genforge.data.table import fresh_ids

    if best_of < 1:
        raise GenforgeError(f"--best-of must be at least 1, got {best_of}")
    if not 0.0 <= min_score <= 1.0:
        raise GenforgeError(f"--min-score is a score in [0, 1], got {min_score}")
    scorer = TableGate(pipe, gate, limits)
    rows = pipe.sample(n * best_of, seed)
    scored = scorer.score(rows)
    keep = [i for i in best_in_groups(scored.score, scored.rejected, best_of, min_score)
            if i is not None]  # fmt: skip
    kept = rows.iloc[keep].reset_index(drop=True)
    for c in pipe.spec.columns:  # IDs numbered afresh over the rows kept
        if c["kind"] == "id":
            kept[c["name"]] = fresh_ids(c, len(kept))
    rejected = Counter(r.split(" (")[0] for why in scored.rejected for r in why)
    stats = score_stats(scored.score, len(keep), n, scorer.components, min_score=min_score,
                        best_of=best_of, gate=gate, rejected=dict(rejected))  # fmt: skip
    return kept, scored.score[keep].numpy(), stats
