"""medical-augment's options and constants: every default written once (the CLI reads them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from genforge.evaluate.utility import Classifier

Generator = Literal["auto", "cgan", "cddpm"]
QualityFilter = Literal["label", "implausible", "none"]
QUALITY_FILTERS: tuple[str, ...] = ("label", "implausible", "none")
# The "label" filter: this many classifiers, trained on the real training images only (seeds
# LABEL_SEED + i, apart from the utility test's 0..seeds-1), vote on each sample's class.
LABEL_NETS = 3
LABEL_SEED = 10_000
GENERATORS: tuple[str, ...] = ("auto", "cgan", "cddpm")
# Below this many training images per class a GAN's discriminator memorises the set and its
# generator collapses (Karras et al. 2020, arXiv:2006.06676, need ADA below ~5k images);
# a diffusion model regresses noise on every image at every step and degrades gracefully.
# Above it the GAN is kept for speed: one forward pass per sample instead of 20 denoising steps.
SMALL_DATA_PER_CLASS = 500
# Training steps when --steps is not given.
DEFAULT_STEPS = {"cgan": 3000, "cddpm": 4000}
CDDPM_SAMPLER = ("dpm-solver++", 20)  # sampler and steps of the synthetic set
EMBEDDED_SETS = ("phantoms",)
STAGING = ".staging"  # inside --out: the Run's data folder (training + held-out real images)
RECIPE = "medical-augment"

Log = Callable[[str], None]


@dataclass
class MedicalConfig:
    """Options of `genforge recipe medical-augment` (defaults run)."""

    data: str = "phantoms"  # "phantoms" or a folder with one subfolder per class
    out: str = "augmented"  # the augmented dataset folder (must be new or empty)
    target_per_class: int = 1000  # images per class in the output, real + synthetic
    real_per_class: int | None = None  # subsample the real training images (benchmarks)
    heldout_fraction: float = 0.25  # of each class's real images, for the utility test
    image_size: int = 64
    generator: Generator = "auto"
    steps: int | None = None  # generator training steps (None: DEFAULT_STEPS)
    batch_size: int = 64
    seeds: int = 5  # classifier seeds of the utility test
    classifier: Classifier = "pooled"  # the utility test's small CNN (evaluate.utility)
    # 300 steps undertrain the pooled CNN: on 50 phantoms per class real only reaches 0.685 at
    # 300 and 0.720 at 1000 (10 seeds); 500 real + synthetic images got 38 epochs at 300
    classifier_steps: int = 1000
    window: tuple[float, float] | None = None  # DICOM VOI (center, width); None: file's/min-max
    pdf: bool = False
    name: str | None = None  # run name
    run: str | None = None  # reuse this generator Run (trained on exactly these training images)
    runs_dir: str | None = None
    seed: int = 0
    model_options: dict[str, Any] = field(default_factory=dict)  # --set overrides of the model
    audit_rounds: int = 3  # sampling rounds to replace dropped near-copies
    # label: also drop samples unlike any real image and samples whose asked class real-trained
    # classifiers do not see; implausible: only the former; none: neither
    quality_filter: QualityFilter = "label"
