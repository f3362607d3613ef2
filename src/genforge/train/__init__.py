"""Training on accelerate: the Trainer, the loop, the launcher and the model card.

`genforge.train("dcgan", data="digits")` also works: the top-level package makes this package
callable (see `genforge/__init__.py`); training itself never imports the layers above it.
"""

from __future__ import annotations

from genforge.train.config import TrainConfig
from genforge.train.trainer import Trainer, TrainingDiverged

__all__ = ["TrainConfig", "Trainer", "TrainingDiverged"]
