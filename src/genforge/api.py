"""The Python entry points: `genforge.train(...)`, `genforge.load(...)` and `train_run(...)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.core.run import Run, resolve_run
from genforge.models import get_entry, modality_of
from genforge.train import launch


def train_run(model: str | None = None, data: str | None = None, **options: Any) -> Run:
    """Train `model` on `data` and return the Run folder (see `genforge.train.launch.train` for
    every option: name, resume, steps, batch_size, image_size, latent_dim, ...). The modality's
    evaluation hook is passed along, so `eval_every` works for the modalities that have one."""
    if model is not None:
        name = get_entry(model).modality
    elif options.get("resume") is not None:
        name = modality_of(
            resolve_run(options["resume"], options.get("runs_dir")).read_config()
        ).name
    else:
        return launch.train(model, data, **options)  # the launcher explains what is missing
    from genforge.data.modalities import get_modality

    hook = get_modality(name).handler("train_eval")
    return launch.train(model, data, evaluate=hook, **options)


def train(model: str, data: str | None = None, **options: Any) -> Any:
    """Train `model` on `data` and return the loaded result (see `train_run`)."""
    return load(train_run(model, data, **options))


def load(run: str | Path | Run, device: str = "auto") -> Any:
    """Load a trained Run (name, path or Run) as its modality's pipeline: an ImagePipeline
    (`.sample(n, seed=...)`), a TextPipeline (`.complete(prompt, ...)`), a TablePipeline
    (`.sample(n, seed)` rows) or an AudioPipeline (`.sample(n, seed)` clips)."""
    r = run if isinstance(run, Run) else resolve_run(run)
    if r.read_meta() is None:
        raise GenforgeError(f"run '{r.name}' has no checkpoint yet; train it first")
    return modality_of(r.read_config()).handler("pipeline")(r, device=device)
