"""Procedurally drawn character sprites with categorical attributes (the `sprites` embedded set).

Each sprite is a 64x64 RGB head-and-shoulders portrait drawn with PIL, no anti-aliasing, so every
attribute is painted in exact palette colours:

  hair       black, brown, blonde, red, blue   (the hair colour; short or long hair is nuisance)
  eyes       round, narrow, closed             (white eyes with pupils / slits / arcs)
  smile      yes, no                           (an upward arc / a straight line)
  skin       light, medium, dark
  accessory  none, glasses, hat

Nuisance that varies within an attribute combination (so diversity can be measured): background
and shirt colour, head position (±3 px), head width, hair length. Attributes are drawn uniformly
and independently with a seeded numpy Generator: same seed, same sprites.

`write_sprite_folder` exports the set as PNG files plus `attributes.csv`, the layout that
`genforge recipe characters --data DIR --attributes DIR/attributes.csv` reads.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SPRITE_SIZE = 64

# name -> value -> RGB (the colour attributes) or the list of values (shape attributes)
HAIR_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (25, 25, 30),
    "brown": (115, 70, 35),
    "blonde": (240, 205, 90),
    "red": (205, 45, 30),
    "blue": (45, 95, 215),
}
SKIN_TONES: dict[str, tuple[int, int, int]] = {
    "light": (252, 224, 196),
    "medium": (212, 160, 118),
    "dark": (120, 78, 52),
}
EYES = ("round", "narrow", "closed")
SMILE = ("yes", "no")
ACCESSORIES = ("none", "glasses", "hat")

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "hair": tuple(HAIR_COLOURS),
    "eyes": EYES,
    "smile": SMILE,
    "skin": tuple(SKIN_TONES),
    "accessory": ACCESSORIES,
}

_INK = (35, 25, 30)  # eyes, glasses frames
# A dark red: as far from every skin tone as the ink is. A mid red (150, 30, 45) was nearly the
# luminance of dark skin, and generators trained on it drew dark-skinned smiles at chance.
_MOUTH = (55, 10, 20)
_HAT = (30, 125, 85)
_HAT_BAND = (235, 235, 235)


@dataclass(frozen=True)
class SpriteLayout:
    """Where the drawn parts landed (pixel coordinates, x then y), for tests and callers."""

    hair_xy: tuple[int, int]  # a pixel that is always hair (beside the head)
    skin_xy: tuple[int, int]  # a cheek pixel, always skin
    eye_centres: tuple[tuple[int, int], tuple[int, int]]
    mouth_xy: tuple[int, int]


def draw_sprite(
    attrs: dict[str, str], rng: np.random.Generator
) -> tuple[Image.Image, SpriteLayout]:
    """Draw one 64x64 RGB sprite with attribute values `attrs` (one per `ATTRIBUTES` key).

    Args:
        attrs: e.g. {"hair": "red", "eyes": "round", "smile": "yes", "skin": "light",
            "accessory": "none"}.
        rng: numpy Generator for the nuisance (colours of background and shirt, position,
            head width, hair length); consumed by the same amount whatever `attrs` are.

    Returns:
        The image and where its parts are.
    """
    # (1) Nuisance, always drawn in the same order.
    bg = tuple(int(v) for v in rng.integers(150, 256, 3))
    shirt = tuple(int(v) for v in rng.integers(40, 230, 3))
    dx, dy = (int(v) for v in rng.integers(-3, 4, 2))
    half_w = int(rng.integers(12, 15))  # head half-width
    long_hair = bool(rng.integers(0, 2))

    hair = HAIR_COLOURS[attrs["hair"]]
    skin = SKIN_TONES[attrs["skin"]]
    cx, cy = 32 + dx, 30 + dy  # head centre
    half_h = 15

    im = Image.new("RGB", (SPRITE_SIZE, SPRITE_SIZE), bg)
    d = ImageDraw.Draw(im)
    # (2) Back hair, shoulders, neck, head.
    bottom = cy + (22 if long_hair else 6)
    d.rounded_rectangle((cx - half_w - 4, cy - half_h - 4, cx + half_w + 4, bottom), 8, fill=hair)
    d.ellipse((cx - 24, cy + 18, cx + 24, cy + 50), fill=shirt)
    d.rectangle((cx - 5, cy + 10, cx + 5, cy + 20), fill=skin)
    d.ellipse((cx - half_w, cy - half_h, cx + half_w, cy + half_h), fill=skin)
    # (3) Fringe over the forehead.
    d.chord((cx - half_w - 1, cy - half_h - 3, cx + half_w + 1, cy + 2), 180, 360, fill=hair)

    # (4) Eyes.
    ey = cy + 2
    eyes = ((cx - 6, ey), (cx + 6, ey))
    for ex, e_y in eyes:
        if attrs["eyes"] == "round":
            d.ellipse((ex - 3, e_y - 3, ex + 3, e_y + 3), fill=(255, 255, 255), outline=_INK)
            d.rectangle((ex - 1, e_y - 1, ex + 1, e_y + 1), fill=_INK)
        elif attrs["eyes"] == "narrow":
            d.rectangle((ex - 3, e_y - 1, ex + 3, e_y), fill=_INK)
        else:  # closed: a downward arc, like a sleeping eye
            d.arc((ex - 3, e_y - 3, ex + 3, e_y + 2), 20, 160, fill=_INK, width=2)

    # (5) Mouth.
    my = cy + 9
    if attrs["smile"] == "yes":
        d.arc((cx - 6, my - 5, cx + 6, my + 3), 20, 160, fill=_MOUTH, width=2)
    else:
        d.rectangle((cx - 4, my, cx + 4, my + 1), fill=_MOUTH)

    # (6) Accessory.
    if attrs["accessory"] == "glasses":
        for ex, e_y in eyes:
            d.rectangle((ex - 5, e_y - 4, ex + 5, e_y + 4), outline=_INK, width=1)
        d.line((cx - 1, ey - 1, cx + 1, ey - 1), fill=_INK)
    elif attrs["accessory"] == "hat":
        top = cy - half_h
        d.rectangle((cx - half_w - 6, top - 1, cx + half_w + 6, top + 2), fill=_HAT)  # brim
        d.rectangle((cx - half_w + 1, top - 12, cx + half_w - 1, top - 1), fill=_HAT)  # crown
        d.rectangle((cx - half_w + 1, top - 4, cx + half_w - 1, top - 2), fill=_HAT_BAND)

    layout = SpriteLayout(
        hair_xy=(cx - half_w - 2, cy - 4),
        skin_xy=(cx - 9, cy + 7),
        eye_centres=eyes,
        mouth_xy=(cx, my),
    )
    return im, layout


def random_attributes(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, A) value indices, each attribute uniform and independent of the others."""
    return np.stack([rng.integers(0, len(v), n) for v in ATTRIBUTES.values()], axis=1)


def make_sprite_arrays(num_images: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`num_images` sprites as uint8 (N, 64, 64, 3) and their attribute codes (N, A)."""
    rng = np.random.default_rng(seed)
    codes = random_attributes(num_images, rng)
    names = list(ATTRIBUTES)
    images = np.empty((num_images, SPRITE_SIZE, SPRITE_SIZE, 3), dtype=np.uint8)
    for i, row in enumerate(codes):
        attrs = {a: ATTRIBUTES[a][int(k)] for a, k in zip(names, row, strict=True)}
        images[i] = np.asarray(draw_sprite(attrs, rng)[0])
    return images, codes


def write_sprite_folder(folder: str | Path, num_images: int = 500, seed: int = 0) -> Path:
    """Export sprites as `folder/sprite-00000.png ...` plus `folder/attributes.csv`
    (columns: filename, hair, eyes, smile, skin, accessory). Returns the CSV path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images, codes = make_sprite_arrays(num_images, seed)
    names = list(ATTRIBUTES)
    rows = []
    for i, (img, row) in enumerate(zip(images, codes, strict=True)):
        fname = f"sprite-{i:05d}.png"
        Image.fromarray(img).save(folder / fname)
        rows.append([fname, *(ATTRIBUTES[a][int(k)] for a, k in zip(names, row, strict=True))])
    path = folder / "attributes.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", *names])
        w.writerows(rows)
    return path
