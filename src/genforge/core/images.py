"""Tensor <-> picture helpers shared by training (sample grids) and sampling.

Every PNG genforge writes carries its generation parameters as PNG text chunks: one
`genforge` chunk with the whole JSON, plus one chunk per key for quick reading.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from genforge.core.io import write_with


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile images (N, C, H, W) in [-1, 1] into one uint8 array (H', W', C) with `nrow` per row."""
    images = images.detach().float().cpu().clamp(-1, 1)
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = torch.ones(c, rows * (h + padding) + padding, nrow * (w + padding) + padding)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = images[i]
    return to_uint8(grid)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """One image (C, H, W) in [-1, 1] -> uint8 (H, W, C)."""
    arr = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return arr.permute(1, 2, 0).numpy()


def to_pil(arr: np.ndarray) -> Image.Image:
    """uint8 (H, W, C) with C in {1, 3} -> PIL image (L or RGB)."""
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def save_png(path: str | Path, arr: np.ndarray, params: dict[str, Any] | None = None) -> Path:
    """Atomically write a PNG, embedding `params` (run, seed, label, step, ...) as text chunks."""
    info = PngImagePlugin.PngInfo()
    if params:
        info.add_text("genforge", json.dumps(params, sort_keys=True, default=str))
        for k, v in params.items():
            info.add_text(f"genforge:{k}", str(v))
    path = Path(path)
    write_with(path, lambda tmp: to_pil(arr).save(tmp, format="PNG", pnginfo=info))
    return path


def read_png_params(path: str | Path) -> dict[str, Any]:
    """The generation parameters embedded by `save_png` ({} when there are none)."""
    with Image.open(path) as im:
        raw = im.text.get("genforge") if hasattr(im, "text") else None
    return json.loads(raw) if raw else {}


FLAT_STD = 2.0  # grey levels: below this an image is flat and its pHash is noise


def phash(image: Image.Image) -> str | None:
    """64-bit DCT perceptual hash as 16 hex chars; None for a flat image (no structure to hash:
    every flat image would match every other)."""
    from scipy.fft import dctn

    g = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.LANCZOS), np.float64)
    if g.std() < FLAT_STD:
        return None
    low = dctn(g, norm="ortho")[:8, :8]
    bits = (low > np.median(low)).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
