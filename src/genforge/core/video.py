"""Clips (C, T, H, W) in [-1, 1] -> MP4 (H.264 through PyAV), animated GIF (Pillow) or a
frame-strip PNG (one row of frames per clip), each carrying its generation parameters (the
MP4's `comment` metadata, the GIF's comment, the PNG's `genforge` text chunk).

Frames are scaled up by an integer factor (nearest neighbour) so that a 16 px clip is still
visible in a player; `min_side=0` keeps the model's own size.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.core.io import write_bytes

CLIP_FORMATS = (".mp4", ".gif", ".png")


def clip_frames(clip: torch.Tensor, min_side: int = 0) -> np.ndarray:
    """(C, T, H, W) in [-1, 1] -> uint8 (T, H', W', 3), scaled up by an integer factor so the
    short side is at least `min_side`."""
    x = ((clip.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    x = x.permute(1, 2, 3, 0).numpy()  # (T, H, W, C)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    k = max(1, -(-min_side // min(x.shape[1:3]))) if min_side else 1
    return x.repeat(k, axis=1).repeat(k, axis=2) if k > 1 else x


def mp4_bytes(frames: np.ndarray, fps: float, params: dict[str, Any] | None = None) -> bytes:
    """uint8 (T, H, W, 3) -> an H.264 MP4 (yuv420p, sides padded to even) with `params` as the
    container's comment."""
    from fractions import Fraction

    import av

    h, w = frames.shape[1:3]
    pad = ((0, 0), (0, h % 2), (0, w % 2), (0, 0))  # yuv420p needs even sides
    frames = np.pad(frames, pad, mode="edge")
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        out.metadata["comment"] = json.dumps(params or {}, sort_keys=True, default=str)
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = w + w % 2, h + h % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "12", "preset": "medium"}
        for f in frames:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            ):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def gif_bytes(frames: np.ndarray, fps: float, params: dict[str, Any] | None = None) -> bytes:
    from PIL import Image

    ims = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:],
                duration=round(1000 / fps), loop=0,
                comment=json.dumps(params or {}, sort_keys=True, default=str).encode())  # fmt: skip
    return buf.getvalue()


def strip_array(clips: torch.Tensor, padding: int = 1, min_side: int = 0) -> np.ndarray:
    """Clips (N, C, T, H, W) -> uint8 (H', W', 3): one row of T frames per clip."""
    rows = [clip_frames(c, min_side) for c in clips]  # (T, H, W, 3) each
    t, h, w, _ = rows[0].shape
    out = np.full((len(rows) * (h + padding) + padding, t * (w + padding) + padding, 3), 255,
                  np.uint8)  # fmt: skip
    for i, r in enumerate(rows):
        for j in range(t):
            top, left = padding + i * (h + padding), padding + j * (w + padding)
            out[top : top + h, left : left + w] = r[j]
    return out


def encode_clip(
    clip: torch.Tensor, suffix: str, fps: float, params: dict[str, Any] | None = None,
    min_side: int = 128,
) -> bytes:  # fmt: skip
    """One clip (C, T, H, W) as the bytes of an .mp4, .gif or frame-strip .png file."""
    suffix = suffix.lower()
    if suffix not in CLIP_FORMATS:
        raise GenforgeError(f"clip format '{suffix}' is not supported; use .mp4, .gif or .png")
    if suffix == ".png":
        from PIL import PngImagePlugin

        from genforge.core.images import to_pil

        info = PngImagePlugin.PngInfo()
        info.add_text("genforge", json.dumps(params or {}, sort_keys=True, default=str))
        buf = io.BytesIO()
        to_pil(strip_array(clip[None], min_side=min_side // 2)).save(
            buf, format="PNG", pnginfo=info
        )
        return buf.getvalue()
    frames = clip_frames(clip, min_side)
    return (mp4_bytes if suffix == ".mp4" else gif_bytes)(frames, fps, params)


def write_clip(
    path: str | Path, clip: torch.Tensor, fps: float, params: dict[str, Any] | None = None,
    min_side: int = 128,
) -> Path:  # fmt: skip
    """Write one clip (C, T, H, W) atomically as .mp4, .gif or a frame-strip .png (by suffix)."""
    path = Path(path)
    write_bytes(path, encode_clip(clip, path.suffix, fps, params, min_side))
    return path


def write_strip(
    path: str | Path, clips: torch.Tensor, params: dict[str, Any] | None = None, min_side: int = 0
) -> Path:
    """Write clips (N, C, T, H, W) as one frame-strip PNG (a row per clip)."""
    from genforge.core.images import save_png

    return save_png(path, strip_array(clips, min_side=min_side), params)


def decode_bytes(content: bytes) -> np.ndarray:
    """The frames of an encoded clip (MP4 or GIF bytes) as uint8 (T, H, W, 3) (tests, checks)."""
    import av

    with av.open(io.BytesIO(content)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def grid_frames(clips: torch.Tensor, nrow: int | None = None, min_side: int = 0) -> np.ndarray:
    """Clips (N, C, T, H, W) tiled into one clip, frame by frame: uint8 (T, H', W', 3)."""
    from genforge.core.images import make_grid

    frames = [make_grid(clips[:, :, t], nrow=nrow) for t in range(clips.shape[2])]
    x = np.stack([np.repeat(f, 3, axis=-1) if f.shape[-1] == 1 else f for f in frames])
    k = max(1, -(-min_side // min(x.shape[1:3]))) if min_side else 1
    return x.repeat(k, axis=1).repeat(k, axis=2) if k > 1 else x
