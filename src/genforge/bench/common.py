"""What the benchmarks share: medians, device synchronisation, clocks, timing loops, option
checks and the line that says which torch ran them."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Sequence

import torch

from genforge.core.errors import GenforgeError

Log = Callable[[str], None]  # where a benchmark says what it is doing (the CLI: console.print)


def median(xs: Iterable[float]) -> float:
    return statistics.median(xs)


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so a clock read after it
    counts the work."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def clock(kind: str) -> Callable[[], float]:
    """The clock of `kind`: wall (elapsed seconds) or cpu (CPU seconds this process used)."""
    return time.process_time if kind == "cpu" else time.perf_counter


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Seconds of each of `repeats` calls of `fn`, after one warm-up call."""
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def torch_threads() -> str:
    """The torch version and its CPU threads, e.g. "torch 2.5.1, 4 CPU threads"."""
    return f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"


def check_one_of(option: str, value: str, choices: Sequence[str]) -> None:
    """Raise "--option must be a or b, got 'value'" unless value is one of the choices."""
    if value not in choices:
        raise GenforgeError(f"--{option} must be {' or '.join(choices)}, got {value!r}")


def check_at_least_one(**counts: int) -> None:
    """Raise "--a, --b and --c must be at least 1" when any count is below 1."""
    if any(v < 1 for v in counts.values()):
        names = [f"--{k.replace('_', '-')}" for k in counts]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        raise GenforgeError(f"{listed} must be at least 1")
