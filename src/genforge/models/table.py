"""What every table model family provides: built from a `TableSpec`, trained on encoded rows
(N, D), sampling encoded rows that `data.table.decode` turns back into a table.

The encoded layout (see data/table.py) is a list of spans: 'tanh' spans hold a mode-normalised
number in [-1, 1], 'softmax' spans a one-hot block (a number's mode, a category, a missing flag).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genforge.data.table import TableSpec


def activate(
    spec: TableSpec,
    raw: torch.Tensor,
    tau: float = 0.2,
    hard: Literal["none", "argmax", "sample"] = "none",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Network output (B, D) -> a row in the encoded space: tanh for alphas, Gumbel-softmax
    for one-hot blocks; for sampling, `hard` one-hots: the most likely value ("argmax") or a
    value drawn from the block's softmax ("sample": argmax of logits + Gumbel noise)."""
    parts = []
    for s in spec.spans:
        x = raw[:, s.start : s.start + s.size]
        if s.kind == "tanh":
            parts.append(torch.tanh(x))
        elif hard != "none":
            if hard == "sample":
                u = torch.rand(x.shape, generator=generator).to(x.device).clamp(1e-10, 1 - 1e-10)
                x = x - torch.log(-torch.log(u))
            parts.append(F.one_hot(x.argmax(1), s.size).to(raw.dtype))
        else:
            parts.append(F.gumbel_softmax(x, tau=tau))
    return torch.cat(parts, dim=1)


class TableModel(nn.Module):
    """Base class of table families (CTGAN, TVAE, Gaussian copula)."""

    Config: ClassVar[type]
    task: ClassVar[str] = "sample"  # draw new rows (genforge.data.modalities.TASKS)
    count_based: ClassVar[bool] = False  # True: fitted by counting (text n-grams)

    def __init__(self, config: Any, spec: TableSpec):
        super().__init__()
        self.config = config
        self.spec = spec

    @property
    def conditional(self) -> bool:
        return False

    def networks(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def sampling_network(self) -> str:
        raise NotImplementedError

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], tuple[torch.Tensor, Any]],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def sample(
        self, n: int, generator: torch.Generator | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        """`n` encoded rows (n, D) on the CPU with hard one-hot blocks, ready for `decode`."""
        raise NotImplementedError
