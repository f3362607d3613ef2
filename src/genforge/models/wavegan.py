"""WaveGAN (Donahue, McAuley & Puckette 2019, "Adversarial Audio Synthesis", arXiv:1802.04208):
DCGAN flattened to 1-D on raw waveforms. Length-25 transposed convolutions with stride 4 grow
16 samples to 16 * 4^k; the critic mirrors them with phase shuffle (each layer's activations
shifted by a random -n..n samples, so it cannot key on the generator's periodic artefacts) and
is trained with WGAN-GP. The conditional variant feeds a label embedding to the generator and
scores labels by projection (Miyato & Koyama 2018) in the critic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genforge.data.audio import AudioSpec
from genforge.models.audio import AudioModel

# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------


class PhaseShuffle(nn.Module):
    """Shift each example by a random integer in [-n, n] samples, reflect-padding the edge."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, L)
        if self.n == 0 or not self.training:
            return x
        B, C, L = x.shape
        k = torch.randint(-self.n, self.n + 1, (B, 1, 1), device=x.device)
        padded = F.pad(x, (self.n, self.n), mode="reflect")  # (B, C, L + 2n)
        idx = torch.arange(L, device=x.device).view(1, 1, L) + self.n - k
        return padded.gather(2, idx.expand(B, C, L))


def n_upsamples(length: int) -> int:
    """Transposed convs (x4 each) from 16 samples to at least `length`."""
    return max(1, math.ceil(math.log(max(length, 17) / 16, 4) - 1e-9))


class Generator(nn.Module):
    def __init__(self, latent_dim: int, d: int, k: int, length: int, num_classes: int):
        super().__init__()
        widths = [d * 2 ** (k - 1 - i) for i in range(k)]  # e.g. 16d, 8d, 4d, 2d, d
        self.num_classes, self.length, self.w0 = num_classes, length, widths[0]
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        in_dim = latent_dim * (2 if num_classes else 1)
        self.fc = nn.Linear(in_dim, 16 * widths[0])
        layers: list[nn.Module] = []
        for i in range(k):
            out = widths[i + 1] if i + 1 < k else 1
            layers.append(nn.ConvTranspose1d(widths[i], out, 25, 4, 11, output_padding=1))
            if i + 1 < k:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        h = F.relu(self.fc(z)).view(z.size(0), self.w0, 16)  # (B, 16d, 16)
        return torch.tanh(self.net(h))[..., : self.length]  # (B, 1, 16 * 4^k) cropped to L


class Critic(nn.Module):
    def __init__(self, d: int, k: int, length: int, shuffle: int, num_classes: int):
        super().__init__()
        layers: list[nn.Module] = []
        c = 1
        for i in range(k):
            w = d * 2**i
            layers += [nn.Conv1d(c, w, 25, 4, 11), nn.LeakyReLU(0.2)]
            if i + 1 < k:
                layers.append(PhaseShuffle(shuffle))
            c = w
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, 1, length)).numel()
        self.out = nn.Linear(flat, 1)
        self.embed = nn.Embedding(num_classes, flat) if num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x).flatten(1)  # (B, flat)
        score = self.out(h).squeeze(1)
        if self.embed is not None:  # projection: + <embed(y), h>
            score = score + (self.embed(labels) * h).sum(1)
        return score


# ---------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------


@dataclass
class WaveGANConfig:
    latent_dim: int = 100
    model_size: int = 32  # d: the paper uses 64; 32 keeps CPU training and sampling quick
    phase_shuffle: int = 2  # n of phase shuffle in the critic
    n_critic: int = 5
    gp_weight: float = 10.0
    conditional: bool = False


class WaveGAN(AudioModel):
    Config = WaveGANConfig

    def __init__(self, config: WaveGANConfig, spec: AudioSpec):
        super().__init__(config, spec)
        k = n_upsamples(spec.length)
        nc = spec.num_classes if config.conditional else 0
        self.generator = Generator(config.latent_dim, config.model_size, k, spec.length, nc)
        self.discriminator = Critic(config.model_size, k, spec.length, config.phase_shuffle, nc)

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def sampling_network(self) -> str:
        return "generator"

    def _gradient_penalty(self, D, real, fake, y):
        eps = torch.rand(real.size(0), 1, 1, device=real.device)
        mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
        grad = torch.autograd.grad(D(mixed, y).sum(), mixed, create_graph=True)[0]
        return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor | None]],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        G, D, cfg = nets["generator"], nets["discriminator"], self.config
        # (1) Update the critic n_critic times: maximise D(real) - D(G(z)), gradient penalty
        for _ in range(cfg.n_critic):
            x, labels = next_batch()
            y = labels if self.conditional else None
            z = torch.randn(x.size(0), cfg.latent_dim, device=x.device)
            fake = G(z, y).detach()
            gp = self._gradient_penalty(D, x, fake, y)
            loss_d = D(fake, y).mean() - D(x, y).mean()
            opts["discriminator"].zero_grad(set_to_none=True)
            accelerator.backward(loss_d + cfg.gp_weight * gp)
            opts["discriminator"].step()
        # (2) Update the generator: maximise D(G(z))
        z = torch.randn(x.size(0), cfg.latent_dim, device=x.device)
        loss_g = -D(G(z, y), y).mean()
        opts["generator"].zero_grad(set_to_none=True)
        accelerator.backward(loss_g)
        opts["generator"].step()
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "gp": gp.detach()}

    def generate(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        return (net or self.generator)(z, labels if self.conditional else None)
