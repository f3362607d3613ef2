"""The embedded character sprites: deterministic, every attribute visibly painted."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from genforge.data import load_images
from genforge.data.sprites import (
    ATTRIBUTES,
    HAIR_COLOURS,
    SKIN_TONES,
    draw_sprite,
    make_sprite_arrays,
    write_sprite_folder,
)

BASE = {"hair": "red", "eyes": "round", "smile": "yes", "skin": "light", "accessory": "none"}


def _draw(seed: int = 0, **change: str) -> tuple[np.ndarray, object]:
    im, layout = draw_sprite({**BASE, **change}, np.random.default_rng(seed))
    return np.asarray(im), layout


def test_same_seed_same_sprites_other_seed_other_sprites():
    a, codes_a = make_sprite_arrays(12, seed=3)
    b, codes_b = make_sprite_arrays(12, seed=3)
    c, _ = make_sprite_arrays(12, seed=4)
    assert a.shape == (12, 64, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(codes_a, codes_b)
    assert not np.array_equal(a, c)
    assert codes_a.shape == (12, len(ATTRIBUTES))


@pytest.mark.parametrize("hair", list(HAIR_COLOURS))
def test_hair_pixels_are_the_hair_colour(hair):
    for accessory in ("none", "hat", "glasses"):
        img, layout = _draw(seed=1, hair=hair, accessory=accessory)
        x, y = layout.hair_xy
        assert tuple(img[y, x]) == HAIR_COLOURS[hair]


@pytest.mark.parametrize("skin", list(SKIN_TONES))
def test_cheek_pixels_are_the_skin_tone(skin):
    img, layout = _draw(seed=2, skin=skin)
    x, y = layout.skin_xy
    assert tuple(img[y, x]) == SKIN_TONES[skin]


def _luma(rgb) -> float:
    r, g, b = (float(v) for v in rgb)
    return 0.299 * r + 0.587 * g + 0.114 * b


@pytest.mark.parametrize("skin", list(SKIN_TONES))
def test_the_mouth_stands_out_from_every_skin_tone(skin):
    # A mouth near the skin's luminance is a smile nobody (and no generator) can see: the
    # earlier mid red was 20 luma levels from dark skin, and smiles there were drawn at chance.
    yes, _ = _draw(seed=3, skin=skin, smile="yes")
    no, _ = _draw(seed=3, skin=skin, smile="no")
    differ = (yes != no).any(axis=2)  # the arc and the bar, each where the other is skin
    for img in (yes, no):
        mouth = [tuple(p) for p in img[differ] if tuple(p) != SKIN_TONES[skin]]
        assert len(mouth) >= 12  # an arc or a bar, 2 px thick (less where they overlap)
        assert min(abs(_luma(p) - _luma(SKIN_TONES[skin])) for p in mouth) >= 50


def test_eyes_smile_and_accessory_change_their_own_region_only():
    base, layout = _draw(seed=5)
    white = (base == 255).all(axis=2)
    (lx, ly), _ = layout.eye_centres
    assert white[ly - 2 : ly + 3, lx - 2 : lx + 3].any()  # round eyes have white sclera
    for eyes in ("narrow", "closed"):
        other, _ = _draw(seed=5, eyes=eyes)
        assert not (other == 255).all(axis=2)[ly - 3 : ly + 4, lx - 3 : lx + 4].any()
    no_smile, _ = _draw(seed=5, smile="no")
    diff = (base != no_smile).any(axis=2)
    ys, _ = np.nonzero(diff)
    _, my = layout.mouth_xy
    assert diff.any() and ys.min() >= my - 6 and ys.max() <= my + 4  # only the mouth changed
    hat, _ = _draw(seed=5, accessory="hat")
    above = (hat != base).any(axis=2)[: ly - 10]
    assert above.sum() > 100  # a hat is drawn above the eyes
    glasses, _ = _draw(seed=5, accessory="glasses")
    assert ((glasses != base).any(axis=2)[ly - 5 : ly + 6]).sum() > 20


def test_embedded_set_carries_attributes_and_reports_them():
    ds = load_images("sprites", 32)
    assert ds.images.shape[1:] == (3, 32, 32)
    assert ds.labels is None and ds.attributes.shape == (len(ds), 5)
    assert ds.attribute_values == {k: list(v) for k, v in ATTRIBUTES.items()}
    assert sum(ds.report.attributes["hair"].values()) == len(ds)
    train, val = ds.split(0.1, seed=0)
    assert train.attributes.shape == (len(train), 5) and val.attributes.shape == (len(val), 5)
    assert sum(val.report.attributes["eyes"].values()) == len(val)


def test_folder_export_round_trips_through_load_images(tmp_path):
    csv_path = write_sprite_folder(tmp_path / "sprites", num_images=20, seed=7)
    ds = load_images(str(tmp_path / "sprites"), 64, attributes=str(csv_path))
    arrays, codes = make_sprite_arrays(20, seed=7)
    assert len(ds) == 20
    got = ds.images.permute(0, 2, 3, 1).add(1).mul(127.5).round().byte().numpy()
    np.testing.assert_array_equal(got, arrays)
    names = list(ATTRIBUTES)
    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows):
        decoded = {
            n: ds.attribute_values[n][int(k)] for n, k in zip(names, ds.attributes[i], strict=True)
        }
        assert decoded == {n: row[n] for n in names}
        assert decoded == {n: ATTRIBUTES[n][int(k)] for n, k in zip(names, codes[i], strict=True)}
