"""TVAE: a tiny run trains and samples decodable rows."""

from __future__ import annotations

from pathlib import Path

import torch

from genforge.data.table import load_table
from genforge.generate.table import TablePipeline
from genforge.models.tvae import TVAE, TVAEConfig
from genforge.train.launch import train


def test_loss_falls_and_samples_decode(shop_csv: Path, tmp_path: Path):
    run = train("tvae", str(shop_csv), runs_dir=tmp_path, steps=40, batch_size=16,
                latent_dim=4, hidden=(16,), ema_decay=0.0, log_every=1)  # fmt: skip
    losses = [r["loss"] for r in run.metrics()]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    df = TablePipeline(run).sample(25, seed=0)
    assert len(df) == 25 and df["country"].isin(["DE", "FR"]).all()


def test_reconstruction_loss_is_lower_for_the_right_row(shop_csv: Path):
    ds = load_table(str(shop_csv))
    model = TVAE(TVAEConfig(latent_dim=4, hidden=(8,)), ds.spec)
    x = ds.images[:8]
    sigma = torch.full((ds.spec.dim,), -2.3)
    # logits that point at the true one-hot values (and alphas equal to the data) score better
    good = torch.where(x > 0.5, 10.0, -10.0)
    for s in ds.spec.spans:
        if s.kind == "tanh":
            good[:, s.start] = torch.atanh(x[:, s.start].clamp(-0.99, 0.99))
    assert model.reconstruction_loss(good, x, sigma) < model.reconstruction_loss(-good, x, sigma)
