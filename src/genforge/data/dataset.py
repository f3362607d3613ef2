"""The image dataset object and the single entry point `load_images`.

`load_images("digits")` or `load_images("path/to/folder")` returns an `ImageDataset`: float32
images in [-1, 1], shape (N, C, H, W), optional integer labels, and the `DataReport` that says
what was kept and what was skipped. Small sets live in one tensor (training indexes into it on
device); folders too big for `max_memory_bytes` are decoded per item through `stream`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from genforge.core.errors import GenforgeError
from genforge.data.attributes import match_attributes
from genforge.data.embedded import EMBEDDED, load_embedded
from genforge.data.images import ImageFolderStream, decode_images, scan_image_folder
from genforge.data.report import DataReport, SkippedFile

IMAGE_SIZES = (8, 16, 32, 64, 128, 256, 512)
CHANNELS = (1, 3)
DEFAULT_FOLDER_SIZE = 64
# ITU-R 601 luma weights, as PIL's convert("L"); they sum to 1, so they work on [-1, 1] values.
_LUMA = (0.299, 0.587, 0.114)


@dataclass
class ImageDataConfig:
    """The data section of an image run's config.yaml (`--data`, `--image-size`, ...)."""

    source: str = "digits"  # embedded name or folder path
    image_size: int | None = None  # None: the source's default (32 for digits, 64 for folders)
    channels: int | None = None  # None: from the data
    val_fraction: float = 0.1  # held out, seeded, stratified by label
    augment: tuple[str, ...] = ()  # flip, rotate, crop, scale
    memory_limit_mb: int = 2048  # decoded data up to this size lives on the device; more streams
    domain_b: str | None = None  # two-domain models: `source` is folder A, this is folder B
    paired: bool = False  # with domain_b: pair A and B files by name (pix2pix)
    attributes: str | None = None  # attributes.csv of a folder: per-image categorical labels


@dataclass(frozen=True)
class ImageSpec:
    """The shape of the data a model is built for."""

    channels: int
    size: int
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    # multi-label data: ((attribute, (value, ...)), ...); code k of attribute a = its k-th value
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def attribute_values(self) -> dict[str, list[str]]:
        """attribute name -> its values, in code order ({} without attributes)."""
        return {name: list(values) for name, values in self.attributes}

    def to_dict(self) -> dict[str, Any]:
        d = {
            "channels": self.channels,
            "size": self.size,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
        }
        if self.attributes:  # absent otherwise, so specs of older runs still compare equal
            d["attributes"] = self.attribute_values
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageSpec:
        attrs = tuple((k, tuple(v)) for k, v in (d.get("attributes") or {}).items())
        return cls(d["channels"], d["size"], d["num_classes"], tuple(d["class_names"]), attrs)


@dataclass
class ImageDataset:
    """Images in [-1, 1] with optional labels, in memory or streamed from disk."""

    name: str  # embedded name or folder basename
    images: torch.Tensor | None  # (N, C, H, W) float32 in [-1, 1] when in memory
    labels: torch.Tensor | None  # (N,) int64; None when unlabeled
    class_names: list[str]  # [] when unlabeled
    report: DataReport
    stream: Dataset | None = None  # set when too big for memory; items (image, label or -1)
    files: list[str] | None = None  # source file of each item (folders); None for embedded sets
    paired: bool = False  # items are (A, B) pairs stacked on channels: (N, 2C, H, W)
    # multi-label conditioning: (N, A) int64 codes, attribute name -> values (code k = values[k])
    attributes: torch.Tensor | None = None
    attribute_values: dict[str, list[str]] = field(default_factory=dict)

    @property
    def in_memory(self) -> bool:
        return self.images is not None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        if self.images is None:
            return self.report.channels
        return self.images.shape[1] // 2 if self.paired else self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1] if self.images is not None else self.report.image_size

    def __len__(self) -> int:
        return len(self.images) if self.images is not None else len(self.stream)

    def split(self, val_fraction: float, seed: int) -> tuple[ImageDataset, ImageDataset]:
        """Split into (train, val), stratified by label when labeled.

        Each class gives its share of round(N * val_fraction) validation items (largest
        remainders get the leftovers), picked at random with `seed`.

        Args:
            val_fraction: share of items for validation, 0 <= val_fraction < 1.
            seed: same seed, same split.

        Returns:
            (train, val) datasets; their reports count only their own items.
        """
        if not 0.0 <= val_fraction < 1.0:
            raise GenforgeError(
                f"validation fraction must be at least 0 and below 1, got {val_fraction}"
            )
        n = len(self)
        labels = self.labels.numpy() if self.labels is not None else np.zeros(n, dtype=np.int64)
        rng = np.random.default_rng(seed)
        val_idx = stratified_pick(labels, round(n * val_fraction), rng)
        is_val = np.zeros(n, dtype=bool)
        is_val[val_idx] = True
        train_idx = np.flatnonzero(~is_val)
        if len(train_idx) == 0:
            raise GenforgeError(
                f"validation fraction {val_fraction} leaves no training image out of {n}; "
                "use a smaller fraction"
            )
        return self._subset(train_idx), self._subset(np.flatnonzero(is_val))

    def _subset(self, index: np.ndarray) -> ImageDataset:
        idx = torch.from_numpy(index).long()
        labels = self.labels[idx] if self.labels is not None else None
        counts = Counter(labels.tolist()) if labels is not None else Counter()
        if self.paired:  # every item holds one image of each domain
            counts = Counter({i: len(index) for i in range(len(self.class_names))})
        attributes = self.attributes[idx] if self.attributes is not None else None
        report = dataclasses.replace(
            self.report,
            num_images=len(index),
            class_counts={name: counts[i] for i, name in enumerate(self.class_names)},
            attributes=_attribute_counts(attributes, self.attribute_values),
        )
        return ImageDataset(
            name=self.name,
            images=self.images[idx] if self.images is not None else None,
            labels=labels,
            class_names=list(self.class_names),
            report=report,
            stream=Subset(self.stream, index.tolist()) if self.stream is not None else None,
            files=[self.files[i] for i in index] if self.files is not None else None,
            paired=self.paired,
            attributes=attributes,
            attribute_values=dict(self.attribute_values),
        )


def subset_indices(n: int, limit: int, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded random subset of size min(n, limit) of n items."""
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit]
    return idx.sort().values


def take(ds: Any, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Items `idx` of a dataset, in memory or streamed, as tensors: (images, labels or None)."""
    if ds.in_memory:
        return ds.images[idx], (ds.labels[idx] if ds.labels is not None else None)
    items = [ds.stream[int(i)] for i in idx]
    labels = torch.tensor([int(it[1]) for it in items]) if ds.num_classes else None
    return torch.stack([it[0] for it in items]), labels


def stratified_pick(labels: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Pick `total` indices with each label represented in proportion to its count."""
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * total / len(labels)
    take = np.floor(exact).astype(int)
    leftover = total - take.sum()
    take[np.argsort(-(exact - take), kind="stable")[:leftover]] += 1  # largest remainders
    picked = [
        rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(picked)) if picked else np.array([], dtype=np.int64)


# ---------------------------------------------------------------------------- entry points


def is_embedded(source: str) -> bool:
    """True when `source` names an embedded set ("digits", "phantoms", "photos").

    An embedded name wins over a folder of the same name; write "./digits" for the folder.
    """
    return source in EMBEDDED


def check_image_options(image_size: int | None, channels: int | None) -> None:
    if image_size is not None and image_size not in IMAGE_SIZES:
        raise GenforgeError(
            f"image size {image_size} is not supported; "
            f"use one of {', '.join(map(str, IMAGE_SIZES))}"
        )
    if channels is not None and channels not in CHANNELS:
        raise GenforgeError(
            f"channels must be 1 (grayscale) or 3 (RGB), got {channels}; "
            "leave it unset to follow the data"
        )


def _convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, channels, H, W): gray is replicated, RGB becomes luminance."""
    if x.shape[1] == channels:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    luma = torch.tensor(_LUMA, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * luma).sum(dim=1, keepdim=True)


def _missing_source(source: str) -> GenforgeError:
    return GenforgeError(
        f"no such file or folder: {source}; give a folder of images or an embedded dataset "
        f"({', '.join(EMBEDDED)})"
    )


def load_images(
    source: str,
    image_size: int | None = None,
    channels: int | None = None,
    *,
    seed: int = 0,
    max_memory_bytes: int = 2**31,
    attributes: str | None = None,
) -> ImageDataset:
    """Load an embedded set or an image folder as float32 images in [-1, 1].

    Args:
        source: an embedded name (see `EMBEDDED`) or a folder path (flat = unlabeled,
            one subfolder per class = labeled).
        image_size: output side, a power of two in 8..512; None = the embedded set's default,
            or 64 for folders.
        channels: 1 or 3; None follows the data (folders: 1 only if every image is gray).
        seed: seeds the generated embedded sets.
        max_memory_bytes: folders whose decoded tensor (N*C*H*W*4 bytes) exceeds this are
            streamed (decoded per item) instead of held in one tensor.
        attributes: an attributes.csv for a folder (see data/attributes.py): the dataset then
            carries (N, A) attribute codes; images without a complete row are skipped
            (reported). Embedded sets with attributes (sprites) carry theirs already.

    Returns:
        The dataset with its report.

    Raises:
        GenforgeError: bad size or channels, missing path, empty or unreadable folder.
    """
    check_image_options(image_size, channels)
    if is_embedded(source):
        data = load_embedded(source, image_size, seed)
        images = data.images if channels is None else _convert_channels(data.images, channels)
        n, c, size = len(images), images.shape[1], images.shape[-1]
        report = DataReport(
            source=source,
            kind="embedded",
            num_files=n,
            num_images=n,
            image_size=size,
            channels=c,
            original_sizes=data.original_sizes,
            original_modes=data.original_modes,
            class_counts=_class_counts(data.labels, data.class_names),
            attributes=_attribute_counts(data.attributes, data.attribute_values),
        )
        if attributes is not None:
            raise GenforgeError(
                f"--attributes is for image folders; the embedded set '{source}' "
                + ("carries its own" if data.attributes is not None else "has none")
            )
        return ImageDataset(source, images, data.labels, data.class_names, report,
                            attributes=data.attributes,
                            attribute_values=dict(data.attribute_values))  # fmt: skip

    if not Path(source).expanduser().exists():
        raise _missing_source(source)
    scan = scan_image_folder(source)
    size = DEFAULT_FOLDER_SIZE if image_size is None else image_size
    c = scan.auto_channels() if channels is None else channels
    report = scan.report(image_size=size, channels=c)
    name = Path(source).expanduser().resolve().name
    paths = [e.path for e in scan.entries]
    labels = torch.tensor(scan.labels, dtype=torch.long) if scan.labeled else None
    codes, values = None, {}
    if attributes is not None:
        table = match_attributes(attributes, list(map(str, paths)), scan.root)
        keep = (table.codes >= 0).all(dim=1)
        paths = [p for p, k in zip(paths, keep.tolist(), strict=True) if k]
        labels = labels[keep] if labels is not None else None
        codes, values = table.codes[keep], table.as_dict()
        missing = [SkippedFile(f, f"no complete row in {Path(attributes).name}")
                   for f in table.missing]  # fmt: skip
        report = dataclasses.replace(
            report,
            num_images=len(paths),
            class_counts=_class_counts(labels, scan.class_names),
            skipped=sorted([*report.skipped, *missing], key=lambda s: s.path),
            attributes=_attribute_counts(codes, values),
            attributes_unmatched=table.unmatched,
        )
    extra = {"attributes": codes, "attribute_values": values}
    if len(paths) * c * size * size * 4 <= max_memory_bytes:
        images = decode_images(paths, size, c)  # (N, C, H, W)
        return ImageDataset(
            name, images, labels, scan.class_names, report, files=list(map(str, paths)), **extra
        )
    item_labels = codes.tolist() if codes is not None else (
        labels.tolist() if labels is not None else None)  # fmt: skip
    stream = ImageFolderStream(paths, item_labels, size, c)
    return ImageDataset(name, None, labels, scan.class_names, report, stream=stream,
                        files=list(map(str, paths)), **extra)  # fmt: skip


def inspect_source(source: str) -> DataReport:
    """Report on a source without building training tensors (`genforge data inspect`).

    Folders are scanned and verified at their original sizes (report size/channels None);
    embedded sets are generated at their defaults.
    """
    if is_embedded(source):
        return load_images(source).report
    if not Path(source).expanduser().exists():
        raise _missing_source(source)
    return scan_image_folder(source).report()


def _class_counts(labels: torch.Tensor | None, class_names: list[str]) -> dict[str, int]:
    if labels is None:
        return {}
    counts = torch.bincount(labels, minlength=len(class_names)).tolist()
    return dict(zip(class_names, counts, strict=True))


def _attribute_counts(
    codes: torch.Tensor | None, values: dict[str, list[str]]
) -> dict[str, dict[str, int]]:
    if codes is None:
        return {}
    out = {}
    for a, (name, vals) in enumerate(values.items()):
        counts = torch.bincount(codes[:, a], minlength=len(vals)).tolist()
        out[name] = dict(zip(vals, counts, strict=True))
    return out
