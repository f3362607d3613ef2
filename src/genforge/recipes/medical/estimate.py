"""How long medical-augment will take here, measured before the generator trains: a few
training steps of the real model on the staged images, a batch of samples, a few steps of the
utility test's classifier."""

from __future__ import annotations

import time
from typing import Any

import torch

from genforge.recipes.estimate import Estimate, seconds_per_step
from genforge.recipes.medical import generate
from genforge.recipes.medical.config import CDDPM_SAMPLER, LABEL_NETS, MedicalConfig
from genforge.recipes.medical.data import Staged

# Draws per kept image: the audit and the quality filters drop 30-50 % of draws and redraw
# them (measured on the phantoms); 1.6 draws per kept image is the middle of that.
DRAWS_PER_KEPT = 1.6
PROBE_BATCH = 16


def _per_image(family: Any, model: str) -> float:
    """Seconds per sample of a freshly built family (the same network, untrained weights)."""
    n = PROBE_BATCH
    z = family.latent(n, generator=torch.Generator().manual_seed(0))
    y = torch.arange(n) % family.spec.num_classes
    with torch.no_grad():
        family.eval()
        family.generate(z[:2], y[:2])  # warm-up
        t = time.perf_counter()
        family.generate(z, y)
        seconds = (time.perf_counter() - t) / n
    if model == "cddpm":  # generate() runs the preview DDIM; sampling runs CDDPM_SAMPLER's steps
        seconds *= CDDPM_SAMPLER[1] / family.config.preview_steps
    return seconds


def estimate(cfg: MedicalConfig, staged: Staged, model: str, pipe: Any = None) -> Estimate:
    """Expected seconds of training (unless `--run` reuses a generator: then `pipe` is its
    sampling pipeline), sampling and the utility test."""
    from genforge.evaluate.utility import CLASSIFIERS
    from genforge.train.launch import time_steps

    est = Estimate()
    need = (
        sum(max(0, cfg.target_per_class - c["train"]) for c in staged.counts.values())
        * DRAWS_PER_KEPT
    )
    if pipe is None:
        options = generate.generator_options(cfg, staged)
        steps = generate.generator_steps(cfg, model)
        timing = time_steps(model, str(staged.real_dir.resolve()), steps=steps, **options)
        est.add(f"{model} training ({steps:,} steps)", timing.total_seconds)
        per_image = _per_image(timing.model, model)
    else:
        t = time.perf_counter()
        pipe.sample(PROBE_BATCH, seed=0)
        per_image = (time.perf_counter() - t) / PROBE_BATCH
    est.add(f"sampling (~{round(need):,} draws)", per_image * need)
    x, y = staged.train_x, staged.train_y
    train = CLASSIFIERS[cfg.classifier]
    per_step = seconds_per_step(lambda k: train(x, y, k, 0))
    nets = 3 * cfg.seeds + (LABEL_NETS if cfg.quality_filter == "label" else 0)
    est.add(f"utility test ({nets} classifiers)", per_step * cfg.classifier_steps * nets)
    return est
