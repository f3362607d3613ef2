"""(2) The class-conditional generator: chosen by data size, trained as a normal Run (or an
existing run reused once it is shown to have trained on exactly these images), and opened
for sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genforge.core.errors import GenforgeError
from genforge.core.images import to_uint8
from genforge.recipes.medical.config import (
    CDDPM_SAMPLER,
    DEFAULT_STEPS,
    EMBEDDED_SETS,
    GENERATORS,
    SMALL_DATA_PER_CLASS,
    Generator,
    MedicalConfig,
)
from genforge.recipes.medical.data import Staged


def choose_generator(choice: Generator, per_class: int) -> tuple[str, str]:
    """The model name and the reason written in the report."""
    if choice not in GENERATORS:
        raise GenforgeError(f"unknown generator {choice!r}; choose one of {', '.join(GENERATORS)}")
    if choice != "auto":
        return choice, f"{choice} was asked for (--generator {choice})."
    if per_class < SMALL_DATA_PER_CLASS:
        return "cddpm", (
            f"{per_class} training images in the smallest class (< {SMALL_DATA_PER_CLASS}): a "
            "class-conditional diffusion model (cddpm). A GAN discriminator memorises a set this "
            "small and its generator collapses onto a few images (Karras et al. 2020); diffusion "
            "training denoises every image at every noise level and stays stable, at the cost "
            f"of {CDDPM_SAMPLER[1]} network passes per sample ({CDDPM_SAMPLER[0]})."
        )
    return "cgan", (
        f"{per_class} training images in the smallest class (>= {SMALL_DATA_PER_CLASS}): a "
        "class-conditional GAN (cgan: projection discriminator, hinge loss) trains stably at "
        "this size and draws each sample in one network pass, so thousands per class are cheap."
    )


def _image_keys(x: torch.Tensor) -> list[str]:
    """Sorted content hashes of 8-bit images: two sets compare equal whatever their order."""
    import hashlib

    return sorted(hashlib.sha1(to_uint8(img).tobytes()).hexdigest() for img in x)


def reuse_run(cfg: MedicalConfig, staged: Staged) -> tuple[Any, str]:
    """The `--run` generator and its model name, once it is shown to have trained on exactly
    the staged training images: a generator that saw held-out images would inflate the utility
    test, one that saw other images would not be this data's generator."""
    from genforge.core.run import resolve_run
    from genforge.evaluate.image import real_images

    assert cfg.run is not None
    the_run = resolve_run(cfg.run, cfg.runs_dir)
    model = the_run.read_config().get("model")
    if model not in ("cgan", "cddpm"):
        raise GenforgeError(
            f"run '{the_run.name}' is a {model} run; medical-augment samples from a cgan or "
            "cddpm run"
        )
    if not (the_run.model_dir / "meta.json").exists():
        raise GenforgeError(f"run '{the_run.name}' has no checkpoint yet")
    try:
        real = real_images(the_run, limit=len(staged.train_x) + len(staged.test_x) + 1)
    except (GenforgeError, OSError) as e:
        raise GenforgeError(
            f"cannot tell which images run '{the_run.name}' trained on ({e}); its training "
            "data must still be where it was"
        ) from None
    if real.class_names != staged.class_names or _image_keys(real.train) != _image_keys(
        staged.train_x
    ):
        raise GenforgeError(
            f"run '{the_run.name}' did not train on exactly this recipe's training images "
            "(give the same --data, --real-per-class, --heldout, --image-size and --seed as "
            "the recipe that trained it)"
        )
    return the_run, model


def generator_options(cfg: MedicalConfig, staged: Staged) -> dict[str, Any]:
    """The training options of the generator on the staged images (also what the duration
    estimate times)."""
    return {
        "image_size": cfg.image_size,
        "channels": staged.train_x.shape[1],
        "val_fraction": staged.val_fraction,  # the held-out images: never trained on
        "batch_size": min(cfg.batch_size, len(staged.train_x)),
        "seed": cfg.seed,
        **cfg.model_options,
    }


def generator_steps(cfg: MedicalConfig, model: str) -> int:
    return cfg.steps if cfg.steps is not None else DEFAULT_STEPS[model]


def train_generator(cfg: MedicalConfig, staged: Staged, model: str, progress: bool) -> Any:
    from genforge.core.run import new_run_path
    from genforge.train.launch import train

    steps = generator_steps(cfg, model)
    source = cfg.data if cfg.data in EMBEDDED_SETS else Path(cfg.data).resolve().name
    name = cfg.name or new_run_path(None, f"medical-{source}-{model}", cfg.runs_dir).name
    return train(
        model,
        str(staged.real_dir.resolve()),
        name=name,
        runs_dir=cfg.runs_dir,
        progress=progress,
        steps=steps,
        sample_every=max(1, steps // 4),
        checkpoint_every=max(1, steps // 4),
        **generator_options(cfg, staged),
    )


def open_sampler(the_run: Any, model: str) -> Any:
    """The run's image pipeline; a cddpm samples with `CDDPM_SAMPLER`."""
    from genforge.generate.image import open_pipeline

    if model == "cddpm":
        return open_pipeline(
            the_run, device="auto", sampler=CDDPM_SAMPLER[0], steps=CDDPM_SAMPLER[1]
        )
    return open_pipeline(the_run, device="auto")


def sampling_params(pipe: Any) -> dict[str, Any]:
    """Model, checkpoint step and (diffusion) sampler settings of the synthetic images."""
    out = {"model": pipe.model_name, "step": pipe.step}
    for key in ("sampler", "steps", "guidance"):  # diffusion pipelines
        if getattr(pipe, key, None) is not None:
            out[key] = getattr(pipe, key)
    return out
