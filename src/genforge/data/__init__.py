"""Image data: embedded sets and image folders as float32 tensors in [-1, 1], with a report.

ds = load_images("digits")                  # or a folder path
train, val = ds.split(0.1, seed=0)
x = augment(train.images[:64], ["flip", "crop"], generator)
"""

from genforge.data.dataset import (
    IMAGE_SIZES,
    ImageDataset,
    inspect_source,
    is_embedded,
    load_images,
)
from genforge.data.embedded import EMBEDDED, EmbeddedData, load_embedded
from genforge.data.images import (
    IMAGE_EXTENSIONS,
    FolderScan,
    ImageEntry,
    ImageFolderStream,
    decode_image,
    scan_image_folder,
)
from genforge.data.report import DataReport, SkippedFile
from genforge.data.transforms import AUGMENTATIONS, augment

__all__ = [
    "AUGMENTATIONS",
    "EMBEDDED",
    "IMAGE_EXTENSIONS",
    "IMAGE_SIZES",
    "DataReport",
    "EmbeddedData",
    "FolderScan",
    "ImageDataset",
    "ImageEntry",
    "ImageFolderStream",
    "SkippedFile",
    "augment",
    "decode_image",
    "inspect_source",
    "is_embedded",
    "load_embedded",
    "load_images",
    "scan_image_folder",
]
