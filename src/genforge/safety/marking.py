"""Mark a generated image: PNG bytes with a `genforge` params chunk, an invisible watermark
carrying the output id when the image is large enough (>= 256 px), and its perceptual hash
(how provenance finds outputs too small to watermark). Shared by the server and the recipes.
Clips get the same watermark in every frame when their frames are >= 256 px (`mark_frames`).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class MarkedPng:
    content: bytes  # the PNG file
    phash: str | None  # perceptual hash (None: a flat image)
    watermarked: bool  # the output id is hidden in the pixels


def encode_png(arr: np.ndarray, params: dict[str, Any], oid: str) -> MarkedPng:
    """uint8 (H, W, C) -> PNG with a `genforge` JSON chunk ({**params, "id": oid}); images of
    at least 256x256 px also carry `oid` as an invisible watermark."""
    from PIL import PngImagePlugin

    from genforge.core.images import phash, to_pil
    from genforge.safety import watermark

    marked = watermark.fits(arr)
    if marked:
        arr = watermark.embed(arr, oid)
    im = to_pil(arr)
    info = PngImagePlugin.PngInfo()
    info.add_text("genforge", json.dumps({**params, "id": oid}, sort_keys=True, default=str))
    buf = io.BytesIO()
    im.save(buf, format="PNG", pnginfo=info, compress_level=1)  # speed over bytes
    return MarkedPng(buf.getvalue(), phash(im), marked)


def mark_frames(frames: np.ndarray, oid: str) -> tuple[np.ndarray, bool]:
    """uint8 frames (T, H, W, C) with `oid` watermarked in every frame when they are at least
    256x256 px; smaller frames come back unchanged (their key frames' perceptual hashes are
    what finds them). Returns (frames, whether they were watermarked).

    Each frame carries the whole id, so any one decoded frame of the clip names it. Flat
    frames (a digit on black) cannot hold the mark: clipped at 0 and 255, it does not decode."""
    from genforge.safety import watermark

    if not len(frames) or not watermark.fits(frames[0]):
        return frames, False
    return np.stack([watermark.embed(f, oid) for f in frames]), True
