"""Compatibility shims for optional third-party packages.

torch-fidelity ships the InceptionV3 that torchmetrics' FID/KID/IS use for the standard
"FID (Inception)" numbers, but its package `__init__` imports torchvision (for CLIP/VGG/DINO
extractors genforge never uses), and torchvision only comes with a multi-GB CUDA torch here.
genforge installs torch-fidelity without dependencies; this shim registers the package without
running its `__init__`, so `torch_fidelity.feature_extractor_inceptionv3` (pure torch) imports.
"""

from __future__ import annotations

import importlib.util
import sys
import types


def torch_fidelity_without_torchvision() -> None:
    """Make torch-fidelity's InceptionV3 importable when torchvision is absent (else a no-op)."""
    if "torch_fidelity" in sys.modules:
        return
    try:
        fidelity = importlib.util.find_spec("torch_fidelity")
        vision = importlib.util.find_spec("torchvision")
    except (ImportError, ValueError):
        return
    if fidelity is None or vision is not None or not fidelity.submodule_search_locations:
        return
    pkg = types.ModuleType("torch_fidelity")
    pkg.__path__ = list(fidelity.submodule_search_locations)
    pkg.__spec__ = fidelity
    sys.modules["torch_fidelity"] = pkg
