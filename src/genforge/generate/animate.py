"""Frames -> animated GIF (Pillow) or MP4 (H.264 through the ffmpeg binary bundled in imageio-ffmpeg)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from genforge.core.errors import GenforgeError
from genforge.core.io import write_with

FORMATS = (".gif", ".mp4")


def upscale(frame: np.ndarray, min_side: int) -> np.ndarray:
    """Nearest-neighbour upscale (H, W, C) by an integer factor so the short side >= min_side."""
    k = max(1, -(-min_side // min(frame.shape[:2])))
    return frame.repeat(k, axis=0).repeat(k, axis=1)


def write_animation(
    path: str | Path,
    frames: list[np.ndarray],
    fps: int = 20,
    params: dict[str, Any] | None = None,
    min_side: int = 256,
) -> Path:
    """Write uint8 frames (H, W, C) as GIF or MP4 (by suffix), atomically, params as comment."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise GenforgeError(
            f"animation format '{suffix or path.name}' is not supported; use .gif or .mp4"
        )
    if fps < 1:
        raise GenforgeError(f"--fps must be at least 1, got {fps}")
    frames = [upscale(f, min_side) for f in frames]
    comment = json.dumps(params or {}, sort_keys=True, default=str)
    if suffix == ".gif":
        from PIL import Image

        def gif(tmp: Path) -> None:
            ims = [Image.fromarray(f[:, :, 0] if f.shape[2] == 1 else f) for f in frames]
            ims[0].save(
                tmp,
                format="GIF",
                save_all=True,
                append_images=ims[1:],
                duration=round(1000 / fps),
                loop=0,
                comment=comment.encode(),
            )

        write_with(path, gif)
    else:
        import imageio_ffmpeg

        def mp4(tmp: Path) -> None:
            rgb = [np.repeat(f, 3, axis=2) if f.shape[2] == 1 else f for f in frames]
            h, w = rgb[0].shape[:2]
            pad = ((0, h % 2), (0, w % 2), (0, 0))  # H.264 yuv420p needs even sides
            writer = imageio_ffmpeg.write_frames(
                str(tmp), (w + w % 2, h + h % 2), fps=fps, codec="libx264", pix_fmt_in="rgb24",
                pix_fmt_out="yuv420p", macro_block_size=1, ffmpeg_log_level="error",
                output_params=["-metadata", f"comment={comment}", "-f", "mp4"],
            )  # fmt: skip
            writer.send(None)  # start ffmpeg
            for f in rgb:
                writer.send(np.ascontiguousarray(np.pad(f, pad, mode="edge")))
            writer.close()

        write_with(path, mp4)
    return path
