"""The Python entry points: `genforge.train(...)` and `genforge.load(...)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genforge.core.run import Run
from genforge.generate.pipeline import ImagePipeline


def train(model: str, data: str | None = None, **options: Any) -> Any:
    """Train `model` on `data` and return the loaded result (see `genforge.train.launch.train`
    for every option: name, resume, steps, batch_size, image_size, latent_dim, ...)."""
    from genforge.train.launch import train as _train

    return load(_train(model, data, **options))


def load(run: str | Path | Run, device: str = "auto") -> Any:
    """Load a trained Run (name, path or Run): an ImagePipeline (`.sample(n, seed=...)`) or,
    for text runs, a TextPipeline (`.complete(prompt, ...)`, `.generate(prompts, options)`)."""
    from genforge.core.run import resolve_run

    r = run if isinstance(run, Run) else resolve_run(run)
    if r.read_config().get("modality", "image") == "text":
        from genforge.generate.text import TextPipeline

        return TextPipeline(r, device=device)
    return ImagePipeline(r, device=device)
