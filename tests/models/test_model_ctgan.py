"""CTGAN: conditional vectors, training-by-sampling, a tiny end-to-end run, constraints."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.data.table import load_table
from genforge.generate.table import TablePipeline
from genforge.models.ctgan import CTGAN, CondSampler, CTGANConfig
from genforge.train.launch import train

TINY = {"latent_dim": 8, "generator_dim": (16,), "critic_dim": (16,), "pac": 2}


def test_conditions_use_log_frequency_and_rows_match_them(shop_csv: Path):
    ds = load_table(str(shop_csv))
    sampler = CondSampler(ds.spec, ds.images, log_frequency=True)
    spans = ds.spec.discrete_spans
    assert [s.column for s in spans] == ["country", "city", "fraud"]
    counts = ds.images[:, spans[2].start : spans[2].start + 2].sum(0).double()
    assert torch.allclose(sampler.probs[2], torch.log1p(counts) / torch.log1p(counts).sum())
    cond, span, value = sampler.draw(200, torch.Generator().manual_seed(0))
    assert cond.shape == (200, sum(s.size for s in spans)) and (cond.sum(1) == 1).all()
    rows = ds.images[sampler.matching_rows(span, value)]
    for i in range(200):  # every drawn training row has the asked-for value
        s = spans[int(span[i])]
        assert rows[i, s.start + int(value[i])] == 1


def test_generator_emits_valid_rows(shop_csv: Path):
    ds = load_table(str(shop_csv))
    model = CTGAN(CTGANConfig(**TINY), ds.spec)
    rows = model.sample(7, torch.Generator().manual_seed(0))
    assert rows.shape == (7, ds.spec.dim)
    for s in ds.spec.spans:
        block = rows[:, s.start : s.start + s.size]
        if s.kind == "tanh":
            assert block.abs().max() <= 1
        else:
            assert (block.sum(1) == 1).all()


def test_tiny_run_samples_rows_that_meet_every_constraint(shop_csv: Path, tmp_path: Path):
    run = train(
        "ctgan", str(shop_csv), runs_dir=tmp_path, steps=3, batch_size=10,
        constraints=("positive:amount", "fixed:country,city"), **TINY,
    )  # fmt: skip
    assert (run.samples_dir / "latest.csv").exists()
    df = TablePipeline(run).sample(300, seed=1)
    real = pd.read_csv(shop_csv)
    assert len(df) == 300 and list(df.columns) == list(real.columns)
    pairs = set(zip(real["country"], real["city"], strict=True))
    # an untrained generator mixes countries and cities freely: rejection keeps the real pairs
    assert set(zip(df["country"], df["city"], strict=True)) <= pairs
    assert (df["amount"] > 0).all()
    assert df["order_id"].tolist() == list(range(40, 340))  # fresh IDs after the real ones


def test_epochs_set_steps(shop_csv: Path, tmp_path: Path):
    run = train("ctgan", str(shop_csv), runs_dir=tmp_path, epochs=2, batch_size=10, **TINY)
    # 40 rows, 20% held out: 32 training rows, 2 epochs of batches of 10 = ceil(6.4) steps
    assert run.read_config()["train"]["steps"] == 7 == run.step


def test_batch_must_be_a_multiple_of_pac(shop_csv: Path, tmp_path: Path):
    with pytest.raises(GenforgeError, match=r"multiple of pac \(2\); use --batch-size 8"):
        train("ctgan", str(shop_csv), runs_dir=tmp_path, steps=1, batch_size=9, **TINY)
