"""How long the characters recipe will take here, measured before attrgan trains: a few
training steps of the real model on the real sprites, a batch of samples, a few steps of the
attribute judge."""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from genforge.recipes.characters.config import CharactersConfig
from genforge.recipes.characters.judge import train_attribute_classifier
from genforge.recipes.estimate import Estimate, seconds_per_step

PROBE_BATCH = 32


def estimate(cfg: CharactersConfig, source: str, options: dict[str, Any]) -> Estimate:
    """Expected seconds of attrgan training, the judge and the generated evaluation set."""
    from genforge.train.launch import time_steps

    timing = time_steps("attrgan", source, **options)
    est = Estimate()
    est.add(f"attrgan training ({timing.steps:,} steps)", timing.total_seconds)
    ts, family = timing.train_set, timing.model
    sizes = [len(v) for v in family.spec.attribute_values.values()]
    x, codes = ts.images[:512], ts.attributes[:512]
    per_step = seconds_per_step(lambda k: train_attribute_classifier(x, codes, sizes, steps=k))
    est.add(f"judge ({cfg.classifier_steps} steps)", per_step * cfg.classifier_steps)
    combos = min(math.prod(sizes), cfg.max_combos)
    z = family.latent(PROBE_BATCH, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        family.eval()
        family.generate(z[:2])  # warm-up
        t = time.perf_counter()
        family.generate(z)
        per_image = (time.perf_counter() - t) / PROBE_BATCH
    n = combos * cfg.samples_per_combo
    est.add(f"generating {n:,} judged images", per_image * n)
    return est
