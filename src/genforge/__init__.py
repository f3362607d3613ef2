"""genforge: a local-first workbench for generative AI.

run = genforge.train("dcgan", data="digits", steps=500)
run = genforge.load("runs/digits-dcgan")
images = run.sample(16, seed=0)     # (16, C, H, W) in [-1, 1]
"""

from __future__ import annotations

import types
from typing import Any

from genforge.core.compat import torch_fidelity_without_torchvision

torch_fidelity_without_torchvision()  # before anything imports torchmetrics

from genforge import api, train  # noqa: E402
from genforge.api import load  # noqa: E402
from genforge.core.version import __version__  # noqa: E402


class _CallableTrainPackage(types.ModuleType):
    """`genforge.train` is both the training package and `genforge.api.train`: importing a
    submodule (`genforge.train.launch`) would replace a plain function attribute of the same
    name, so the package module itself is made callable. It lives here, at the top, where
    importing `api` is no upward import."""

    def __call__(self, model: str, data: str | None = None, **options: Any) -> Any:
        return api.train(model, data, **options)


train.__class__ = _CallableTrainPackage

__all__ = ["__version__", "load", "train"]
