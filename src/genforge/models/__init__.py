"""Model families, one per file, registered by name in `registry.MODELS`."""

from genforge.data.dataset import ImageSpec
from genforge.models.base import ImageModel
from genforge.models.registry import MODELS, build_model, get_entry, modality_of, model_config

__all__ = [
    "MODELS",
    "ImageModel",
    "ImageSpec",
    "build_model",
    "get_entry",
    "modality_of",
    "model_config",
]
