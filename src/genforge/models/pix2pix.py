"""pix2pix: paired image-to-image translation (Isola et al. 2017, arXiv:1611.07004).

Trained on `--domain-a/--domain-b` folders whose files pair up by name; each training item
stacks the A image and its B partner on the channel axis (see `data/domains.py`). A U-Net
generator G maps A to B; a PatchGAN discriminator D judges (A, B) pairs, real or G-made. The
generator loss is the GAN loss (binary cross-entropy on D's patch logits) plus lambda * |G(a) - b|
(lambda 100 as in the paper): L1 gets the low frequencies right, D the sharp detail.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.data.dataset import ImageSpec
from genforge.models.base import Batch, ImageModel
from genforge.models.cyclegan import PatchDiscriminator

# ---------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------


class UNetLevel(nn.Module):
    """down (stride-2 conv) -> inner -> up (stride-2 transposed conv), with the skip concat."""

    def __init__(self, c_in: int, c_mid: int, inner: nn.Module | None, c_inner_out: int):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(c_in, c_mid, 4, 2, 1), nn.LeakyReLU(0.2))
        self.inner = inner
        self.up = nn.Sequential(
            nn.ConvTranspose2d(c_inner_out, c_in, 4, 2, 1), nn.InstanceNorm2d(c_in), nn.ReLU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.down(x)
        if self.inner is not None:
            h = self.inner(h)
        return torch.cat([x, self.up(h)], dim=1)  # (B, 2 * c_in, H, W)


class UNetGenerator(nn.Module):
    """The paper's U-Net: stride-2 convs down to a few pixels, transposed convs back up, each
    decoder level concatenated with the encoder features of its resolution."""

    def __init__(self, channels: int, width: int, depth: int):
        super().__init__()
        widths = [min(width * 2**i, 8 * width) for i in range(depth + 1)]  # per level
        inner: nn.Module | None = None
        c_inner_out = widths[depth]
        for i in reversed(range(1, depth + 1)):  # innermost first
            inner = UNetLevel(widths[i - 1], widths[i], inner, c_inner_out)
            c_inner_out = 2 * widths[i - 1]
        self.stem = nn.Conv2d(channels, width, 3, 1, 1)
        self.body = inner
        self.head = nn.Sequential(nn.Conv2d(c_inner_out, channels, 3, 1, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)))  # (B, C, H, W) in [-1, 1]


# ---------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------


@dataclass
class Pix2PixConfig:
    width: int = 32
    depth: int = 5  # stride-2 levels; capped so the bottleneck stays at least 2x2
    l1_weight: float = 100.0  # lambda of the paper


class Pix2Pix(ImageModel):
    """Translate domain A (--domain-a) to domain B (--domain-b), trained on pairs."""

    Config = Pix2PixConfig
    supported_sizes = (8, 16, 32, 64, 128)
    domains = "paired"
    task = "translate"

    def __init__(self, config: Pix2PixConfig, spec: ImageSpec):
        if spec.num_classes != 2:
            raise GenforgeError(
                "pix2pix translates between two paired folders: train it with --domain-a and "
                f"--domain-b; this data has {spec.num_classes} classes"
            )
        if config.depth < 1:
            raise GenforgeError(f"pix2pix depth must be at least 1, got {config.depth}")
        super().__init__(config, spec)
        c = spec.channels
        depth = min(config.depth, int(math.log2(spec.size)) - 1)
        self.generator = UNetGenerator(c, config.width, depth)
        self.discriminator = PatchDiscriminator(2 * c, config.width)  # sees (A, B) stacked
        self.preview_pairs: torch.Tensor | None = None  # (A, B) pairs of the first batch

    @property
    def latent_dim(self) -> int:
        return self.spec.channels * self.spec.size**2

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def sampling_network(self) -> str:
        return "generator"

    def _pairs(self, next_batch: Callable[[], Batch]) -> tuple[torch.Tensor, torch.Tensor]:
        x, _ = next_batch()
        c = self.spec.channels
        if x.size(1) != 2 * c:
            raise GenforgeError(
                f"pix2pix batches hold (A, B) pairs of {2 * c} channels, got {x.size(1)}; "
                "train it with --domain-a and --domain-b"
            )
        return x[:, :c], x[:, c:]

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], Batch],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        G, D = nets["generator"], nets["discriminator"]
        a, b = self._pairs(next_batch)
        if self.preview_pairs is None:
            self.preview_pairs = torch.cat([a[:8], b[:8]], 1).detach().float().cpu()

        # (1) Update G: D should call (a, G(a)) real, and G(a) should match b pixel for pixel
        fake = G(a)
        score = D(torch.cat([a, fake], 1)).float()  # (B, 1, H/4, W/4) logits
        adv = F.binary_cross_entropy_with_logits(score, torch.ones_like(score))
        l1 = F.l1_loss(fake.float(), b.float())
        loss_g = adv + self.config.l1_weight * l1
        opts["generator"].zero_grad(set_to_none=True)
        accelerator.backward(loss_g)
        opts["generator"].step()

        # (2) Update D: real pairs -> 1, generated pairs -> 0 (halved, as in the paper)
        real = D(torch.cat([a, b], 1)).float()
        made = D(torch.cat([a, fake.detach()], 1)).float()
        loss_d = 0.5 * (
            F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(made, torch.zeros_like(made))
        )
        opts["discriminator"].zero_grad(set_to_none=True)
        accelerator.backward(loss_d)
        opts["discriminator"].step()
        return {"loss_g": loss_g.detach(), "loss_d": loss_d.detach(), "l1": l1.detach()}

    # -- translation ------------------------------------------------------------------------
    def translate(
        self, x: torch.Tensor, direction: str = "a2b", net: nn.Module | None = None
    ) -> torch.Tensor:
        """Images (B, C, H, W) of domain A -> domain B."""
        if direction != "a2b":
            raise GenforgeError(
                f"pix2pix translates one way, a2b (got {direction!r}); for b2a train another "
                "run with --domain-a and --domain-b swapped"
            )
        return (net or self.generator)(x)

    @torch.no_grad()
    def generate(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        """Previews: (A image, G(A), true B) triples from the first training batch."""
        c, s = self.spec.channels, self.spec.size
        if self.preview_pairs is not None:
            pairs = self.preview_pairs
        else:  # before any training step: a stand-in from the latent
            pairs = z[:1].view(1, c, s, s).tanh().repeat(1, 2, 1, 1)
        k = torch.arange(z.size(0))
        pair = pairs[(k // 3) % pairs.size(0)].to(z.device, z.dtype)
        a, b = pair[:, :c], pair[:, c:]
        out = self.translate(a, "a2b", net)
        kind = (k % 3).to(z.device)[:, None, None, None]
        return torch.where(kind == 0, a, torch.where(kind == 1, out, b))  # a0, G(a0), b0, ...
