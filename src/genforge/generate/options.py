"""What the sampling commands ask for, with their defaults held once: `SampleOptions` (`genforge
sample RUN`, read by each modality's writer, the "sample" handler of its entry in
genforge.data.modalities) and `PromptOptions` (`genforge generate image`, whichever provider
draws). The commands pass on only the options a user gave.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


@dataclass
class SampleOptions:
    """What `genforge sample` was asked for; each modality's writer reads what applies to it."""

    n: int | None = None  # None: COUNTS of what is drawn
    seed: int = 0
    label: str | None = None
    truncation: float | None = None
    grid: Path | None = None
    out_dir: Path | None = None
    nrow: int | None = None
    interpolate: int | None = None
    frames: int = 60
    fps: int = 20
    out: Path | None = None
    sampler: str | None = None
    steps: int | None = None
    guidance: float | None = None
    eta: float | None = None
    best_of: int | None = None  # quality gate (on when best_of or min_score is given)
    min_score: float | None = None
    gate: str | None = None  # auto | learned | both (None: auto)
    checkpoint: str = "last"
    device: str = "auto"
    ema: bool = True

    # --n when not given, by what is drawn
    COUNTS: ClassVar[dict[str, int]] = {"images": 64, "walks": 1, "rows": 1000, "clips": 8}

    def count(self, what: str) -> int:
        """--n, else the default count of `what` (a key of COUNTS)."""
        return self.COUNTS[what] if self.n is None else self.n


@dataclass
class PromptOptions:
    """What `genforge generate image` was asked for, beyond the prompt and the model."""

    n: int = 8
    seed: int = 0
    guidance: float | None = None
    steps: int | None = None
    strength: float = 0.6  # image-to-image: how much to change
