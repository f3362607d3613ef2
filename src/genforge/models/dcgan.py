"""DCGAN: transposed-conv generator, strided-conv discriminator (Radford et al. 2015,
arXiv:1511.06434), sized to the image (8..128 px) and channel count.

The same networks serve four registered variants (see registry.py): `dcgan` (BCE, BatchNorm),
`cgan` (class-conditional: conditional BatchNorm in G, projection discriminator, Miyato &
Koyama 2018, arXiv:1802.05637), `wgan-gp` (Wasserstein + gradient penalty, LayerNorm in the
critic) and `hinge-sn` (hinge loss + spectral norm). Training is `GAN.training_step`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import torch
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.data.dataset import ImageSpec
from genforge.models.diffaug import parse_policy
from genforge.models.gan import GAN, Loss

Norm = Literal["batch", "spectral", "layer", "none"]

# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift come from the class label (no affine when unlabeled)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.bn = nn.BatchNorm2d(channels, affine=num_classes == 0)
        if num_classes:
            self.gamma = nn.Embedding(num_classes, channels)
            self.beta = nn.Embedding(num_classes, channels)
            nn.init.normal_(self.gamma.weight, 1.0, 0.02)
            nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        h = self.bn(x)
        if not self.num_classes:
            return h
        g = self.gamma(labels)[:, :, None, None]  # (B, C, 1, 1)
        b = self.beta(labels)[:, :, None, None]
        return g * h + b


def stage_channels(base: int, n: int) -> list[int]:
    """Channel widths from the 4x4 stage outwards: base*8, base*4, ... capped at base*8."""
    return [base * min(2 ** (n - 1 - i), 8) for i in range(n)]


def _d_norm(norm: Norm, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "layer":
        return nn.GroupNorm(1, channels)  # LayerNorm over (C, H, W), per sample
    return nn.Identity()


class DCGANGenerator(nn.Module):
    def __init__(self, latent_dim: int, out_channels: int, size: int, ngf: int, num_classes: int):
        super().__init__()
        n = int(math.log2(size)) - 2  # number of 2x upsamplings after the 4x4 stage
        widths = stage_channels(ngf, n)
        self.latent_dim = latent_dim
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        in_dim = latent_dim * (2 if num_classes else 1)
        self.stem = nn.ConvTranspose2d(in_dim, widths[0], 4, 1, 0, bias=False)  # (B, w0, 4, 4)
        self.norms = nn.ModuleList([ConditionalBatchNorm2d(w, num_classes) for w in widths])
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False) for a, b in pairwise(widths)
        )
        self.to_image = nn.ConvTranspose2d(widths[-1], out_channels, 4, 2, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        h = self.stem(z[:, :, None, None])
        h = torch.relu(self.norms[0](h, labels))
        for up, norm in zip(self.ups, self.norms[1:], strict=True):
            h = torch.relu(norm(up(h), labels))  # spatial size doubles each block
        return torch.tanh(self.to_image(h))  # (B, C, size, size)


class DCGANDiscriminator(nn.Module):
    def __init__(self, in_channels: int, size: int, ndf: int, norm: Norm, num_classes: int):
        super().__init__()
        n = int(math.log2(size)) - 2
        widths = list(reversed(stage_channels(ndf, n)))  # ndf, 2ndf, ... at 4x4
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for a, b in pairwise(widths):
            layers += [
                nn.Conv2d(a, b, 4, 2, 1, bias=norm not in ("batch", "layer")),
                _d_norm(norm, b),
                nn.LeakyReLU(0.2),
            ]
        self.features = nn.Sequential(*layers)  # (B, w_last, 4, 4)
        self.head = nn.Conv2d(widths[-1], 1, 4, 1, 0)
        self.embed = nn.Embedding(num_classes, widths[-1]) if num_classes else None
        if norm == "spectral":
            for m in self.modules():
                if isinstance(m, nn.Conv2d | nn.Embedding):
                    nn.utils.parametrizations.spectral_norm(m)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        out = self.head(h).flatten()  # (B,)
        if self.embed is not None:  # projection: <embed(y), sum-pooled features>
            out = out + (self.embed(labels) * h.sum(dim=(2, 3))).sum(dim=1)
        return out


def dcgan_init(m: nn.Module) -> None:
    """DCGAN paper init: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02)."""
    if isinstance(m, nn.Conv2d | nn.ConvTranspose2d) and not hasattr(m, "parametrizations"):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d) and m.affine:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------


@dataclass
class DCGANConfig:
    latent_dim: int = 100
    ngf: int = 64  # generator width at the output stage
    ndf: int = 64  # discriminator width at the input stage
    conditional: bool = False
    d_norm: Norm = "batch"
    loss: Loss = "bce"
    n_critic: int = 1
    gp_weight: float = 10.0
    diffaug: str = ""  # DiffAugment policy for everything D sees (diffaug.py), e.g. "translation"


class DCGAN(GAN):
    """Convolutional GAN; class-conditional when `config.conditional`."""

    Config = DCGANConfig
    supported_sizes = (8, 16, 32, 64, 128)

    def __init__(self, config: DCGANConfig, spec: ImageSpec):
        super(GAN, self).__init__(config, spec)  # skip GAN's MLP networks
        if config.loss == "wgan-gp" and config.d_norm == "batch":
            raise GenforgeError(
                "wgan-gp penalises per-sample gradients, which BatchNorm in the critic breaks; "
                "set d_norm=layer or d_norm=none"
            )
        k = spec.num_classes if config.conditional else 0
        self.generator = DCGANGenerator(config.latent_dim, spec.channels, spec.size, config.ngf, k)
        self.discriminator = DCGANDiscriminator(
            spec.channels, spec.size, config.ndf, config.d_norm, k
        )
        self.policy = parse_policy(config.diffaug)  # a bad policy fails before training starts
        self.apply(dcgan_init)
