"""GAN: the seeds' fully-connected generator/discriminator and the adversarial training step.

Every GAN variant in genforge (dcgan, cgan, wgan-gp, hinge-sn) reuses `GAN.training_step`;
they differ in networks (dcgan.py) and in the loss chosen here.

Losses:
- "bce": the original non-saturating GAN loss (Goodfellow et al. 2014, arXiv:1406.2661).
- "hinge": hinge loss (Lim & Ye 2017, arXiv:1705.02894), usually with spectral norm in D.
- "wgan-gp": Wasserstein loss with gradient penalty (Gulrajani et al. 2017, arXiv:1704.00028).

`diffaug` names a DiffAugment policy (diffaug.py): D then sees only augmented images, real and
generated, in its update and in G's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genforge.data.dataset import ImageSpec
from genforge.models.base import Batch, FeedbackBatch, ImageModel
from genforge.models.diffaug import augmenter, parse_policy

Loss = Literal["bce", "hinge", "wgan-gp"]

# ---------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------


def discriminator_loss(loss: Loss, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """D's loss on real and fake logits/critic values, each (B,)."""
    if loss == "bce":  # maximize log D(x) + log(1 - D(G(z)))
        return F.softplus(-d_real).mean() + fake_term(loss, d_fake).mean()
    if loss == "hinge":
        return F.relu(1.0 - d_real).mean() + fake_term(loss, d_fake).mean()
    return fake_term(loss, d_fake).mean() - d_real.mean()  # wgan-gp: critic estimates W-distance


def fake_term(loss: Loss, d_fake: torch.Tensor) -> torch.Tensor:
    """The per-item part (B,) of D's loss that pushes D(x) towards "fake"."""
    if loss == "bce":
        return F.softplus(d_fake)
    if loss == "hinge":
        return F.relu(1.0 + d_fake)
    return d_fake


def generator_loss(loss: Loss, d_fake: torch.Tensor) -> torch.Tensor:
    """G's loss on the discriminator's output for fakes, (B,)."""
    if loss == "bce":  # non-saturating: maximize log D(G(z))
        return F.softplus(-d_fake).mean()
    return -d_fake.mean()  # hinge and wgan-gp


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """(||grad_x critic(x_hat)||_2 - 1)^2 on random interpolates x_hat of real and fake."""
    eps = torch.rand(real.size(0), 1, 1, 1, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


# ---------------------------------------------------------------------------------------
# Fully-connected networks (the seeds' GAN: noise 100 -> 256 -> 512 -> 1024 -> image)
# ---------------------------------------------------------------------------------------


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim: int, hidden: tuple[int, ...], out_shape: tuple[int, int, int]):
        super().__init__()
        self.out_shape = out_shape
        layers: list[nn.Module] = []
        width = latent_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        c, hgt, wid = out_shape
        layers += [nn.Linear(width, c * hgt * wid), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(z.size(0), *self.out_shape)  # (B, C, H, W)


class MLPDiscriminator(nn.Module):
    def __init__(self, in_shape: tuple[int, int, int], hidden: tuple[int, ...]):
        super().__init__()
        c, h, w = in_shape
        layers: list[nn.Module] = []
        width = c * h * w
        for hid in hidden:
            layers += [nn.Linear(width, hid), nn.LeakyReLU(0.2)]
            width = hid
        layers += [nn.Linear(width, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)  # (B,) logits


# ---------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------


@dataclass
class GANConfig:
    latent_dim: int = 100
    g_hidden: tuple[int, ...] = (256, 512, 1024)
    d_hidden: tuple[int, ...] = (1024, 512, 256)
    loss: Loss = "bce"
    n_critic: int = 1  # D updates per G update (5 for wgan-gp)
    gp_weight: float = 10.0
    diffaug: str = ""  # DiffAugment policy for everything D sees, e.g. "translation,cutout"


class GAN(ImageModel):
    """Unconditional GAN with fully-connected G and D."""

    Config = GANConfig
    feedback = "negatives"

    def __init__(self, config: GANConfig, spec: ImageSpec):
        super().__init__(config, spec)
        shape = (spec.channels, spec.size, spec.size)
        self.generator = MLPGenerator(config.latent_dim, config.g_hidden, shape)
        self.discriminator = MLPDiscriminator(shape, config.d_hidden)
        self.policy = parse_policy(config.diffaug)  # a bad policy fails before training starts

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def sampling_network(self) -> str:
        return "generator"

    def generate(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        return (net or self.generator)(z, labels)

    def _fake_labels(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        return labels if self.conditional else None

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], Batch],
        accelerator: Any,
        negatives: Callable[[], FeedbackBatch] | None = None,
    ) -> dict[str, torch.Tensor]:
        G, D = nets["generator"], nets["discriminator"]
        opt_g, opt_d = opts["generator"], opts["discriminator"]
        cfg = self.config
        aug = augmenter(self.policy)

        # (1) Update D: maximize D(x) - D(G(z)) in the chosen loss, n_critic times
        #     (on augmented images when config.diffaug names a policy; so is G's update)
        for _ in range(cfg.n_critic):
            real, labels = next_batch()
            y = self._fake_labels(labels)
            z = torch.randn(real.size(0), cfg.latent_dim, device=real.device)
            with torch.no_grad():
                fake = aug(G(z, y))
            real = aug(real)
            d_real, d_fake = D(real, y).float(), D(fake, y).float()
            loss_d = discriminator_loss(cfg.loss, d_real, d_fake)
            if negatives is not None:  # (1b) down-rated outputs count as fakes too
                neg = negatives()
                d_neg = D(aug(neg.images.to(real.dtype)), self._fake_labels(neg.labels)).float()
                loss_neg = (neg.weights * fake_term(cfg.loss, d_neg.view(-1))).sum()
                loss_neg = loss_neg / neg.weights.sum().clamp(min=1e-8)
                loss_d = loss_d + neg.scale * loss_neg
            if cfg.loss == "wgan-gp":
                gp = gradient_penalty(lambda x, y=y: D(x, y).float(), real, fake.float())
                loss_d = loss_d + cfg.gp_weight * gp
            opt_d.zero_grad(set_to_none=True)
            accelerator.backward(loss_d)
            opt_d.step()

        # (2) Update G: fool D on a fresh batch of fakes (same labels as the last real batch)
        z = torch.randn(real.size(0), cfg.latent_dim, device=real.device)
        loss_g = generator_loss(cfg.loss, D(aug(G(z, y)), y).float())
        opt_g.zero_grad(set_to_none=True)
        accelerator.backward(loss_g)
        opt_g.step()

        logs = {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "d_real": d_real.detach().mean(),
            "d_fake": d_fake.detach().mean(),
        }
        if cfg.loss == "wgan-gp":
            logs["gp"] = gp.detach()
        if negatives is not None:
            logs["d_negative"] = d_neg.detach().mean()
        return logs

    def feedback_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], Batch],
        feedback: Callable[[], FeedbackBatch],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        """The usual step, with down-rated outputs as extra negatives for D: G then learns to
        stay away from what people rejected."""
        return self.training_step(nets, opts, next_batch, accelerator, negatives=feedback)
