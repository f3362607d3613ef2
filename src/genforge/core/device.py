"""Device choice shared by sampling, evaluation and serving."""

from __future__ import annotations

import torch

from genforge.core.errors import GenforgeError


def pick_device(device: str = "auto") -> torch.device:
    """ "auto" -> CUDA when a GPU is visible, else the CPU; "cuda" without one is a one-line error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise GenforgeError("--device cuda was asked for but no CUDA GPU is visible")
    return torch.device(device)
