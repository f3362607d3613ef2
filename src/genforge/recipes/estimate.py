"""How long a recipe will take on this machine, said before its long work starts.

An estimate is measured, not guessed: each long stage times a few of its own steps here (a
training step of the real model on the real data, a batch of samples, a classifier step) and
multiplies by the steps the options ask for. It is printed as, e.g.,

    expected duration on this machine: about 14 min (generator training ~11 min, sampling
    ~40 s, utility test ~2.5 min), from a few timed steps; it varies with the machine's load
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def human(seconds: float) -> str:
    """~40 s, ~12 min, ~1.5 h."""
    if seconds < 90:
        return f"~{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        m = seconds / 60
        return f"~{m:.1f} min" if m < 10 else f"~{round(m)} min"
    return f"~{seconds / 3600:.1f} h"


@dataclass
class Estimate:
    """Expected seconds per stage of a recipe, in the order the stages run."""

    parts: list[tuple[str, float]] = field(default_factory=list)

    def add(self, what: str, seconds: float) -> None:
        self.parts.append((what, seconds))

    @property
    def total(self) -> float:
        return sum(s for _, s in self.parts)

    def describe(self) -> str:
        stages = ", ".join(f"{what} {human(s)}" for what, s in self.parts)
        return (
            f"expected duration on this machine: about {human(self.total).lstrip('~')} "
            f"({stages}), from a few timed steps; it varies with the machine's load"
        )


def seconds_per_step(run_steps: Callable[[int], Any], probe: int = 4) -> float:
    """Seconds per step of `run_steps(k)` (a function doing k steps): time 1 step and `probe`
    steps; the difference leaves out what happens once (building, first-call warm-up)."""
    t = time.perf_counter()
    run_steps(1)
    one = time.perf_counter() - t
    t = time.perf_counter()
    run_steps(probe)
    many = time.perf_counter() - t
    return max(many - one, many / probe / 4) / (probe - 1)
