"""Training on accelerate: the Trainer, the loop, the launcher and the model card.

`genforge.train` is both this package and a function: `genforge.train("dcgan", data="digits")`
(see `genforge.api.train`). A submodule import would replace a plain function attribute of the
same name, so the package module itself is made callable.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from genforge.train.config import DataConfig, TrainConfig
from genforge.train.trainer import Trainer, TrainingDiverged


class _CallableModule(types.ModuleType):
    def __call__(self, model: str, data: str | None = None, **options: Any):
        from genforge.api import train

        return train(model, data, **options)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["DataConfig", "TrainConfig", "Trainer", "TrainingDiverged"]
