"""Model families, one per file, registered by name in `registry.MODELS`."""

from genforge.models.base import ImageModel, ImageSpec
from genforge.models.registry import MODELS, build_model, get_entry, model_config

__all__ = ["MODELS", "ImageModel", "ImageSpec", "build_model", "get_entry", "model_config"]
