"""Downstream utility of synthetic images for data augmentation.

The question a user in a data-scarce vertical asks: does adding generated images help a
classifier? Train the same small classifier on real only, real + synthetic and synthetic only
("train on synthetic, test on real"), each over several seeds, and measure accuracy on held-out
real images the generator never saw.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
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
    return classifier_scores(train_x, train_y, test_x, test_y, seed, steps)["accuracy"]


def classifier_scores(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    seed: int,
    steps: int,
) -> dict[str, float]:
    """Train the small domain CNN on (train_x, train_y); score it on (test_x, test_y).

    Returns:
        accuracy, and AUC of the ROC (two classes: of the class-1 probability; more: one-vs-rest,
        macro-averaged over the classes present in the test set).
    """
    from sklearn.metrics import roc_auc_score

    net = train_domain_net(train_x, train_y, steps=steps, seed=seed)
    with torch.no_grad():
        logits = torch.cat([net(test_x[i : i + 512]) for i in range(0, len(test_x), 512)])
    probs = logits.double().softmax(1).numpy()
    truth = test_y.numpy()
    acc = float((probs.argmax(1) == truth).mean())
    present = sorted(set(truth.tolist()))
    if len(present) < 2:
        auc = float("nan")  # AUC needs both kinds of cases
    elif probs.shape[1] == 2:
        auc = float(roc_auc_score(truth, probs[:, 1]))
    else:
        auc = float(roc_auc_score(truth, probs[:, present] / probs[:, present].sum(1, keepdims=True),
                                  multi_class="ovr", labels=present))  # fmt: skip
    return {"accuracy": acc, "auc": auc}


TrainingSet = Callable[[int], tuple[torch.Tensor, torch.Tensor]]  # seed -> (images, labels)


def compare_training_sets(
    sets: dict[str, TrainingSet],
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    seeds: int,
    steps: int,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    """Accuracy and AUC on (test_x, test_y) of one classifier per training set and seed.

    Args:
        sets: name -> function of the seed giving that training set (the same seed also seeds the
            classifier, so the sets are compared pairwise: same initialisation, same seed).
        seeds: classifier seeds 0 .. seeds-1.
        progress: called with (set name, seed) before each training.

    Returns:
        {name: {metric: {"mean", "ci95", "n", "values"}}}, metrics "accuracy" and "auc".
    """
    values: dict[str, dict[str, list[float]]] = {k: {"accuracy": [], "auc": []} for k in sets}
    for s in range(seeds):
        for key, make in sets.items():
            if progress is not None:
                progress(key, s)
            x, y = make(s)
            for metric, v in classifier_scores(x, y, test_x, test_y, seed=s, steps=steps).items():
                values[key][metric].append(v)
    out: dict[str, Any] = {}
    for key, by_metric in values.items():
        out[key] = {}
        for metric, vs in by_metric.items():
            m, ci = mean_ci(vs)
            out[key][metric] = {"mean": m, "ci95": ci, "n": len(vs), "values": vs}
    return out


def paired_difference(a: list[float], b: list[float]) -> tuple[float, float]:
    """Mean and 95% CI half-width of a[i] - b[i] (the same seed in both arms)."""
    return mean_ci([x - y for x, y in zip(a, b, strict=True)])


def utility_table(evaluator: Any, seeds: int = 3, steps: int = 300) -> tuple[str, dict[str, Any]]:
    """Accuracies on held-out real images for the three training sets, over `seeds` seeds.

    Synthetic images: as many as real training images, labels cycled over the classes, drawn
    from the run's (conditional) generator (a fresh draw per seed).
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
    drawn: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def synthetic(s: int) -> tuple[torch.Tensor, torch.Tensor]:
        if s not in drawn:
            drawn[s] = (pipe.sample(n, seed=10_000 + s), pipe.labels_for(n))
        return drawn[s]

    sets: dict[str, TrainingSet] = {
        "real": lambda s: (d.train, d.train_labels),
        "real+synthetic": lambda s: (
            torch.cat([d.train, synthetic(s)[0]]),
            torch.cat([d.train_labels, synthetic(s)[1]]),
        ),
        "synthetic": synthetic,
    }
    scores = compare_training_sets(sets, d.val, d.val_labels, seeds, steps)
    out: dict[str, Any] = {"test_items": len(d.val), "train_real": n, "train_synthetic": n}
    rows = []
    for key, by_metric in scores.items():
        acc = by_metric["accuracy"]
        out[key] = {**acc, "auc": by_metric["auc"]}
        rows.append([key, acc["mean"], acc["ci95"], ", ".join(f"{v:.3f}" for v in acc["values"])])
    html = (
        f"<p>A small CNN trained {steps} steps on each training set, {seeds} seeds; accuracy on "
        f"{len(d.val)} held-out real images. Synthetic set: {n} generated images with classes "
        "cycled.</p>" + html_table(["training set", "accuracy", "± 95% CI", "per seed"], rows)
    )
    return html, out
