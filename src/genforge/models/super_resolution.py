"""Diffusion super-resolution (SR3, Saharia et al. 2021, arXiv:2104.07636).

A DDPM whose UNet also sees the low-resolution image, bicubic-upsampled to the output size and
concatenated to x_t as extra channels. Training pairs come from the data itself: each image is
box-downsampled by `scale` (the low-resolution input) and the network learns to denoise the
full image given it. Sampling starts from noise and keeps the same low-resolution condition at
every step, so any sampler (DDPM, DDIM, DPM-Solver++) works.

Why diffusion rather than an SRGAN-style regressor: it reuses the DDPM family's trainer,
samplers and EMA unchanged, trains with one plain MSE loss (no adversarial balance to tune on
small data), and samples sharp detail instead of the blurry mean a pixel loss regresses to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.data.dataset import ImageSpec
from genforge.models.diffusion import DDPM, DDPMConfig, build_unet


def downsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H/scale, W/scale) by averaging scale x scale boxes."""
    return F.avg_pool2d(x, scale)


def upsample(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upsampling, the condition the UNet sees (and the baseline to beat)."""
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False).clamp(-1, 1)


@dataclass
class SRConfig(DDPMConfig):
    scale: int = 4  # output size / input size


class SuperResolution(DDPM):
    """x`scale` upscaler: images of size/scale in, size out."""

    Config = SRConfig
    task = "upscale"
    feedback = None  # ratings of prompts and upscales are not learned from yet

    def __init__(self, config: SRConfig, spec: ImageSpec):
        if config.conditional:
            raise GenforgeError(
                "sr conditions on the low-resolution image, not on class labels; drop --conditional"
            )
        if config.scale < 2 or spec.size % config.scale or spec.size // config.scale < 2:
            raise GenforgeError(
                f"--scale {config.scale} does not fit {spec.size} px images: the scale must be "
                f">= 2 and divide the image size, leaving at least 2 px"
            )
        super().__init__(config, spec)
        self.preview_lr: torch.Tensor | None = None  # low-res inputs of the first batch

    @property
    def scale(self) -> int:
        return self.config.scale

    @property
    def input_size(self) -> int:
        return self.spec.size // self.config.scale

    def build_network(
        self, spec: ImageSpec, config: Any, num_class_embeds: int | None
    ) -> nn.Module:
        return build_unet(spec, config, None, in_channels=2 * spec.channels)

    # -- conditions: the upsampled low-resolution image (B, C, H, W) ----------------------------
    def lr_condition(self, lr: torch.Tensor) -> torch.Tensor:
        return upsample(lr, self.scale)

    def training_condition(self, x0: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        lr = downsample(x0, self.scale)
        if self.preview_lr is None:  # kept for the training previews
            self.preview_lr = lr[:8].detach().float().cpu()
        return self.lr_condition(lr)

    def forward_net(
        self, net: nn.Module, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None
    ) -> torch.Tensor:
        return net(torch.cat([x, cond], dim=1), t).sample  # (B, 2C, H, W) in

    def predict(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        labels: torch.Tensor | None = None,
        guidance: float | None = None,
        net: nn.Module | None = None,
    ) -> torch.Tensor:
        """The UNet output at (x_t, t) given `labels` = the upsampled low-res image."""
        if labels is None or labels.dim() != 4:
            raise GenforgeError("super-resolution needs the low-resolution image as condition")
        return self.forward_net(net or self.unet, x, t, labels)

    @torch.no_grad()
    def generate(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        """Previews: the first training batch's low-res images (cycled), upscaled by DDIM."""
        c, k = self.spec.channels, self.input_size
        lr = self.preview_lr if self.preview_lr is not None else torch.zeros(1, c, k, k)
        lr = lr[torch.arange(z.size(0)) % lr.size(0)].to(z.device, z.dtype)
        return self.ddim_preview(z, self.lr_condition(lr), net)
