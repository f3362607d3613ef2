"""A small messy image folder, built once per session, that exercises every scan rule."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _noise(rng: np.random.Generator, h: int, w: int, c: int | None, dtype=np.uint8) -> np.ndarray:
    shape = (h, w) if c is None else (h, w, c)
    high = 65536 if dtype == np.uint16 else 256
    return rng.integers(0, high, shape).astype(dtype)


def _png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


# What the labeled folder holds, and what the scan must make of it.
CLASS_NAMES = ["cats", "dogs"]
KEPT = {
    "cats/a.png": "RGB",
    "cats/b.jpg": "RGB",
    "cats/c.bmp": "L",
    "cats/nested/d.webp": "RGB",
    "cats/e.tiff": "RGBA",
    "dogs/f.png": "L",
    "dogs/g.png": "I;16",
    "dogs/h.JPEG": "RGB",
}
SKIPPED = {
    "cats/corrupt.png": "not an image (cannot identify image file)",
    "cats/truncated.png": "truncated image",
    "dogs/empty.png": "empty file",
    "dogs/notes.txt": "unsupported extension .txt",
    "root.png": "not in a class subfolder",
}
DUPLICATES = [("cats/dup.png", "cats/a.png")]


@pytest.fixture(scope="session")
def labeled_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cats/ and dogs/ in mixed formats, sizes and modes, plus every kind of bad file."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("pets")
    (root / "cats" / "nested").mkdir(parents=True)
    (root / "dogs").mkdir()
    (root / ".thumbnails").mkdir()

    a = _png_bytes(_noise(rng, 30, 40, 3))
    (root / "cats/a.png").write_bytes(a)
    (root / "cats/dup.png").write_bytes(a)  # exact duplicate of a.png
    Image.fromarray(_noise(rng, 48, 64, 3)).save(root / "cats/b.jpg", quality=90)
    Image.fromarray(_noise(rng, 20, 20, None)).save(root / "cats/c.bmp")
    Image.fromarray(_noise(rng, 70, 50, 3)).save(root / "cats/nested/d.webp")
    Image.fromarray(_noise(rng, 32, 32, 4)).save(root / "cats/e.tiff")
    (root / "cats/corrupt.png").write_bytes(rng.integers(0, 256, 500).astype(np.uint8).tobytes())
    big = _png_bytes(_noise(rng, 64, 64, 3))
    (root / "cats/truncated.png").write_bytes(big[: len(big) // 2])

    Image.fromarray(_noise(rng, 50, 50, None)).save(root / "dogs/f.png")
    Image.fromarray(_noise(rng, 24, 36, None, np.uint16)).save(root / "dogs/g.png")
    Image.fromarray(_noise(rng, 40, 40, 3)).save(root / "dogs/h.JPEG")
    (root / "dogs/empty.png").write_bytes(b"")
    (root / "dogs/notes.txt").write_text("not an image")

    Image.fromarray(_noise(rng, 16, 16, 3)).save(root / "root.png")  # not in a class folder
    (root / ".DS_Store").write_bytes(b"\0\1\2")  # hidden: ignored entirely
    Image.fromarray(_noise(rng, 16, 16, 3)).save(root / ".thumbnails/t.png")
    return root


@pytest.fixture(scope="session")
def gray_flat_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Unlabeled folder of grayscale images only (8-bit, 16-bit, 1-bit, gray + alpha)."""
    rng = np.random.default_rng(1)
    root = tmp_path_factory.mktemp("scans")
    Image.fromarray(_noise(rng, 40, 30, None)).save(root / "s1.png")
    Image.fromarray(_noise(rng, 33, 33, None, np.uint16)).save(root / "s2.tif")
    Image.fromarray(_noise(rng, 20, 30, None)).convert("1").save(root / "s3.png")
    Image.fromarray(_noise(rng, 25, 25, None)).convert("LA").save(root / "s4.png")
    return root
