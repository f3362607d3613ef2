"""Inference glue for a trained table Run: load once, sample rows, enforce the constraints.

Rows are drawn in batches on a seeded CPU generator, decoded (numbers clipped to the training
range, rounded to its precision), and rows breaking a declared constraint are rejected and
redrawn, so every returned row meets every constraint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genforge.core.checkpoint import load_ema, load_weights
from genforge.core.errors import GenforgeError
from genforge.core.io import write_text
from genforge.core.run import Run, resolve_run
from genforge.data.table import TableSpec, decode, fresh_ids
from genforge.generate.pipeline import pick_device
from genforge.models import build_model

MAX_ROUNDS = 50  # rejection rounds before giving up on the constraints


class TablePipeline:
    """A loaded table Run.

    Args:
        run: the Run (or its name/path).
        device: "auto", "cpu", "cuda".
        use_ema: sample with the EMA weights when present.
    """

    def __init__(self, run: Run | str | Path, device: str = "auto", use_ema: bool = True):
        self.run = run if isinstance(run, Run) else resolve_run(run)
        cfg = self.run.read_config()
        if cfg.get("modality") != "table":
            raise GenforgeError(f"run '{self.run.name}' is not a table model")
        self.model_name: str = cfg["model"]
        self.spec = TableSpec.from_dict(cfg["spec"])
        self.model = build_model(self.model_name, self.spec, cfg["model_config"])
        weights = load_weights(self.run)
        ema = load_ema(self.run) if use_ema else None
        self.model.load_state_dict({**weights, **(ema or {})})
        self.device = pick_device(device)
        self.model.to(self.device).eval()

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
