"""Downstream utility of synthetic images for data augmentation.

The question a user in a data-scarce vertical asks: does adding generated images help a
classifier? Train the same small classifier on real only, real + synthetic and synthetic only
("train on synthetic, test on real"), each over several seeds, and measure accuracy on held-out
real images the generator never saw.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch

from genforge.core.errors import GenforgeError
from genforge.evaluate.features import train_domain_net
from genforge.evaluate.report import html_table

# two-sided 95% Student t quantiles by degrees of freedom (n - 1)
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval (Student t)."""
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, float("nan")
    t = _T95.get(len(values) - 1, 1.96)
    return m, t * statistics.stdev(values) / len(values) ** 0.5


def accuracy_of(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    seed: int,
    steps: int,
) -> float:
    net = train_domain_net(train_x, train_y, steps=steps, seed=seed)
    with torch.no_grad():
        pred = torch.cat([net(test_x[i : i + 512]).argmax(1) for i in range(0, len(test_x), 512)])
    return float((pred == test_y).double().mean())


def utility_table(evaluator: Any, seeds: int = 3, steps: int = 300) -> tuple[str, dict[str, Any]]:
    """Accuracies on held-out real images for the three training sets, over `seeds` seeds.

    Synthetic images: as many as real training images, labels cycled over the classes, drawn
    from the run's (conditional) generator.
    """
    d, pipe = evaluator.data, evaluator.pipe
    if d.train_labels is None or d.val_labels is None or len(d.val) < 2:
        raise GenforgeError("downstream utility needs labeled data with a held-out split")
    if not pipe.model.conditional:
        raise GenforgeError(
            "downstream utility needs labeled synthetic images: use a conditional model "
            "(cgan, cvae, ...)"
        )
    n = len(d.train)
    results: dict[str, list[float]] = {"real": [], "real+synthetic": [], "synthetic": []}
    for s in range(seeds):
        syn_y = pipe.labels_for(n)
        syn_x = pipe.sample(n, seed=10_000 + s)
        sets = {
            "real": (d.train, d.train_labels),
            "real+synthetic": (torch.cat([d.train, syn_x]), torch.cat([d.train_labels, syn_y])),
            "synthetic": (syn_x, syn_y),
        }
        for key, (x, y) in sets.items():
            results[key].append(accuracy_of(x, y, d.val, d.val_labels, seed=s, steps=steps))
    out: dict[str, Any] = {"test_items": len(d.val), "train_real": n, "train_synthetic": n}
    rows = []
    for key, values in results.items():
        m, ci = mean_ci(values)
        out[key] = {"mean": m, "ci95": ci, "n": len(values), "values": values}
        rows.append([key, m, ci, ", ".join(f"{v:.3f}" for v in values)])
    html = (
        f"<p>A small CNN trained {steps} steps on each training set, {seeds} seeds; accuracy on "
        f"{len(d.val)} held-out real images. Synthetic set: {n} generated images with classes "
        "cycled.</p>" + html_table(["training set", "accuracy", "± 95% CI", "per seed"], rows)
    )
    return html, out
