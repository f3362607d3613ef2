"""Differentiable augmentation for GAN discriminators (DiffAugment, Zhao et al. 2020,
arXiv:2006.10738).

A discriminator trained on a few thousand images memorises them: its score on real images keeps
rising and the generator's gradients turn into noise (blur, artifacts). DiffAugment applies the
same random, differentiable transformations to real and generated images every time D sees them
(in D's update and in G's), so D cannot memorise pixels and G is still trained towards the
un-augmented distribution (the transformations are differentiable and G's samples go through
them).

Policies (comma-separated): `translation` (shift by up to 1/8 of the side, zero padding),
`cutout` (one zeroed square of half the side), `color` (brightness, saturation, contrast).
`color` changes colours, so it does not suit data whose labels are colours (hair, skin).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from genforge.core.errors import GenforgeError


def _brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.rand(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)


def _saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (torch.rand(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean


def _contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    scale = torch.rand(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5
    return (x - mean) * scale + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to `ratio` of its side in x and y; uncovered pixels are 0."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sx, sx + 1, (b, 1, 1), device=x.device)
    gb, gy, gx = torch.meshgrid(
        torch.arange(b, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )
    gy = torch.clamp(gy + ty + 1, 0, h + 1)  # +1: index into the 1-pixel zero padding
    gx = torch.clamp(gx + tx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[gb, gy, gx].permute(0, 3, 1, 2).contiguous()


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of `ratio` times the side at a random place in each image."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    gb, gy, gx = torch.meshgrid(
        torch.arange(b, device=x.device),
        torch.arange(ch, device=x.device),
        torch.arange(cw, device=x.device),
        indexing="ij",
    )
    gy = torch.clamp(gy + oy - ch // 2, 0, h - 1)
    gx = torch.clamp(gx + ox - cw // 2, 0, w - 1)
    mask = torch.ones(b, h, w, device=x.device, dtype=x.dtype)
    mask[gb, gy, gx] = 0
    return x * mask[:, None]


POLICIES = {
    "color": (_brightness, _saturation, _contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}


def parse_policy(policy: str) -> list[str]:
    """Policy names from "translation,cutout"; "" gives none; unknown names are errors."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    bad = [p for p in names if p not in POLICIES]
    if bad:
        raise GenforgeError(
            f"unknown DiffAugment policy {', '.join(bad)}; use a comma-separated subset of "
            f"{', '.join(POLICIES)}"
        )
    return names


def diff_augment(x: torch.Tensor, policy: list[str]) -> torch.Tensor:
    """`x` (B, C, H, W) with every transformation of `policy` applied, each image drawn anew."""
    for name in policy:
        for f in POLICIES[name]:
            x = f(x)
    return x


def augmenter(policy: list[str]) -> Callable[[torch.Tensor], torch.Tensor]:
    """What a discriminator sees instead of an image batch: `policy` applied, or the batch."""
    return (lambda x: diff_augment(x, policy)) if policy else (lambda x: x)


__all__ = ["POLICIES", "augmenter", "cutout", "diff_augment", "parse_policy", "translation"]
