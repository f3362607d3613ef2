"""What every image model family provides to the trainer and the samplers.

A family is an `nn.Module` holding its networks. The trainer prepares each network and its
optimizer with `accelerate` and calls `training_step`, whose phases are written out in the
family's own file. Samplers call `latent`, `generate` (and `encode`/`decode` for VAEs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.data.dataset import ImageSpec

Batch = tuple[
    torch.Tensor, torch.Tensor | None
]  # images (B, C, H, W) in [-1, 1], labels (B,) or None


@dataclass
class FeedbackBatch:
    """Rated outputs for one feedback step (`genforge train --resume RUN --feedback`).

    images: (K, C, H, W) in [-1, 1]; labels: (K,) class indices, -1 where the output's class
    is unknown (the null condition), or None for unconditional runs; weights: (K,) how much
    each item counts (its reward for reward-weighted fine-tuning, 1 - reward for negatives);
    scale: the feedback term's weight against the usual loss on real data.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    weights: torch.Tensor
    scale: float


class GenerativeModel(nn.Module):
    """What the trainer and samplers need from any latent-variable family (images, audio)."""

    Config: ClassVar[type]
    labeled_items: ClassVar[str] = "data"  # named in the error for unlabeled conditional data
    # What runs of this family are for (genforge.data.modalities.TASKS): "sample" draws new
    # items; "translate" maps images of one domain to another; "upscale" raises resolution;
    # "prompt" draws from a text prompt; "attributes" draws for a set of attribute values.
    task: ClassVar[str] = "sample"
    encodes: ClassVar[bool] = False  # True: a VAE (`encode`, `reconstruct`)
    count_based: ClassVar[bool] = False  # True: fitted by counting (text n-grams)
    # How ratings reach the weights (`--feedback`): "reward-weighted" fine-tuning on approved
    # outputs, down-rated outputs as extra "negatives" for a discriminator, or "preference"
    # pairs (DPO); None: this family does not learn from ratings.
    feedback: ClassVar[str | None] = None

    def __init__(self, config: Any, spec: Any):
        super().__init__()
        if getattr(config, "conditional", False) and spec.num_classes < self.min_classes(config):
            raise GenforgeError(
                f"a conditional model needs labeled {self.labeled_items} (class subfolders); "
                f"this data has {spec.num_classes} classes"
            )
        self.config = config
        self.spec = spec

    @classmethod
    def min_classes(cls, config: Any) -> int:
        """Classes a conditional model of this family needs in its data."""
        return 2

    @classmethod
    def rebuild(cls, config: Any, spec: Any, model_dir: Path) -> GenerativeModel:
        """The family of a saved run whose checkpoint is `model_dir`, before its weights are
        loaded. Families that keep files beside the weights (a pretrained text encoder's
        config and tokenizer) build from those; the others need only the config."""
        return cls(config, spec)

    # -- starting weights (--init) ------------------------------------------------------
    @classmethod
    def resolve_config(cls, config: Any, given: dict[str, Any]) -> Any:
        """A new run's config before it is written: families that start from a local folder
        (`init`) read what they take from it; `given` holds the options a user set. As is by
        default."""
        return config

    def check_init(self) -> None:
        """Raise a one-line GenforgeError when the `init` folder does not fit this network;
        nothing by default."""

    def load_init(self) -> None:
        """A new run, before its first step: load the `init` folder's weights; nothing by
        default."""

    @property
    def conditional(self) -> bool:
        return bool(getattr(self.config, "conditional", False))

    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    # -- training ----------------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        """Networks the trainer prepares and optimises, each with its own optimizer."""
        raise NotImplementedError

    def sampling_network(self) -> str:
        """Name of the network whose EMA copy is used for sampling."""
        raise NotImplementedError

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], Batch],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        """One optimisation step; returns detached scalar losses by name."""
        raise NotImplementedError

    def feedback_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], Batch],
        feedback: Callable[[], FeedbackBatch],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        """One step of a feedback round: the usual step on real data plus a term on the rated
        outputs `feedback()` draws (families with a `feedback` kind override this)."""
        raise GenforgeError(f"{type(self).__name__} does not learn from ratings")

    # -- sampling ----------------------------------------------------------------------
    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw `n` latent vectors (n, latent_dim) from the prior N(0, I)."""
        return torch.randn(n, self.latent_dim, generator=generator)

    def generate(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        """Map latents (n, latent_dim) to samples in [-1, 1]: images (n, C, H, W) or
        waveforms (n, 1, L)."""
        raise NotImplementedError

    # -- export -----------------------------------------------------------------------------
    def export(self, folder: Path, net: nn.Module) -> None:
        """Write extra files into each checkpoint's model/ folder (e.g. a diffusers pipeline
        of the EMA network `net`, loadable by that library). Nothing by default."""


class ImageModel(GenerativeModel):
    """Base class of image generative families (GANs, VAEs, diffusion)."""

    supported_sizes: ClassVar[tuple[int, ...]] = (8, 16, 32, 64, 128)
    # Two-domain image-to-image families train on --domain-a/--domain-b folders: "unpaired"
    # (any images of A and of B) or "paired" (A and B files paired by name); None: --data.
    domains: ClassVar[Literal["unpaired", "paired"] | None] = None

    def __init__(self, config: Any, spec: ImageSpec):
        if spec.size not in self.supported_sizes:
            raise GenforgeError(
                f"image size {spec.size} is not supported by {type(self).__name__}; "
                f"use one of {', '.join(map(str, self.supported_sizes))}"
            )
        super().__init__(config, spec)
