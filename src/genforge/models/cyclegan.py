"""CycleGAN: unpaired image-to-image translation (Zhu et al. 2017, arXiv:1703.10593).

Two domains are the --domain-a and --domain-b folders, or the data's two class subfolders
(sorted: the first is A, the second B). Two
ResNet translators G_ab, G_ba and two PatchGAN discriminators D_a, D_b are trained with the
least-squares GAN loss, a cycle loss |G_ba(G_ab(a)) - a| + |G_ab(G_ba(b)) - b| and an identity
loss |G_ab(b) - b| + |G_ba(a) - a| that keeps colours when nothing needs changing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.data.dataset import ImageSpec
from genforge.models.base import Batch, ImageModel

Direction = Literal["a2b", "b2a"]

# ---------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------


class ResnetBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(c),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Translator(nn.Module):
    """c7s1-w, d2w, d4w, n_res residual blocks, u2w, uw, c7s1-C (the paper's ResNet generator)."""

    def __init__(self, channels: int, width: int, n_res: int):
        super().__init__()
        w = width
        layers: list[nn.Module] = [
            nn.Conv2d(channels, w, 7, padding=3, padding_mode="reflect"), nn.InstanceNorm2d(w),
            nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, 2, 1), nn.InstanceNorm2d(2 * w), nn.ReLU(),  # H/2
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1), nn.InstanceNorm2d(4 * w), nn.ReLU(),  # H/4
        ]  # fmt: skip
        layers += [ResnetBlock(4 * w) for _ in range(n_res)]
        layers += [
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), nn.InstanceNorm2d(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.InstanceNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, channels, 7, padding=3, padding_mode="reflect"), nn.Tanh(),
        ]  # fmt: skip
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, C, H, W) in [-1, 1]


class PatchDiscriminator(nn.Module):
    """Strided convs to a map of real/fake scores, one per overlapping patch."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.InstanceNorm2d(2 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 1, 3, 1, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 1, H/4, W/4)


class Pair(nn.Module):
    """Two networks trained and saved together (one optimizer, one EMA)."""

    def __init__(self, a: nn.Module, b: nn.Module):
        super().__init__()
        self.a, self.b = a, b


# ---------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------


@dataclass
class CycleGANConfig:
    width: int = 32
    n_res: int = 3  # residual blocks at 1/4 resolution
    cycle_weight: float = 10.0
    identity_weight: float = 0.5  # times cycle_weight, as in the paper


class CycleGAN(ImageModel):
    """Translate between domain A (first subfolder) and domain B (second subfolder)."""

    Config = CycleGANConfig
    supported_sizes = (8, 16, 32, 64, 128)
    domains = "unpaired"
    task = "translate"

    def __init__(self, config: CycleGANConfig, spec: ImageSpec):
        if spec.num_classes != 2:
            raise GenforgeError(
                "cyclegan translates between two domains: give --domain-a and --domain-b, or a "
                f"folder with exactly two subfolders (e.g. photos/ and paintings/); this data has {spec.num_classes} classes"
            )
        super().__init__(config, spec)
        c, w = spec.channels, config.width
        # generator.a: A -> B, generator.b: B -> A; discriminator.a judges A, .b judges B
        self.generator = Pair(Translator(c, w, config.n_res), Translator(c, w, config.n_res))
        self.discriminator = Pair(PatchDiscriminator(c, w), PatchDiscriminator(c, w))
        self.preview_a: torch.Tensor | None = None  # domain-A images of the first batch

    @property
    def latent_dim(self) -> int:
        return self.spec.channels * self.spec.size**2

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def sampling_network(self) -> str:
        return "generator"

    def _domains(self, next_batch: Callable[[], Batch]) -> tuple[torch.Tensor, torch.Tensor]:
        """Equal numbers of A and B images from the (mixed, labeled) batches."""
        for _ in range(20):
            x, y = next_batch()
            a, b = x[y == 0], x[y == 1]
            k = min(len(a), len(b))
            if k:
                return a[:k], b[:k]
        raise GenforgeError("20 batches in a row lacked one of the two domains; raise --batch-size")

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], Batch],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        G, D, cfg = nets["generator"], nets["discriminator"], self.config
        a, b = self._domains(next_batch)
        if self.preview_a is None:
            self.preview_a = a[:8].detach().float().cpu()

        # (1) Update G: fool both discriminators (least squares), close both cycles, keep
        #     images already in the target domain unchanged (identity)
        fake_b, fake_a = G.a(a), G.b(b)
        score_b, score_a = D.b(fake_b).float(), D.a(fake_a).float()  # (B, 1, H/4, W/4)
        adv = F.mse_loss(score_b, torch.ones_like(score_b)) + F.mse_loss(
            score_a, torch.ones_like(score_a)
        )
        cycle = F.l1_loss(G.b(fake_b), a) + F.l1_loss(G.a(fake_a), b)
        identity = F.l1_loss(G.a(b), b) + F.l1_loss(G.b(a), a)
        loss_g = adv + cfg.cycle_weight * (cycle + cfg.identity_weight * identity)
        opts["generator"].zero_grad(set_to_none=True)
        accelerator.backward(loss_g)
        opts["generator"].step()

        # (2) Update D: real -> 1, translated -> 0, per domain
        def d_loss(d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
            r, f = d(real).float(), d(fake.detach()).float()
            return 0.5 * (F.mse_loss(r, torch.ones_like(r)) + F.mse_loss(f, torch.zeros_like(f)))

        loss_d = d_loss(D.a, a, fake_a) + d_loss(D.b, b, fake_b)
        opts["discriminator"].zero_grad(set_to_none=True)
        accelerator.backward(loss_d)
        opts["discriminator"].step()
        return {
            "loss_g": loss_g.detach(), "loss_d": loss_d.detach(),
            "cycle": cycle.detach(), "identity": identity.detach(),
        }  # fmt: skip

    # -- translation ------------------------------------------------------------------------
    def translate(
        self, x: torch.Tensor, direction: Direction = "a2b", net: nn.Module | None = None
    ) -> torch.Tensor:
        """Images (B, C, H, W) of one domain -> the other domain."""
        g = net or self.generator
        if direction not in ("a2b", "b2a"):
            raise GenforgeError(f"direction must be a2b or b2a, got {direction!r}")
        return (g.a if direction == "a2b" else g.b)(x)

    @torch.no_grad()
    def generate(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        """Previews: (A image, its translation to B) pairs from the first training batch."""
        c, s = self.spec.channels, self.spec.size
        src = self.preview_a if self.preview_a is not None else z[:1].view(1, c, s, s).tanh()
        a = src[(torch.arange(z.size(0)) // 2) % src.size(0)].to(z.device, z.dtype)
        out = self.translate(a, "a2b", net)
        odd = (torch.arange(z.size(0), device=z.device) % 2 == 1)[:, None, None, None]
        return torch.where(odd, out, a)  # a0, G(a0), a1, G(a1), ...
