"""The characters recipe's options: one typed dataclass holding every default (the CLI reads
them), and the quality targets of its verdict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TARGET_ACCURACY = 0.9  # per attribute, the quality target for the demo
SLICE_FLOOR = 0.7  # below this in any subgroup (e.g. smile when skin=dark), PASS becomes a warning
DEMO_DATA = "sprites"

Log = Callable[[str], None]


@dataclass
class CharactersConfig:
    """Options of `genforge recipe characters`.

    data: image folder (with `attributes`), or None with `demo`.
    attributes: the attributes.csv of `data` (default: `data`/attributes.csv).
    demo: use the embedded `sprites` set.
    run: evaluate this existing attrgan run instead of training a new one.
    steps, batch_size: training budget.
    width, d_width: generator and discriminator widths (ngf, ndf).
    diffaug: DiffAugment policy for the discriminator (models/diffaug.py; "" for none).
        `translation` keeps D from memorising the few thousand training images; `color` would
        blur the colour attributes.
    classifier_weight: weight of a separate attribute classifier's push on the generator
        (attrgan's `classifier_weight`; 0 for none).
    precision: training precision; bf16 trains ~1.6x faster than fp32 on the development CPU at
        these widths.
    samples_per_combo: generated images per attribute combination in the evaluation.
    max_combos: evaluate every combination up to this many, else this many at random.
    classifier_steps: optimisation steps of the judge.
    """

    data: str | None = None
    attributes: str | Path | None = None
    demo: bool = False
    run: str | None = None
    name: str | None = None  # name of the new run
    out: str | Path | None = None  # report, grids and sprite sheet (default RUN/characters)
    pdf: bool = False
    steps: int = 9000
    batch_size: int = 32
    width: int = 32
    d_width: int = 32
    diffaug: str = "translation"
    classifier_weight: float = 0.0
    precision: str = "bf16"
    image_size: int = 64
    samples_per_combo: int = 4
    max_combos: int = 512
    classifier_steps: int = 600
    sheet_size: int = 64  # characters on the sprite sheet
    seed: int = 0
    device: str = "auto"
    runs_dir: str | Path | None = None
