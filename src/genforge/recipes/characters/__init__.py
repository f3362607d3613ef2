"""Virtual characters: attribute-conditional sprites from a folder + attributes.csv, judged honestly.

    genforge recipe characters --demo                                  # embedded sprites
    genforge recipe characters --data ./sprites/ --attributes attributes.csv [--pdf]
    genforge generate character --hair red --eyes round --smile yes --n 8

The recipe (`run`, recipe.py) (1) loads the images and their categorical attributes, (2) trains
an `attrgan` Run through `genforge.train.launch.train` (or reuses one, `--run`), (3) trains a
multi-head attribute classifier on the real training images (the judge, judge.py, independent
of the GAN), (4) generates images for every requested attribute combination and measures
per-attribute accuracy, diversity within a condition and a Fréchet distance in the judge's
feature space (metrics.py), (5) draws a single-attribute editing grid (same noise, one attribute
changed at a time) and a sprite sheet with its JSON/CSV index (pictures.py), and (6) writes one
report with a verdict (report.py, templates/report.html.j2). `CharactersConfig` (config.py)
holds every option and its default.
"""

from genforge.recipes.characters.config import (
    DEMO_DATA,
    SLICE_FLOOR,
    TARGET_ACCURACY,
    CharactersConfig,
)
from genforge.recipes.characters.judge import (
    AttributeClassifier,
    classify,
    train_attribute_classifier,
)
from genforge.recipes.characters.metrics import (
    combinations,
    combo_ids,
    edit_scores,
    mean_pairwise_distance,
    slice_text,
    slices_text,
    worst_slices,
)
from genforge.recipes.characters.pictures import (
    describe,
    editing_grid,
    generate_characters,
    open_character_run,
    write_sprite_sheet,
)
from genforge.recipes.characters.recipe import (
    CharactersResult,
    resolve_data,
    run,
    run_characters,
)
from genforge.recipes.characters.report import verdict_of

__all__ = [
    "DEMO_DATA",
    "SLICE_FLOOR",
    "TARGET_ACCURACY",
    "AttributeClassifier",
    "CharactersConfig",
    "CharactersResult",
    "classify",
    "combinations",
    "combo_ids",
    "describe",
    "edit_scores",
    "editing_grid",
    "generate_characters",
    "mean_pairwise_distance",
    "open_character_run",
    "resolve_data",
    "run",
    "run_characters",
    "slice_text",
    "slices_text",
    "train_attribute_classifier",
    "verdict_of",
    "worst_slices",
    "write_sprite_sheet",
]
