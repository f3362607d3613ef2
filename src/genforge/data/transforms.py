"""Augmentations as batched tensor ops: one call per batch, on the batch's device, no per-image loop.

Every function takes x (B, C, H, W) in [-1, 1] and a torch.Generator, draws one random value per
sample, and returns a tensor of the same shape, dtype and device, still in [-1, 1] (flips and
integer shifts move pixels; bilinear resampling only averages them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from genforge.core.errors import unknown_choice

MAX_ROTATION_DEGREES = 15.0
SCALE_RANGE = (0.9, 1.1)
CROP_PAD_FRACTION = 8  # "crop" shifts by up to size / 8 pixels


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None) -> torch.Tensor:
    """(n,) uniform numbers drawn with `generator` on its own device (CPU when None)."""
    device = generator.device if generator is not None else torch.device("cpu")
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def _resample(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Warp each sample by its 2x3 affine matrix theta (B, 2, 3); border padding outside."""
    grid = F.affine_grid(
        theta.to(device=x.device, dtype=x.dtype), list(x.shape), align_corners=False
    )
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror left-right each sample with probability 1/2."""
    mask = _uniform(len(x), 0.0, 1.0, generator).to(x.device) < 0.5  # (B,)
    return torch.where(mask[:, None, None, None], x.flip(-1), x)


def rotate(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotate each sample by a random angle in ±15 degrees around the image centre."""
    angle = _uniform(len(x), -1.0, 1.0, generator) * math.radians(MAX_ROTATION_DEGREES)  # (B,)
    cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    return _resample(x, theta)  # theta (B, 2, 3)


def scale(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zoom each sample by a random factor in 0.9..1.1 around the centre (>1 zooms in)."""
    zoom = _uniform(len(x), *SCALE_RANGE, generator)  # (B,)
    inv, zero = 1.0 / zoom, torch.zeros_like(zoom)
    theta = torch.stack([torch.stack([inv, zero, zero], 1), torch.stack([zero, inv, zero], 1)], 1)
    return _resample(x, theta)  # sampling a smaller window = zooming in


def crop(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random translation: reflect-pad by size/8, then cut a random window of the original size.

    Shifts are whole pixels, so pixel values are moved, never interpolated.
    """
    b, _, h, w = x.shape
    pad = max(1, min(h, w) // CROP_PAD_FRACTION)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")  # (B, C, H + 2p, W + 2p)
    # Integer offsets 0..2p per sample (floor of uniform [0, 2p + 1)).
    dy = _uniform(b, 0.0, 2 * pad + 1, generator).floor().long().clamp_(max=2 * pad).to(x.device)
    dx = _uniform(b, 0.0, 2 * pad + 1, generator).floor().long().clamp_(max=2 * pad).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]  # (B, 1, 1)
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


AUGMENTATIONS: dict[str, Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]] = {
    "flip": flip,
    "rotate": rotate,
    "crop": crop,
    "scale": scale,
}


def augment(
    x: torch.Tensor, names: Sequence[str], generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply the named augmentations in order, each with its own random draw per sample.

    Args:
        x: batch (B, C, H, W) in [-1, 1], on any device.
        names: augmentation names from `AUGMENTATIONS` ("flip", "rotate", "crop", "scale").
        generator: source of all randomness (CPU or x's device); same state, same output.

    Returns:
        The augmented batch, same shape, dtype and device as `x`.

    Raises:
        GenforgeError: an unknown augmentation name (checked before any work).
    """
    for name in names:
        if name not in AUGMENTATIONS:
            raise unknown_choice("augmentation", name, AUGMENTATIONS)
    for name in names:
        x = AUGMENTATIONS[name](x, generator)
    return x
