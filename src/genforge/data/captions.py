"""Captions for text-to-image training: one caption per image, turned into class labels.

Where captions come from:
- `captions.jsonl` in the image folder: one JSON object per line,
  `{"file": "cats/img001.png", "caption": "a black cat on a sofa"}` (paths relative to the
  folder). Every image must have a caption.
- otherwise the class names: the digits 0-9 become "a handwritten zero" ... "a handwritten
  nine"; other class folders "a <name>", or `caption_template` ("a photo of a {name}").

The captioned dataset labels each image with the index of its caption among the distinct
captions, and those captions become the class names, so the trainer, the validation split and
the previews work unchanged: a text-to-image model reads its captions from `class_names`.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from genforge.core.errors import GenforgeError
from genforge.data.dataset import ImageDataConfig, ImageDataset

CAPTIONS_FILE = "captions.jsonl"


@dataclass
class CaptionedDataConfig(ImageDataConfig):
    """An image folder with one caption per image (text-to-image runs)."""

    caption_template: str | None = None  # None: "a handwritten {name}" for digits, else "a {name}"


DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def class_captions(class_names: list[str] | tuple[str, ...], template: str | None) -> list[str]:
    """One caption per class: digits 0-9 become "a handwritten seven", others "a <name>"."""
    digits = tuple(class_names) == tuple(str(i) for i in range(10))
    if template is None:
        template = "a handwritten {name}" if digits else "a {name}"
    if "{name}" not in template:
        raise GenforgeError(f"caption_template must contain {{name}}, got {template!r}")
    names = DIGIT_WORDS if digits else [n.replace("_", " ").replace("-", " ") for n in class_names]
    return [template.format(name=n) for n in names]


def read_captions(path: Path) -> dict[str, str]:
    """captions.jsonl -> {relative file path: caption}, with line numbers in errors."""
    captions: dict[str, str] = {}
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            file, caption = item["file"], item["caption"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise GenforgeError(
                f'{path.name} line {i}: expected {{"file": "...", "caption": "..."}}'
            ) from None
        if not isinstance(caption, str) or not caption.strip():
            raise GenforgeError(f"{path.name} line {i}: empty caption for {file}")
        captions[Path(file).as_posix()] = " ".join(caption.split())
    return captions


def caption_dataset(ds: ImageDataset, source: str, template: str | None = None) -> ImageDataset:
    """Relabel `ds` by caption: labels index the distinct captions, which become class names."""
    root = Path(source)
    jsonl = root / CAPTIONS_FILE if root.is_dir() else None
    if jsonl is not None and jsonl.is_file():
        if template is not None:
            raise GenforgeError(f"caption_template does not apply: {jsonl} gives the captions")
        by_file = read_captions(jsonl)
        rel = [Path(f).resolve().relative_to(root.resolve()).as_posix() for f in ds.files or []]
        missing = [f for f in rel if f not in by_file]
        if missing:
            raise GenforgeError(
                f"{len(missing)} of {len(rel)} images have no caption in {jsonl} "
                f"(e.g. {missing[0]})"
            )
        per_image = [by_file[f] for f in rel]
    else:
        if ds.labels is None:
            raise GenforgeError(
                f"text-to-image needs captions: a {CAPTIONS_FILE} beside the images, or class "
                "subfolders whose names make the captions"
            )
        # class k keeps label k, so "--label 7" and class-wise metrics still mean digit 7
        distinct = class_captions(ds.class_names, template)
        return _relabel(ds, ds.labels, distinct)
    if not ds.in_memory:
        raise GenforgeError(
            "captioned training needs the images in memory; raise --set memory_limit_mb"
        )
    distinct = sorted(set(per_image))
    index = {c: i for i, c in enumerate(distinct)}
    return _relabel(ds, torch.tensor([index[c] for c in per_image]), distinct)


def _relabel(ds: ImageDataset, labels: torch.Tensor, distinct: list[str]) -> ImageDataset:
    counts = Counter(labels.tolist())
    report = dataclasses.replace(
        ds.report, class_counts={c: counts[i] for i, c in enumerate(distinct)}
    )
    return dataclasses.replace(ds, labels=labels, class_names=distinct, report=report)
