"""MoCoGAN: a video GAN that factors content and motion (Tulyakov et al. 2018, "MoCoGAN:
Decomposing Motion and Content for Video Generation", arXiv:1707.04993).

A clip is one content code z_c ~ N(0, I), fixed for all its frames, and a motion trajectory
z_m(1..T) that a GRU unrolls from per-frame noise eps_t ~ N(0, I). One image generator G_I draws
every frame from [z_c, z_m(t)] (a DCGAN generator). Two discriminators judge it: D_I sees single
frames (is this frame real?) and D_V sees whole clips through 3-D convolutions (is this motion
real?). Losses are the non-saturating GAN loss for both. The class-conditional variant appends a
label embedding to the content code and scores labels by projection (Miyato & Koyama 2018) in
both discriminators.

The latent a sample is drawn from is [z_c, eps_1, ..., eps_T] (content_dim + T * noise_dim), so
the trainer's fixed-latent previews and seeded sampling work as for image GANs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genforge.data.video import VideoSpec
from genforge.models.base import Batch
from genforge.models.video import VideoModel

# ---------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------


class ClipGenerator(nn.Module):
    """[z_c, eps_1..T] -> clip (B, C, T, S, S): a GRU turns eps into motion codes, G_I draws
    each frame from content + motion."""

    def __init__(self, spec: VideoSpec, content: int, motion: int, noise: int, width: int,
                 num_classes: int):  # fmt: skip
        super().__init__()
        self.frames, self.content, self.noise = spec.frames, content, noise
        self.embed = nn.Embedding(num_classes, content) if num_classes else None
        self.rnn = nn.GRUCell(noise, motion)
        self.h0 = nn.Linear(noise, motion)  # the first motion state, from eps_0
        levels = max(1, (spec.size // 4).bit_length() - 1)  # 4 -> S by doubling
        widths = [width * 2 ** (levels - i) for i in range(levels + 1)]  # e.g. 8w .. w
        z = content * (2 if num_classes else 1) + motion
        self.fc = nn.Sequential(
            nn.Linear(z, widths[0] * 16), nn.BatchNorm1d(widths[0] * 16), nn.ReLU()
        )
        layers: list[nn.Module] = []
        for i in range(levels):
            layers += [nn.ConvTranspose2d(widths[i], widths[i + 1], 4, 2, 1),
                       nn.BatchNorm2d(widths[i + 1]), nn.ReLU()]  # fmt: skip
        layers += [nn.Conv2d(widths[-1], spec.channels, 3, 1, 1), nn.Tanh()]
        self.w0, self.net = widths[0], nn.Sequential(*layers)

    def motion(self, eps: torch.Tensor) -> torch.Tensor:
        """eps (B, T, noise) -> motion codes (B, T, motion) unrolled by the GRU."""
        h = torch.tanh(self.h0(eps[:, 0]))
        out = []
        for t in range(eps.shape[1]):
            h = self.rnn(eps[:, t], h)
            out.append(h)
        return torch.stack(out, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        b, frames = z.size(0), self.frames
        zc, eps = z[:, : self.content], z[:, self.content :].view(b, frames, self.noise)
        if self.embed is not None:
            zc = torch.cat([zc, self.embed(labels)], 1)
        zm = self.motion(eps)  # (B, T, motion)
        codes = torch.cat([zc[:, None].expand(-1, frames, -1), zm], 2).flatten(0, 1)  # (B*T, z)
        h = self.fc(codes).view(b * frames, self.w0, 4, 4)
        x = self.net(h)  # (B*T, C, S, S)
        return x.view(b, frames, *x.shape[1:]).transpose(1, 2)  # (B, C, T, S, S)


class FrameCritic(nn.Module):
    """D_I: single frames (B, C, S, S) -> logits (B,), projection on labels when conditional."""

    def __init__(self, spec: VideoSpec, width: int, num_classes: int):
        super().__init__()
        layers, c, s = [], spec.channels, spec.size
        w = width
        while s > 4:
            layers += [nn.utils.spectral_norm(nn.Conv2d(c, w, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c, s, w = w, s // 2, w * 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.out = nn.Linear(c * s * s, 1)
        self.embed = nn.Embedding(num_classes, c * s * s) if num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        score = self.out(h).squeeze(1)
        return score + (self.embed(labels) * h).sum(1) if self.embed is not None else score


class ClipCritic(nn.Module):
    """D_V: clips (B, C, T, S, S) -> logits (B,) through 3-D convolutions (space halved each
    layer, time halved while it lasts)."""

    def __init__(self, spec: VideoSpec, width: int, num_classes: int):
        super().__init__()
        layers, c, s, t, w = [], spec.channels, spec.size, spec.frames, width
        while s > 4:
            kt = 2 if t >= 4 else 1
            layers += [nn.utils.spectral_norm(nn.Conv3d(c, w, (3, 4, 4), (kt, 2, 2), (1, 1, 1))),
                       nn.LeakyReLU(0.2)]  # fmt: skip
            c, s, w = w, s // 2, w * 2
            t = (t + 2 - 3) // kt + 1
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool3d((1, 4, 4)), nn.Flatten())
        self.out = nn.Linear(c * 16, 1)
        self.embed = nn.Embedding(num_classes, c * 16) if num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        score = self.out(h).squeeze(1)
        return score + (self.embed(labels) * h).sum(1) if self.embed is not None else score


# ---------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------


@dataclass
class MoCoGANConfig:
    content_dim: int = 50  # z_c, fixed over a clip (the paper: 50)
    motion_dim: int = 10  # z_m(t), the GRU state (the paper: 10)
    noise_dim: int = 10  # eps_t, the GRU input per frame
    width: int = 32  # generator width at its last layer; critics start at it
    conditional: bool = False


class MoCoGAN(VideoModel):
    """Content/motion-factored video GAN with frame and clip discriminators."""

    Config = MoCoGANConfig

    def __init__(self, config: MoCoGANConfig, spec: VideoSpec):
        super().__init__(config, spec)
        k = spec.num_classes if config.conditional else 0
        self.generator = ClipGenerator(spec, config.content_dim, config.motion_dim,
                                       config.noise_dim, config.width, k)  # fmt: skip
        self.discriminator = FrameCritic(spec, config.width, k)
        self.video_discriminator = ClipCritic(spec, config.width, k)

    @property
    def latent_dim(self) -> int:
        """[z_c, eps_1..T]: content_dim + frames * noise_dim."""
        return self.config.content_dim + self.spec.frames * self.config.noise_dim

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator,
                "video_discriminator": self.video_discriminator}  # fmt: skip

    def sampling_network(self) -> str:
        return "generator"

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], Batch],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        G, DI, DV = nets["generator"], nets["discriminator"], nets["video_discriminator"]
        x, labels = next_batch()  # (B, C, T, S, S) in [-1, 1]
        y = labels if self.conditional else None
        b, frames = x.size(0), x.size(2)
        z = torch.randn(b, self.latent_dim, device=x.device)
        fake = G(z, y)
        pick = torch.randint(frames, (b,), device=x.device)  # one frame per clip for D_I
        one = torch.arange(b, device=x.device)

        def frame(clips: torch.Tensor) -> torch.Tensor:
            return clips[one, :, pick]  # (B, C, S, S)

        def bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
            return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))

        # (1) Update D_I: real frames -> 1, generated frames -> 0
        loss_di = bce(DI(frame(x), y), True) + bce(DI(frame(fake.detach()), y), False)
        opts["discriminator"].zero_grad(set_to_none=True)
        accelerator.backward(loss_di)
        opts["discriminator"].step()
        # (2) Update D_V: real clips -> 1, generated clips -> 0
        loss_dv = bce(DV(x, y), True) + bce(DV(fake.detach(), y), False)
        opts["video_discriminator"].zero_grad(set_to_none=True)
        accelerator.backward(loss_dv)
        opts["video_discriminator"].step()
        # (3) Update G: make both discriminators say "real" (non-saturating loss)
        loss_g = bce(DI(frame(fake), y), True) + bce(DV(fake, y), True)
        opts["generator"].zero_grad(set_to_none=True)
        accelerator.backward(loss_g)
        opts["generator"].step()
        return {"loss_g": loss_g.detach(), "loss_d_frame": loss_di.detach(),
                "loss_d_clip": loss_dv.detach()}  # fmt: skip

    @torch.no_grad()
    def generate(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        """Latents (n, content_dim + T * noise_dim) -> clips (n, C, T, S, S) in [-1, 1]."""
        G = net or self.generator
        return G(z, labels if self.conditional else None)
