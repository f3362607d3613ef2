"""medical-augment: relieve data scarcity in a labeled medical image set with synthetic images.

real images (class folders of PNG/JPEG/DICOM, or the embedded `phantoms`)
  -> (1) staged as de-identified PNGs; split per class into training images and held-out
         real images that neither the generator nor any classifier trains on (the held-out
         images are the Run's own validation split)                              data.py
  -> (2) a class-conditional generator trained on the training images (`train()`: a
         normal Run)                                                             generate.py
  -> (3) synthetic images per class up to --target-per-class, each audited against the
         training images (near-copies, implausible samples and, by default, samples that
         classifiers trained on the real images do not see as their class are dropped and
         counted)                                                                audit.py
  -> (4) downstream utility: a small CNN trained on real / real+synthetic / synthetic
         images, accuracy and AUC on the held-out real images, mean and 95% CI over seeds
                                                                                 utility.py
  -> (5) the augmented folder: real + synthetic per class, every synthetic file marked by
         name, PNG metadata and provenance (watermark >= 256 px, else perceptual hash),
         manifest.csv (output.py), report.html (+ .pdf) (report.py, templates/report.html.j2)

`MedicalConfig` (config.py) holds every option and its default; `run` (recipe.py) runs the
stages in order.
"""

from genforge.recipes.medical.audit import Synthetic, label_checker, roughness, sample_audited
from genforge.recipes.medical.config import (
    CDDPM_SAMPLER,
    DEFAULT_STEPS,
    EMBEDDED_SETS,
    GENERATORS,
    LABEL_NETS,
    LABEL_SEED,
    QUALITY_FILTERS,
    RECIPE,
    SMALL_DATA_PER_CLASS,
    STAGING,
    MedicalConfig,
)
from genforge.recipes.medical.data import Staged, convert_folder, stage_real, write_phantoms
from genforge.recipes.medical.generate import (
    choose_generator,
    reuse_run,
    sampling_params,
    train_generator,
)
from genforge.recipes.medical.output import MANIFEST_FIELDS, write_dataset
from genforge.recipes.medical.recipe import MedicalResult, check_config, run
from genforge.recipes.medical.report import CLASSIFIER_TEXT, sample_grid, verdict_of, write_report
from genforge.recipes.medical.utility import measure_utility

__all__ = [
    "CDDPM_SAMPLER",
    "CLASSIFIER_TEXT",
    "DEFAULT_STEPS",
    "EMBEDDED_SETS",
    "GENERATORS",
    "LABEL_NETS",
    "LABEL_SEED",
    "MANIFEST_FIELDS",
    "QUALITY_FILTERS",
    "RECIPE",
    "SMALL_DATA_PER_CLASS",
    "STAGING",
    "MedicalConfig",
    "MedicalResult",
    "Staged",
    "Synthetic",
    "check_config",
    "choose_generator",
    "convert_folder",
    "label_checker",
    "measure_utility",
    "reuse_run",
    "roughness",
    "run",
    "sample_audited",
    "sample_grid",
    "sampling_params",
    "stage_real",
    "train_generator",
    "verdict_of",
    "write_dataset",
    "write_phantoms",
    "write_report",
]
