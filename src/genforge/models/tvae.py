"""TVAE: a variational autoencoder for tables (Xu et al. 2019, arXiv:1907.00503, section 4),
on the same mode-normalised rows as CTGAN.

The decoder outputs, per span, an alpha (Gaussian with a learned per-dimension sigma) or the
logits of a one-hot block (categorical); the loss is the negative ELBO.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genforge.data.table import TableSpec
from genforge.models.table import TableModel, activate

# ---------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------


def mlp(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in pairwise(dims):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class TVAENet(nn.Module):
    def __init__(self, data_dim: int, hidden: tuple[int, ...], latent_dim: int):
        super().__init__()
        self.encoder = mlp([data_dim, *hidden])
        self.to_stats = nn.Linear(hidden[-1], 2 * latent_dim)
        self.decoder = nn.Sequential(
            mlp([latent_dim, *hidden[::-1]]), nn.Linear(hidden[0], data_dim)
        )
        self.log_sigma = nn.Parameter(torch.full((data_dim,), -2.3))  # sigma 0.1, as TVAE

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.to_stats(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-30, 20)  # (B, latent) each

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar


# ---------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------


@dataclass
class TVAEConfig:
    latent_dim: int = 128
    hidden: tuple[int, ...] = (128, 128)
    loss_factor: float = 2.0  # weight of the reconstruction term (TVAE's default)


class TVAE(TableModel):
    Config = TVAEConfig

    def __init__(self, config: TVAEConfig, spec: TableSpec):
        super().__init__(config, spec)
        self.vae = TVAENet(spec.dim, config.hidden, config.latent_dim)

    def networks(self) -> dict[str, nn.Module]:
        return {"vae": self.vae}

    def sampling_network(self) -> str:
        return "vae"

    def reconstruction_loss(self, out: torch.Tensor, x: torch.Tensor, log_sigma: torch.Tensor):
        """Gaussian NLL of alphas + cross-entropy of one-hot blocks, summed, per row."""
        loss = out.new_zeros(())
        for s in self.spec.spans:
            o, t = out[:, s.start : s.start + s.size], x[:, s.start : s.start + s.size]
            if s.kind == "tanh":
                ls = log_sigma[s.start]
                loss = loss + ((t - torch.tanh(o)) ** 2 / (2 * torch.exp(2 * ls))).sum()
                loss = loss + ls * x.size(0)
            else:
                loss = loss + F.cross_entropy(o, t.argmax(1), reduction="sum")
        return loss / x.size(0)

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], tuple[torch.Tensor, Any]],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        x, _ = next_batch()
        net = nets["vae"]
        # (1) Minimise loss_factor * reconstruction + KL(q(z|x) || N(0, I))
        out, mu, logvar = net(x)
        recon = self.reconstruction_loss(out.float(), x, net.log_sigma)
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).float().sum(1).mean()
        loss = self.config.loss_factor * recon + kl
        opts["vae"].zero_grad(set_to_none=True)
        accelerator.backward(loss)
        opts["vae"].step()
        with torch.no_grad():
            net.log_sigma.clamp_(-4.6, 0.0)  # sigma in [0.01, 1], as TVAE clamps it
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        """Decode z ~ N(0, I); alphas get the learned sigma as noise, blocks their argmax."""
        net = net or self.vae
        device = net.log_sigma.device
        z = torch.randn(n, self.config.latent_dim, generator=generator)
        out = net.decoder(z.to(device)).float().cpu()
        rows = activate(self.spec, out, hard="argmax")
        sigma = net.log_sigma.detach().float().cpu().exp()
        for s in self.spec.spans:
            if s.kind == "tanh":
                noise = torch.randn(n, generator=generator) * sigma[s.start]
                rows[:, s.start] = (rows[:, s.start] + noise).clamp(-1, 1)
        return rows
