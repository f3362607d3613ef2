"""Convolutional VAE (Kingma & Welling 2013, arXiv:1312.6114), β-VAE weighting (Higgins et al.
2017) and a conditional VAE (Sohn et al. 2015) when `config.conditional`.

encode: x -> (mu, logvar); decode: z -> x; reconstruct; interpolate between two images.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genforge.data.dataset import ImageSpec
from genforge.models.base import Batch, ImageModel

# ---------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------


class Encoder(nn.Module):
    def __init__(self, in_channels: int, size: int, width: int, latent_dim: int, num_classes: int):
        super().__init__()
        n = int(math.log2(size)) - 2
        widths = [width * min(2**i, 8) for i in range(n)]
        layers: list[nn.Module] = []
        c = in_channels + num_classes  # one-hot label planes appended as channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 4, 2, 1), nn.BatchNorm2d(w), nn.LeakyReLU(0.2)]
            c = w
        self.features = nn.Sequential(*layers)  # (B, w_last, 4, 4)
        self.num_classes = num_classes
        self.to_stats = nn.Linear(c * 16, 2 * latent_dim)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        if self.num_classes:
            planes = F.one_hot(labels, self.num_classes).to(x.dtype)[:, :, None, None]
            x = torch.cat([x, planes.expand(-1, -1, x.size(2), x.size(3))], dim=1)
        mu, logvar = self.to_stats(self.features(x).flatten(1)).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)  # (B, latent), (B, latent)


class Decoder(nn.Module):
    def __init__(self, out_channels: int, size: int, width: int, latent_dim: int, num_classes: int):
        super().__init__()
        n = int(math.log2(size)) - 2
        widths = [width * min(2 ** (n - 1 - i), 8) for i in range(n)]
        self.num_classes = num_classes
        self.from_latent = nn.Linear(latent_dim + num_classes, widths[0] * 16)
        self.w0 = widths[0]
        layers: list[nn.Module] = [nn.BatchNorm2d(widths[0]), nn.ReLU()]
        for a, b in pairwise(widths):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1), nn.BatchNorm2d(b), nn.ReLU()]
        layers += [nn.ConvTranspose2d(widths[-1], out_channels, 4, 2, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            z = torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        h = self.from_latent(z).view(z.size(0), self.w0, 4, 4)
        return self.net(h)  # (B, C, size, size) logits / pre-activation


class VAENet(nn.Module):
    def __init__(self, spec: ImageSpec, width: int, latent_dim: int, num_classes: int):
        super().__init__()
        self.encoder = Encoder(spec.channels, spec.size, width, latent_dim, num_classes)
        self.decoder = Decoder(spec.channels, spec.size, width, latent_dim, num_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        mu, logvar = self.encoder(x, labels)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # reparameterisation
        return self.decoder(z, labels), mu, logvar


# ---------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------


@dataclass
class VAEConfig:
    latent_dim: int = 32
    width: int = 32  # encoder width at the input stage
    beta: float = 1.0  # weight of the KL term (beta-VAE)
    reconstruction: Literal["mse", "bce"] = "mse"
    conditional: bool = False


class VAE(ImageModel):
    """Convolutional VAE; a conditional VAE when `config.conditional`."""

    Config = VAEConfig
    encodes = True

    def __init__(self, config: VAEConfig, spec: ImageSpec):
        super().__init__(config, spec)
        k = spec.num_classes if config.conditional else 0
        self.vae = VAENet(spec, config.width, config.latent_dim, k)

    def networks(self) -> dict[str, nn.Module]:
        return {"vae": self.vae}

    def sampling_network(self) -> str:
        return "vae"

    def _to_image(self, out: torch.Tensor) -> torch.Tensor:
        if self.config.reconstruction == "bce":
            return torch.sigmoid(out) * 2 - 1  # logits of pixel intensity in [0, 1]
        return torch.tanh(out)

    def reconstruction_loss(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Summed over pixels, averaged over the batch (the ELBO's scale)."""
        if self.config.reconstruction == "bce":
            target = (x + 1) / 2
            per = F.binary_cross_entropy_with_logits(out, target, reduction="none")
        else:
            per = F.mse_loss(torch.tanh(out), x, reduction="none") / 2
        return per.flatten(1).sum(1).mean()

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], Batch],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        x, labels = next_batch()
        y = labels if self.conditional else None
        # (1) Maximise the ELBO: reconstruction - beta * KL(q(z|x) || N(0, I))
        out, mu, logvar = nets["vae"](x, y)
        recon = self.reconstruction_loss(out.float(), x)
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).float().sum(1).mean()
        loss = recon + self.config.beta * kl
        opts["vae"].zero_grad(set_to_none=True)
        accelerator.backward(loss)
        opts["vae"].step()
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    # -- sampling and representation -------------------------------------------------------
    def generate(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        return self.decode(z, labels, net)

    def encode(
        self, x: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters (mu, logvar), each (B, latent_dim)."""
        return (net or self.vae).encoder(x, labels if self.conditional else None)

    def decode(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        out = (net or self.vae).decoder(z, labels if self.conditional else None)
        return self._to_image(out)

    def reconstruct(
        self, x: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        """Decode the posterior mean: x -> mu -> x_hat."""
        mu, _ = self.encode(x, labels, net)
        return self.decode(mu, labels, net)

    def interpolate(
        self,
        x1: torch.Tensor,
        x2: torch.Tensor,
        steps: int,
        labels: torch.Tensor | None = None,
        net: nn.Module | None = None,
    ) -> torch.Tensor:
        """Decode `steps` points on the line between the codes of two images (1, C, H, W)."""
        mu1, _ = self.encode(x1, labels, net)
        mu2, _ = self.encode(x2, labels, net)
        t = torch.linspace(0, 1, steps, device=mu1.device)[:, None]
        z = (1 - t) * mu1 + t * mu2  # (steps, latent)
        y = labels.expand(steps) if labels is not None else None
        return self.decode(z, y, net)
