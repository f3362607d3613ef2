"""Small clip files for the video tests: MP4/WebM through PyAV (optionally at uneven frame
times), animated GIFs through Pillow, frame folders, and a labeled folder with broken files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image


def moving_square(frames: int, size: int = 32, width: int | None = None, seed: int = 0,
                  bright: int = 230) -> np.ndarray:  # fmt: skip
    """uint8 (T, H, W, 3): a bright square moving right one step per frame on a dark field."""
    rng = np.random.default_rng(seed)
    width = width or size
    out = np.full((frames, size, width, 3), 20, np.uint8)
    y = int(rng.integers(0, size // 2))
    side = size // 4
    for t in range(frames):
        x = (2 * t + int(rng.integers(0, 3))) % (width - side)
        out[t, y : y + side, x : x + side] = bright
    return out


def write_video(path: Path, frames: np.ndarray, fps: float = 8.0,
                times_ms: list[int] | None = None, codec: str | None = None) -> Path:  # fmt: skip
    """Encode uint8 (T, H, W, 3) frames with PyAV (.mp4: H.264, .webm: VP9); `times_ms` gives
    each frame's own presentation time (a variable frame rate)."""
    import av

    codec = codec or {".mp4": "libx264", ".webm": "libvpx-vp9"}[path.suffix]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        if times_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            if times_ms is not None:
                frame.pts, frame.time_base = times_ms[i], Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_gif(path: Path, frames: np.ndarray, fps: float = 8.0) -> Path:
    ims = [Image.fromarray(f) for f in frames]
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=round(1000 / fps), loop=0)
    return path


def write_frame_folder(folder: Path, frames: np.ndarray) -> Path:
    folder.mkdir(parents=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i:04d}.png")
    return folder


def clip_folder(root: Path) -> Path:
    """left/: an MP4, a WebM, an animated GIF, a frame folder; right/: two MP4s, a corrupt MP4,
    a zero-length GIF and a text file. 6 readable clips, 3 files skipped."""
    left, right = root / "left", root / "right"
    left.mkdir(parents=True)
    right.mkdir()
    write_video(left / "a.mp4", moving_square(12, 32, 48, seed=1))
    write_video(left / "b.webm", moving_square(10, 32, seed=2))
    write_gif(left / "c.gif", moving_square(9, 24, seed=3))
    write_frame_folder(left / "d", moving_square(8, 16, seed=4))
    write_video(right / "e.mp4", moving_square(12, 32, seed=5, bright=120))
    write_video(right / "f.mp4", moving_square(4, 32, seed=6, bright=120))  # short: 0.5 s
    good = (right / "e.mp4").read_bytes()
    (right / "broken.mp4").write_bytes(good[:48] + b"\x00garbage" * 20)
    (right / "empty.gif").write_bytes(b"")
    (right / "notes.txt").write_text("not a clip")
    return root
