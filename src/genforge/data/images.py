"""Image-folder source: scan a folder, verify every file, decode to normalised tensors.

Layout rules:
  folder/cat/x.png, folder/dog/y.jpg  -> labeled; each top-level subfolder is a class
                                         (sorted names -> label 0, 1, ...); images in nested
                                         folders belong to their top-level class folder.
  folder/x.png, folder/y.jpg          -> unlabeled (no subfolder holds an image).
Every file is hashed (exact duplicates are dropped, the first by sorted path is kept) and fully
decoded once (`Image.load()` catches truncated files). A file that cannot be used is listed in
the report with the reason; a bad file never stops the scan and is never dropped silently.

Pixels: EXIF orientation applied, grayscale or RGB, alpha composited on white, 16-bit scaled
to the 8-bit range, shorter side resized (Lanczos) then center-cropped to a square, float32 in
[-1, 1], shape (C, H, W).
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from genforge.core.errors import GenforgeError
from genforge.data.governance import SHEET_NAME, content_digest, load_optout
from genforge.data.report import DataReport, SkippedFile

# GIFs (palette, transparent or animated) load their first frame, like the other formats.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")
# Modes whose pixels carry no color: a folder made only of these loads as 1 channel by default.
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# Show a (transient) progress bar when decoding more files than this.
PROGRESS_MIN_FILES = 200

T = TypeVar("T")


# ---------------------------------------------------------------------------- scan


@dataclass
class ImageEntry:
    """One image kept by the scan."""

    path: Path
    label: int  # -1 when unlabeled
    mode: str  # PIL mode as stored in the file ("L", "RGB", "I;16", ...)
    size: tuple[int, int]  # (W, H) as stored in the file


@dataclass
class FolderScan:
    """Result of `scan_image_folder`: the images kept, their labels, and what was left out."""

    root: Path
    num_files: int  # non-hidden files looked at
    entries: list[ImageEntry]  # kept images, sorted by path
    class_names: list[str]  # [] when unlabeled
    skipped: list[SkippedFile] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    content: dict = field(default_factory=dict)  # content hash of the kept files

    @property
    def labeled(self) -> bool:
        return bool(self.class_names)

    @property
    def labels(self) -> list[int] | None:
        return [e.label for e in self.entries] if self.labeled else None

    def auto_channels(self) -> int:
        """1 if every kept image is grayscale, else 3."""
        return 1 if all(e.mode in GRAY_MODES for e in self.entries) else 3

    def report(self, image_size: int | None = None, channels: int | None = None) -> DataReport:
        """Build the `DataReport`; leave size/channels None for an inspect-only report."""
        sizes = Counter(f"{w}x{h}" for w, h in (e.size for e in self.entries))
        modes = Counter(e.mode for e in self.entries)
        label_counts = Counter(e.label for e in self.entries)
        return DataReport(
            source=str(self.root),
            kind="image-folder",
            num_files=self.num_files,
            num_images=len(self.entries),
            image_size=image_size,
            channels=channels,
            original_sizes=dict(sizes.most_common(10)),
            original_modes=dict(modes.most_common()),
            class_counts={name: label_counts[i] for i, name in enumerate(self.class_names)},
            skipped=list(self.skipped),
            duplicates=list(self.duplicates),
            content=dict(self.content),
        )


def scan_image_folder(path: str | Path) -> FolderScan:
    """Find, hash and verify every image under `path`, without building tensors.

    Args:
        path: a folder of images, flat (unlabeled) or with one subfolder per class.

    Returns:
        The kept images with labels, the class names, and every skipped file with its reason.

    Raises:
        GenforgeError: the path is missing, is a file, is empty, or holds no readable image.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise GenforgeError(f"no such file or folder: {path}")
    if not root.is_dir():
        raise GenforgeError(
            f"{path} is a file, not an image folder; pass a folder of images "
            "(with one subfolder per class for labels)"
        )
    files = sorted(_visible_files(root), key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise GenforgeError(f"folder {path} is empty")

    def rel(p: Path) -> str:
        return p.relative_to(root).as_posix()

    # (1) Verify each file: extension, size, hash, full decode. Never raise for one file.
    skipped: list[SkippedFile] = []
    readable: list[tuple[Path, str, str, tuple[int, int]]] = []  # (path, sha256, mode, size)
    for p in _progress(files, f"Checking {len(files)} files"):
        checked = check_image_file(p)
        if isinstance(checked, str):
            skipped.append(SkippedFile(rel(p), checked))
        else:
            readable.append((p, *checked))

    # (2) Layout: top-level subfolders holding a readable image are the classes.
    class_names = sorted({p.relative_to(root).parts[0] for p, *_ in readable if p.parent != root})
    label_of = {name: i for i, name in enumerate(class_names)}

    # (3) Labels and exact duplicates (first copy by sorted path is kept).
    # Files on the project's opt-out list are never used (data/governance.py).
    entries: list[ImageEntry] = []
    duplicates: list[tuple[str, str]] = []
    first_with_hash: dict[str, Path] = {}
    optout = load_optout()
    for p, digest, mode, size in readable:
        if class_names and p.parent == root:
            skipped.append(SkippedFile(rel(p), "not in a class subfolder"))
            continue
        if digest in first_with_hash:
            duplicates.append((rel(p), rel(first_with_hash[digest])))
            continue
        first_with_hash[digest] = p
        why = optout.match(p, digest)
        if why:
            skipped.append(SkippedFile(rel(p), why))
            continue
        label = label_of[p.relative_to(root).parts[0]] if class_names else -1
        entries.append(ImageEntry(p, label, mode, size))

    skipped.sort(key=lambda s: s.path)
    if not entries:
        example = f" (e.g. {skipped[0].path}: {skipped[0].reason})" if skipped else ""
        raise GenforgeError(
            f"no readable image in {path}: {len(skipped)} files skipped{example}; "
            f"supported extensions: {', '.join(IMAGE_EXTENSIONS)}"
        )
    digests = {p: d for p, d, *_ in readable}
    content = content_digest((rel(e.path), digests[e.path]) for e in entries)
    return FolderScan(root, len(files), entries, class_names, skipped, duplicates, content)


def _visible_files(root: Path) -> Iterator[Path]:
    """All files under `root`, skipping hidden files and hidden folders (".git", ".DS_Store").

    Symlinked folders are followed (class folders are often links), each real folder once.
    """
    seen: set[str] = set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link cycle or a second link to the same folder
            dirs.clear()
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # prune: never walk into .git
        for name in names:
            path = Path(folder, name)
            if not name.startswith(".") and name != SHEET_NAME and path.is_file():
                yield path  # a datasheet.yaml describes the folder; it is not data


def check_image_file(path: Path) -> tuple[str, str, tuple[int, int]] | str:
    """Return (sha256, mode, (W, H)) for a usable image, or the reason it cannot be used."""
    ext = path.suffix.lower()
    if ext not in IMAGE_EXTENSIONS:
        return f"unsupported extension {ext}" if ext else "unsupported extension (none)"
    try:
        data = path.read_bytes()
    except OSError as e:
        return f"cannot read file ({e.strerror or e})"
    if not data:
        return "empty file"
    digest = hashlib.sha256(data).hexdigest()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Corrupt EXIF data": pixels are still fine
            with Image.open(io.BytesIO(data)) as im:
                im.load()  # decodes every pixel: truncated files fail here, not at train time
                return digest, im.mode, im.size
    except UnidentifiedImageError:
        return "not an image (cannot identify image file)"
    except Image.DecompressionBombError as e:
        return f"image too large ({e})"
    except Exception as e:  # a bad file must never stop the scan
        message = str(e) or type(e).__name__
        return "truncated image" if "truncated" in message.lower() else f"cannot decode ({message})"


# ---------------------------------------------------------------------------- decode


def decode_image(path: str | Path, image_size: int, channels: int) -> torch.Tensor:
    """Decode one file to a (channels, image_size, image_size) float32 tensor in [-1, 1].

    Args:
        path: an image file that `scan_image_folder` accepted.
        image_size: output side; the shorter side is resized to it, then center-cropped.
        channels: 1 (grayscale, luminance for color files) or 3 (RGB, gray replicated).

    Returns:
        The image tensor, shape (C, H, W).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                im.load()
                upright = ImageOps.exif_transpose(im)  # phone photos store rotation in EXIF
                pixels = _to_pixels(upright, image_size, channels)  # (H, W, C) float32 in 0..255
    except Exception as e:
        raise GenforgeError(f"cannot read {path} (did it change after the scan?): {e}") from None
    x = torch.from_numpy(pixels).permute(2, 0, 1)  # (C, H, W)
    return (x / 127.5 - 1.0).clamp_(-1.0, 1.0).contiguous()


def _to_pixels(im: Image.Image, size: int, channels: int) -> np.ndarray:
    """PIL image (any mode) -> (size, size, channels) float32 array in 0..255."""
    w, h = im.size
    side = min(w, h)
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)  # central square

    if im.mode in GRAY_MODES and im.mode not in ("LA", "La"):
        # Resize in float ("F") so 16-bit and float data keep their precision.
        gray = Image.fromarray(_gray_levels(im))  # float32 -> mode "F"
        out = np.asarray(gray.resize((size, size), Image.Resampling.LANCZOS, box=box))
        out = np.clip(out, 0.0, 255.0)[:, :, None]  # Lanczos overshoots slightly at edges
        return np.repeat(out, channels, axis=2).astype(np.float32)

    rgb = _flatten_alpha(im)
    target = rgb.convert("L") if channels == 1 else rgb  # ITU-R 601 luminance for 1 channel
    out = np.asarray(target.resize((size, size), Image.Resampling.LANCZOS, box=box))
    if out.ndim == 2:
        out = out[:, :, None]
    if channels == 3 and out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return out.astype(np.float32)


def _gray_levels(im: Image.Image) -> np.ndarray:
    """Single-channel image -> (H, W) float32 gray levels in 0..255.

    "1" and "L" are already 0..255 (after conversion); "I;16*" spans 0..65535 (/257);
    "I" holds 16-bit data when any value exceeds 255, else 8-bit; "F" in [0, 1] is scaled by
    255, any other float range is stretched min..max per image.
    """
    if im.mode in ("1", "L"):
        return np.asarray(im.convert("L"), dtype=np.float32)
    a = np.asarray(im).astype(np.float32)
    if im.mode.startswith("I;16"):
        return a / 257.0
    if im.mode == "I":
        return np.clip(a, 0, 65535) / 257.0 if a.max() > 255 else np.clip(a, 0, 255)
    # mode "F"
    lo, hi = float(a.min()), float(a.max())
    if lo >= 0.0 and hi <= 1.0:
        return a * 255.0
    return (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)


def _flatten_alpha(im: Image.Image) -> Image.Image:
    """Any color or alpha mode -> "RGB"; transparent pixels are composited on white."""
    has_alpha = im.mode in ("RGBA", "LA", "La", "PA", "RGBa") or (
        im.mode == "P" and "transparency" in im.info
    )
    if not has_alpha:
        return im.convert("RGB")
    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def decode_images(
    paths: Sequence[Path], image_size: int, channels: int, description: str = "Decoding"
) -> torch.Tensor:
    """Decode `paths` into one (N, C, H, W) float32 tensor in [-1, 1]."""
    out = torch.empty(len(paths), channels, image_size, image_size)
    for i, p in enumerate(_progress(paths, f"{description} {len(paths)} images")):
        out[i] = decode_image(p, image_size, channels)
    return out


class ImageFolderStream(torch.utils.data.Dataset):
    """Decode images one at a time, for folders too big to hold in memory.

    Items are `(image, label)`: image (C, H, W) float32 in [-1, 1], label an int (-1 if unlabeled),
    or an (A,) int64 tensor of attribute codes when `labels` holds one list per image.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        labels: Sequence[int] | Sequence[Sequence[int]] | None,
        image_size: int,
        channels: int,
    ):
        self.paths = list(paths)
        self.labels = list(labels) if labels is not None else None
        self.image_size = image_size
        self.channels = channels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int | torch.Tensor]:
        label = self.labels[i] if self.labels is not None else -1
        if isinstance(label, list):  # attribute codes
            label = torch.tensor(label, dtype=torch.long)
        return decode_image(self.paths[i], self.image_size, self.channels), label


# ---------------------------------------------------------------------------- helpers


def _progress(items: Sequence[T], description: str) -> Iterable[T]:
    """Iterate `items`, with a transient rich progress bar (on stderr) when there are many."""
    if len(items) <= PROGRESS_MIN_FILES:
        return items
    from rich.console import Console
    from rich.progress import track

    return track(items, description=description, transient=True, console=Console(stderr=True))
