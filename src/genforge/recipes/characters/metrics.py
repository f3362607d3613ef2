"""Conditions and measures: attribute combinations, diversity within a condition, the worst
subgroup of each attribute, and how cleanly the editing grid changes one attribute."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch


def combinations(sizes: list[int], cap: int, seed: int = 0) -> tuple[torch.Tensor, bool]:
    """Every attribute combination (M, A) when there are at most `cap`, else `cap` distinct
    ones drawn at random (seeded). Returns (codes, all_of_them)."""
    total = math.prod(sizes)
    if total <= cap:
        return torch.tensor(list(itertools.product(*map(range, sizes)))), True
    rng = np.random.default_rng(seed)
    picked = rng.choice(total, size=cap, replace=False)
    codes = np.stack(np.unravel_index(picked, sizes), axis=1)
    return torch.from_numpy(codes).long(), False


def mean_pairwise_distance(feats: torch.Tensor, groups: torch.Tensor) -> float:
    """Mean over groups (with >= 2 members) of the mean Euclidean distance between members."""
    values = []
    for gid in groups.unique():
        f = feats[groups == gid]
        if len(f) < 2:
            continue
        d = torch.cdist(f, f)
        values.append(float(d.sum() / (len(f) * (len(f) - 1))))
    return float(np.mean(values)) if values else float("nan")


def worst_slices(hits: torch.Tensor, codes: torch.Tensor,
                 values: dict[str, list[str]]) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Per attribute, the subgroup where it is judged worst: its accuracy among the images
    asked for one value of another attribute (e.g. smile among skin=dark). An overall 85 % can
    hide a subgroup at chance; attributes alone (one attribute) have no slice.

    Args:
        hits: (N, A) bool, the judge saw the asked value.
        codes: (N, A) the asked value indices.
        values: attribute name -> its values, in code order.

    Returns:
        name -> {"when": "skin=dark", "accuracy": float, "images": int}.
    """
    names = list(values)
    out: dict[str, dict[str, Any]] = {}
    for a, name in enumerate(names):
        slices = [
            (float(hits[sel, a].float().mean()), f"{other}={v}", int(sel.sum()))
            for b, other in enumerate(names) if b != a
            for k, v in enumerate(values[other])
            if (sel := codes[:, b] == k).any()
        ]  # fmt: skip
        if slices:
            acc, when, n = min(slices)
            out[name] = {"when": when, "accuracy": acc, "images": n}
    return out


def slice_text(s: dict[str, Any]) -> str:
    """One worst subgroup as '89.4% when skin=dark'."""
    return f"{s['accuracy']:.1%} when {s['when']}"


def slices_text(slices: dict[str, dict[str, Any]]) -> str:
    """'smile 89.4% when skin=dark, ...' for logs and the verdict."""
    return ", ".join(f"{n} {slice_text(s)}" for n, s in slices.items())


def combo_ids(codes: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """(N, A) codes -> one integer per full combination (mixed radix)."""
    ids = torch.zeros(len(codes), dtype=torch.long)
    for a, k in enumerate(sizes):
        ids = ids * k + codes[:, a]
    return ids


def edit_scores(pred: torch.Tensor, codes: torch.Tensor, rows: list[int],
                 names: list[str]) -> list[dict]:  # fmt: skip
    """Per editing-grid row (attribute a): how often the judge sees the asked value of a, and
    how often all other attributes keep the judged value of the row's first cell (the edit
    changed only what it should)."""
    row_of = torch.tensor(rows)
    out = []
    for a, name in enumerate(names):
        p, c = pred[row_of == a], codes[row_of == a]
        target = float((p[:, a] == c[:, a]).float().mean())
        others = [j for j in range(len(names)) if j != a]
        kept = float((p[:, others] == p[0:1, others]).all(1).float().mean()) if others else 1.0
        out.append({"attribute": name, "target_hit": target, "others_kept": kept})
    return out
