"""Inference glue for a trained table Run: load once, sample rows, enforce the constraints.

Rows are drawn in batches on a seeded CPU generator, decoded (numbers clipped to the training
range, rounded to its precision), and rows breaking a declared constraint are rejected and
redrawn, so every returned row meets every constraint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genforge.core.errors import GenforgeError
from genforge.core.io import write_text
from genforge.core.run import Run
from genforge.data.table import TableSpec, decode, fresh_ids
from genforge.generate.pipeline import load_run_model

MAX_ROUNDS = 50  # rejection rounds before giving up on the constraints


class TablePipeline:
    """A loaded table Run.

    Args:
        run: the Run (or its name/path).
        device: "auto", "cpu", "cuda".
        use_ema: sample with the EMA weights when present.
    """

    def __init__(self, run: Run | str | Path, device: str = "auto", use_ema: bool = True):
        loaded = load_run_model(run, "table", TableSpec, device, use_ema)
        self.run, self.model_name, self.spec = loaded.run, loaded.model_name, loaded.spec
        self.model, self.device = loaded.model, loaded.device

    def sample(self, n: int, seed: int = 0) -> Any:
        """`n` synthetic rows as a DataFrame with the training CSV's columns."""
        import pandas as pd

        if n < 1:
            raise GenforgeError(f"--n must be at least 1, got {n}")
        g = torch.Generator().manual_seed(seed)
        kept, have, drawn = [], 0, 0
        for _ in range(MAX_ROUNDS):
            want = n - have
            batch = want
            if self.spec.constraints:  # draw enough for the acceptance rate seen so far
                rate = max(have / drawn, 0.02) if drawn else 1.0
                batch = max(64, int(want / rate * 1.1))
            df = decode(self.spec, self.model.sample(batch, generator=g).numpy())
            drawn += batch
            if self.spec.constraints:
                df = df[self.spec.satisfied(df)]
            kept.append(df.head(want))
            have += min(len(df), want)
            if have >= n:
                break
        else:
            raise GenforgeError(
                f"only {have} of {drawn} sampled rows met the constraints; train longer or "
                "relax the constraints"
            )
        out = pd.concat(kept, ignore_index=True)
        for c in self.spec.columns:
            if c["kind"] == "id":
                out[c["name"]] = fresh_ids(c, n)
        return out


def write_table(pipe: TablePipeline, n: int, out: Path, seed: int = 0) -> Path:
    """Sample `n` rows into a CSV file."""
    if out.suffix.lower() != ".csv":
        raise GenforgeError(
            f"a table sample is written as CSV; --out must end in .csv, got {out.name}"
        )
    write_text(out, pipe.sample(n, seed).to_csv(index=False))
    return out
