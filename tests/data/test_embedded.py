"""Embedded sets: digits, phantoms, photos (genforge/data/embedded.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.data import EMBEDDED, load_embedded, load_images
from genforge.data.embedded import make_phantom, make_phantoms, make_photos


def test_digits_shape_labels_and_range() -> None:
    ds = load_images("digits")
    assert ds.images.shape == (1797, 1, 32, 32)
    assert ds.labels.shape == (1797,) and ds.labels.dtype == torch.int64
    assert set(ds.labels.tolist()) == set(range(10))
    assert ds.class_names == [str(d) for d in range(10)]
    assert ds.images.min() == -1.0 and ds.images.max() <= 1.0
    assert ds.images.max() > 0.9  # strokes reach towards +1
    corners = ds.images[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners < -0.9).float().mean() > 0.95  # background is -1
    assert ds.report.kind == "embedded" and ds.report.original_sizes == {"8x8": 1797}
    assert sum(ds.report.class_counts.values()) == 1797


@pytest.mark.parametrize("size", [8, 16, 64])
def test_digits_sizes(size: int) -> None:
    assert load_embedded("digits", size).images.shape == (1797, 1, size, size)


def test_digits_at_8_are_the_raw_sklearn_values() -> None:
    from sklearn.datasets import load_digits

    x = load_embedded("digits", 8).images[:, 0]
    expected = torch.from_numpy(load_digits().images).float() / 8.0 - 1.0
    assert torch.allclose(x, expected)


def test_phantoms_default_set_is_balanced() -> None:
    ds = load_images("phantoms", image_size=16)
    assert ds.images.shape == (1000, 1, 16, 16)
    assert ds.class_names == ["healthy", "lesion"]
    assert torch.bincount(ds.labels).tolist() == [500, 500]
    assert ds.images.min() >= -1.0 and ds.images.max() <= 1.0
    assert ds.report.class_counts == {"healthy": 500, "lesion": 500}


def test_phantoms_are_seeded() -> None:
    a, b = make_phantoms(32, seed=1, num_images=6), make_phantoms(32, seed=1, num_images=6)
    c = make_phantoms(32, seed=2, num_images=6)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    assert not torch.equal(a.images[0], a.images[1])  # each head is different


def test_lesion_is_a_small_local_change_of_the_same_head() -> None:
    for seed in range(5):
        healthy = make_phantom(64, np.random.default_rng(seed), lesion=False)
        lesion = make_phantom(64, np.random.default_rng(seed), lesion=True)
        changed = np.abs(lesion - healthy) > 0.05
        assert 3 <= changed.sum() <= 0.03 * changed.size, seed  # a blob, not a new image
        ys, xs = np.nonzero(changed)
        assert np.ptp(ys) < 16 and np.ptp(xs) < 16  # all in one place
    # The head itself: background -1 at the corners, bright skull somewhere.
    assert healthy[0, 0] < -0.9 and healthy.max() > 0.9


def test_photos_are_rgb_unlabeled_and_seeded() -> None:
    ds = load_images("photos", image_size=16)
    assert ds.images.shape == (2000, 3, 16, 16)
    assert ds.labels is None and ds.class_names == [] and ds.num_classes == 0
    assert ds.images.min() >= -1.0 and ds.images.max() <= 1.0
    assert ds.report.original_modes == {"RGB": 2000}
    # Colour, not gray: channels differ.
    assert (ds.images[:, 0] - ds.images[:, 2]).abs().mean() > 0.05
    a, b = make_photos(8, seed=3, num_images=10), make_photos(8, seed=3, num_images=10)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, make_photos(8, seed=4, num_images=10).images)


def test_unknown_embedded_name_lists_the_known_ones() -> None:
    with pytest.raises(GenforgeError, match="unknown embedded dataset 'mnist'; known: digits"):
        load_embedded("mnist")


@pytest.mark.parametrize(("name", "size"), [("digits", 128), ("phantoms", 8), ("photos", 512)])
def test_embedded_rejects_sizes_it_does_not_support(name: str, size: int) -> None:
    with pytest.raises(GenforgeError, match=f"image size {size} is not supported by '{name}'"):
        load_images(name, image_size=size)


def test_embedded_table_is_explicit() -> None:
    assert sorted(EMBEDDED) == ["digits", "phantoms", "photos", "sprites"]
    for spec in EMBEDDED.values():
        assert spec.default_size in spec.sizes and spec.channels in (1, 3)
