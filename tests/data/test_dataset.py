"""ImageDataset, load_images, inspect_source (genforge/data/dataset.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.data import ImageDataset, inspect_source, is_embedded, load_images


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    return load_images("digits", image_size=8)


# ---------------------------------------------------------------------------- options


@pytest.mark.parametrize("size", [48, 4, 1024, 0])
def test_unsupported_image_size(size: int) -> None:
    with pytest.raises(GenforgeError) as info:
        load_images("digits", image_size=size)
    assert str(info.value) == (
        f"image size {size} is not supported; use one of 8, 16, 32, 64, 128, 256, 512"
    )


@pytest.mark.parametrize("channels", [0, 2, 4])
def test_unsupported_channels(channels: int) -> None:
    with pytest.raises(GenforgeError, match=f"channels must be 1 .* or 3 .*, got {channels}"):
        load_images("digits", channels=channels)


def test_gray_set_as_three_channels_replicates(digits: ImageDataset) -> None:
    rgb = load_images("digits", image_size=8, channels=3)
    assert rgb.images.shape == (1797, 3, 8, 8) and rgb.channels == 3
    assert torch.equal(rgb.images, digits.images.expand(-1, 3, -1, -1))
    assert rgb.report.channels == 3


def test_rgb_set_as_one_channel_is_luminance() -> None:
    gray = load_images("photos", image_size=8, channels=1)
    rgb = load_images("photos", image_size=8)
    assert gray.images.shape == (2000, 1, 8, 8)
    luma = 0.299 * rgb.images[:, 0] + 0.587 * rgb.images[:, 1] + 0.114 * rgb.images[:, 2]
    assert torch.allclose(gray.images[:, 0], luma, atol=1e-5)


def test_is_embedded() -> None:
    assert is_embedded("digits") and is_embedded("phantoms") and is_embedded("photos")
    assert not is_embedded("./digits") and not is_embedded("data/images")


def test_dataset_properties(digits: ImageDataset) -> None:
    assert digits.in_memory and len(digits) == 1797
    assert digits.num_classes == 10 and digits.channels == 1 and digits.image_size == 8
    assert digits.name == "digits"


# ---------------------------------------------------------------------------- split


def test_split_is_disjoint_complete_and_stratified(digits: ImageDataset) -> None:
    train, val = digits.split(0.2, seed=0)
    assert len(train) + len(val) == 1797
    assert len(val) == round(1797 * 0.2)

    # Disjoint and complete: match rows back to the source by their pixels + label.
    def rows(d: ImageDataset) -> list[tuple[tuple[float, ...], int]]:
        return [
            (tuple(x.flatten().tolist()), int(y)) for x, y in zip(d.images, d.labels, strict=True)
        ]

    assert sorted(rows(train) + rows(val)) == sorted(rows(digits))
    # Stratified: every class is 20% +- 1 item of its own count.
    full = torch.bincount(digits.labels, minlength=10)
    in_val = torch.bincount(val.labels, minlength=10)
    assert ((in_val - 0.2 * full).abs() <= 1).all()
    assert val.report.num_images == len(val)
    assert sum(val.report.class_counts.values()) == len(val)
    assert train.class_names == digits.class_names


def test_split_is_seeded(digits: ImageDataset) -> None:
    _, a = digits.split(0.1, seed=1)
    _, b = digits.split(0.1, seed=1)
    _, c = digits.split(0.1, seed=2)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


def test_split_unlabeled() -> None:
    photos = load_images("photos", image_size=8)
    train, val = photos.split(0.25, seed=0)
    assert (len(train), len(val)) == (1500, 500)
    assert train.labels is None and val.labels is None


def test_split_fraction_must_be_in_range(digits: ImageDataset) -> None:
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(GenforgeError, match="validation fraction"):
            digits.split(bad, seed=0)
    train, val = digits.split(0.0, seed=0)
    assert len(train) == 1797 and len(val) == 0


def test_split_streaming_matches_memory(labeled_folder: Path) -> None:
    memory = load_images(str(labeled_folder), image_size=8)
    stream = load_images(str(labeled_folder), image_size=8, max_memory_bytes=1)
    for m, s in zip(memory.split(0.5, seed=3), stream.split(0.5, seed=3), strict=True):
        assert not s.in_memory and len(s) == len(m)
        assert torch.equal(s.labels, m.labels)
        for i in range(len(s)):
            image, label = s.stream[i]
            assert torch.equal(image, m.images[i]) and label == m.labels[i].item()
    # Stratified: 5 cats and 3 dogs split 0.5 -> 2 or 3 of each in val (4 in total).
    _, val = memory.split(0.5, seed=3)
    assert len(val) == 4 and set(val.labels.tolist()) == {0, 1}


# ---------------------------------------------------------------------------- inspect


def test_inspect_folder(labeled_folder: Path) -> None:
    report = inspect_source(str(labeled_folder))
    assert report.image_size is None and report.channels is None
    assert report.class_counts == {"cats": 5, "dogs": 3}
    assert len(report.skipped) == 5 and len(report.duplicates) == 1


def test_inspect_embedded() -> None:
    report = inspect_source("digits")
    assert report.kind == "embedded" and report.num_images == 1797
    assert report.image_size == 32 and report.channels == 1
    assert report.imbalance_ratio() == pytest.approx(183 / 174)


def test_inspect_missing(tmp_path: Path) -> None:
    with pytest.raises(GenforgeError, match="no such file or folder"):
        inspect_source(str(tmp_path / "missing"))
