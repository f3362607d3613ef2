"""Gradient averaging across processes for the adversarial and VAE steps.

accelerate's `prepare(model)` wraps a network in DistributedDataParallel, which cannot take a
discriminator called several times per step (real, fake, interpolates) or the double backward of
a gradient penalty. So networks stay unwrapped; each optimizer averages its own parameters'
gradients over all processes right before stepping (what DDP does, without the overlap). With a
single process this is a plain pass-through.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors


def average_gradients(params: list[torch.Tensor], world_size: int) -> None:
    """All-reduce (mean) the gradients of `params` in one flat buffer."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= world_size
    for g, synced in zip(grads, _unflatten_dense_tensors(flat, grads), strict=True):
        g.copy_(synced)


class SyncedOptimizer:
    """An optimizer (accelerate-prepared) whose `step` first averages gradients across processes."""

    def __init__(self, optimizer: Any, world_size: int):
        self.optimizer = optimizer
        self.world_size = world_size

    def step(self, *args: Any, **kwargs: Any) -> Any:
        if self.world_size > 1:
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            average_gradients(params, self.world_size)
        return self.optimizer.step(*args, **kwargs)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state)
