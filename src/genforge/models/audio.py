"""What every audio model family provides: built from an `AudioSpec`, trained on waveforms
(B, 1, L) in [-1, 1], generating waveforms from latents (the same `latent`/`generate` calls as
image models, so the trainer's fixed-latent preview works unchanged)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.data.audio import AudioSpec


class AudioModel(nn.Module):
    Config: ClassVar[type]

    def __init__(self, config: Any, spec: AudioSpec):
        super().__init__()
        if getattr(config, "conditional", False) and spec.num_classes < 2:
            raise GenforgeError(
                "a conditional model needs labeled clips (class subfolders); "
                f"this data has {spec.num_classes} classes"
            )
        self.config = config
        self.spec = spec

    @property
    def conditional(self) -> bool:
        return bool(getattr(self.config, "conditional", False))

    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    def networks(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def sampling_network(self) -> str:
        raise NotImplementedError

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor | None]],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator)

    def generate(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        """Latents (n, latent_dim) -> waveforms (n, 1, L) in [-1, 1]."""
        raise NotImplementedError
