"""The Python entry points: `genforge.train(...)` and `genforge.load(...)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genforge.core.run import Run
from genforge.generate.pipeline import ImagePipeline


def train(model: str, data: str = "digits", **options: Any) -> ImagePipeline:
    """Train `model` on `data` and return the loaded result (see `genforge.train.launch.train`
    for every option: name, resume, steps, batch_size, image_size, latent_dim, ...)."""
    from genforge.train.launch import train as _train

    return ImagePipeline(_train(model, data, **options))


def load(run: str | Path | Run, device: str = "auto") -> ImagePipeline:
    """Load a trained Run (name, path or Run) for sampling: `.sample(n, seed=...)`."""
    return ImagePipeline(run, device=device)
