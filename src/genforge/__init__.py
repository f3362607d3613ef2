"""genforge: a local-first workbench for generative AI.

run = genforge.train("dcgan", data="digits", steps=500)
run = genforge.load("runs/digits-dcgan")
images = run.sample(16, seed=0)     # (16, C, H, W) in [-1, 1]
"""

from __future__ import annotations

__version__ = "0.1.0"

from genforge.core.compat import torch_fidelity_without_torchvision

torch_fidelity_without_torchvision()  # before anything imports torchmetrics

from genforge import train  # noqa: E402
from genforge.api import load  # noqa: E402

__all__ = ["__version__", "load", "train"]
