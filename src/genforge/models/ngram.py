"""n-gram LM with interpolated Kneser–Ney smoothing (Kneser & Ney 1995; Chen & Goodman 1998,
"An empirical study of smoothing techniques for language modeling", section 3).

    P_k(w | h) = max(c_k(h w) - D_k, 0) / c_k(h ·) + D_k * N1+(h ·) / c_k(h ·) * P_{k-1}(w | h')

c_n are raw counts at the highest order and continuation counts N1+(· h w) below it;
P_0 is uniform over the vocabulary, so every P_k sums to 1. An unseen context h falls back to
P_{k-1} whole. D_k = n1 / (n1 + 2 n2) per order (Ney's estimate) unless `discount` is given.

Fitted by counting (no optimiser steps); counts are stored as safetensors int tensors.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.data.text import TextSpec
from genforge.models.text_base import TextModel


@dataclass
class NGramConfig:
    n: int = 5
    discount: float | None = None  # None: n1 / (n1 + 2 n2) per order


class NGram(TextModel):
    Config = NGramConfig
    count_based = True
    feedback = None  # counts, not gradients: nothing for DPO to move

    def __init__(self, config: NGramConfig, spec: TextSpec):
        super().__init__(config, spec)
        if config.n < 1:
            raise GenforgeError(f"n-gram order n must be at least 1, got {config.n}")
        if config.discount is not None and not 0 < config.discount < 1:
            raise GenforgeError(f"discount must be in (0, 1), got {config.discount}")
        self.n, self.V = config.n, spec.vocab_size
        # order k (1..n) -> {context (k-1 ids): ({next id: count}, total count, distinct nexts)}
        self.tables: dict[int, dict[tuple[int, ...], tuple[dict[int, int], int, int]]] = {}
        self.discounts: dict[int, float] = {}

    # -- fitting -----------------------------------------------------------------------
    def fit(self, stream: np.ndarray) -> None:
        """Count n-grams of the token stream (documents joined by end-of-text tokens)."""
        ids = stream.tolist()
        n = self.n
        grams: dict[int, Counter] = {n: Counter(zip(*(ids[i:] for i in range(n)), strict=False))}
        for k in range(n - 1, 0, -1):  # continuation counts: distinct left neighbours
            cont: Counter = Counter()
            for g in grams[k + 1]:
                cont[g[1:]] += 1
            # the stream's first k-gram has no left neighbour: count it once
            if len(ids) >= k:
                first = tuple(ids[:k])
                if first not in cont:
                    cont[first] = 1
            grams[k] = cont
        self._build(grams)

    def _build(self, grams: dict[int, Counter]) -> None:
        self.tables, self.discounts = {}, {}
        for k, counter in grams.items():
            table: dict[tuple[int, ...], dict[int, int]] = defaultdict(dict)
            for g, c in counter.items():
                table[g[:-1]][g[-1]] = c
            self.tables[k] = {h: (d, sum(d.values()), len(d)) for h, d in table.items()}
            if self.config.discount is not None:
                self.discounts[k] = float(self.config.discount)
            else:
                coc = Counter(counter.values())
                n1, n2 = coc.get(1, 0), coc.get(2, 0)
                self.discounts[k] = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
                self.discounts[k] = min(max(self.discounts[k], 0.05), 0.95)

    # -- probabilities -----------------------------------------------------------------
    def prob(self, history: list[int] | tuple[int, ...], w: int) -> float:
        """P(w | history) (only the last n-1 ids of history matter)."""
        p = 1.0 / self.V
        h = tuple(history[-(self.n - 1) :]) if self.n > 1 else ()
        for k in range(1, min(self.n, len(h) + 1) + 1):
            entry = self.tables.get(k, {}).get(h[len(h) - (k - 1) :] if k > 1 else ())
            if entry is None:
                break  # unseen context: longer ones are unseen too
            nexts, total, types = entry
            d = self.discounts[k]
            p = max(nexts.get(w, 0) - d, 0.0) / total + d * types / total * p
        return p

    def distribution(self, history: list[int] | tuple[int, ...]) -> np.ndarray:
        """P(· | history) over the whole vocabulary, (V,) float64 summing to 1."""
        p = np.full(self.V, 1.0 / self.V)
        h = tuple(history[-(self.n - 1) :]) if self.n > 1 else ()
        for k in range(1, min(self.n, len(h) + 1) + 1):
            entry = self.tables.get(k, {}).get(h[len(h) - (k - 1) :] if k > 1 else ())
            if entry is None:
                break
            nexts, total, types = entry
            d = self.discounts[k]
            p = p * (d * types / total)
            ids = np.fromiter(nexts.keys(), dtype=np.int64, count=len(nexts))
            cs = np.fromiter(nexts.values(), dtype=np.float64, count=len(nexts))
            p[ids] += np.maximum(cs - d, 0.0) / total
        return p

    def log2probs(self, ids: np.ndarray | list[int]) -> np.ndarray:
        """log2 P(ids[i] | ids[:i]) for i = 1..len-1 (the first token is the given context)."""
        ids = list(map(int, ids))
        return np.array([math.log2(self.prob(ids[max(0, i - self.n + 1) : i], ids[i]))
                         for i in range(1, len(ids))])  # fmt: skip

    def preview_text(
        self, net: Any, tokenizer: Any, seed: int, n: int = 3, max_new: int = 200
    ) -> str:
        """`n` samples (temperature 1) from end-of-text."""
        rng = np.random.default_rng(seed)
        texts = []
        for _ in range(n):
            hist = [tokenizer.eos_id]
            for _ in range(max_new):
                hist.append(int(rng.choice(self.V, p=self.distribution(hist))))
            texts.append(tokenizer.decode(hist[1:]))
        return "\n\n---\n\n".join(texts) + "\n"

    # -- the Run -----------------------------------------------------------------------
    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        out: dict[str, torch.Tensor] = {}
        for k, table in self.tables.items():
            rows = sorted(
                (*h, w, c) for h, (nexts, _, _) in table.items() for w, c in nexts.items()
            )
            arr = np.array(rows, dtype=np.int64).reshape(-1, k + 1)
            out[f"order{k}.grams"] = torch.from_numpy(arr[:, :k].astype(np.int32).copy())
            out[f"order{k}.counts"] = torch.from_numpy(arr[:, k].copy())
        return out

    def load_state_dict(self, state: dict[str, Any], strict: bool = True, assign: bool = False):
        orders = sorted(int(k[5:].split(".")[0]) for k in state if k.endswith(".grams"))
        if orders != list(range(1, self.n + 1)):
            raise GenforgeError(f"stored n-gram orders {orders} do not match n={self.n}")
        grams: dict[int, Counter] = {}
        for k in orders:
            g = state[f"order{k}.grams"].tolist()
            c = state[f"order{k}.counts"].tolist()
            grams[k] = Counter({tuple(x): y for x, y in zip(g, c, strict=True)})
        self._build(grams)
        return None
