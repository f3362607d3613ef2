"""Files behind the endpoints: which run files are served, atomic output writes, the size check
of an uploaded image, the last logged step of a run and a dataset's thumbnail grid."""

from __future__ import annotations

import json
from pathlib import Path

from genforge.core.errors import GenforgeError
from genforge.serve.datasets import LimitError

# The files of a run the API serves (besides samples/*.png): reports, never weights or state.
RUN_FILES = (
    "report.html",
    "README.md",
    "metrics.json",
    "data_report.json",
    "metrics.jsonl",
    "config.yaml",
)


def run_file_path(run_dir: Path, path: str) -> Path | None:
    """`path` (relative, as in a URL) inside the run folder `run_dir`, when the API serves it
    (one of RUN_FILES or samples/*.png, an existing file that resolves inside the run)."""
    ok = "\0" not in path and (
        path in RUN_FILES
        or (path.startswith("samples/") and path.count("/") == 1 and path.endswith(".png"))
    )
    if not ok:
        return None
    target = (run_dir / path).resolve()
    if not target.is_relative_to(run_dir.resolve()) or not target.is_file():
        return None
    return target


def last_logged_step(path: Path) -> int:
    """The step of the last complete metrics.jsonl record (reads only the file's tail)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4096))
            lines = f.read().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0


def write_output(path: Path, content: bytes) -> None:
    """Atomic (temp file + rename) but not fsynced: the provenance row is the durable part."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def check_image_pixels(content: bytes, max_pixels: int) -> None:
    """GenforgeError unless `content` is a readable image; LimitError over `max_pixels`."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise GenforgeError("not a readable image") from None
    if w * h > max_pixels:
        raise LimitError(f"image has {w}x{h} pixels; the limit is {max_pixels}")


def check_clip_pixels(content: bytes, max_pixels: int) -> None:
    """GenforgeError unless `content` is a readable clip; LimitError when its frames are over
    `max_pixels`."""
    import io

    import av

    try:
        with av.open(io.BytesIO(content)) as c:
            w, h = c.streams.video[0].width, c.streams.video[0].height
    except (av.error.FFmpegError, ValueError, IndexError):
        raise GenforgeError("not a readable clip") from None
    if w * h > max_pixels:
        raise LimitError(f"clip frames have {w}x{h} pixels; the limit is {max_pixels}")


def thumbnails(source: str, n: int) -> bytes:
    """A grid of the first `n` images of a dataset, 64 px (32 for embedded sets' own size)."""
    import io

    import torch

    from genforge.core.images import make_grid, to_pil
    from genforge.data import decode_image, is_embedded, load_images, scan_image_folder

    if is_embedded(source):
        images = load_images(source).images[:n]
    else:
        scan = scan_image_folder(source)
        c = scan.auto_channels()
        images = torch.stack([decode_image(e.path, 64, c) for e in scan.entries[:n]])
    buf = io.BytesIO()
    to_pil(make_grid(images, nrow=min(8, len(images)))).save(buf, format="PNG")
    return buf.getvalue()
