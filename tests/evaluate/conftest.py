"""Evaluation fixtures: real digits at 16 px, and tiny trained runs built once per session."""

from __future__ import annotations

import pytest
import torch

import genforge
from genforge.data import load_images


@pytest.fixture(scope="session")
def digits16():
    ds = load_images("digits", image_size=16, seed=0)
    train, val = ds.split(0.3, seed=0)
    return train.images, train.labels, val.images, val.labels


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """A conditional GAN (8 px) and an unconditional VAE (16 px) on digits, a few dozen steps each."""
    root = tmp_path_factory.mktemp("eval-runs")
    torch.manual_seed(0)
    common = {"image_size": 8, "batch_size": 32, "runs_dir": root, "sample_every": 1000}
    cgan = genforge.train("cgan", "digits", name="cgan8", steps=40, ngf=16, ndf=16,
                          latent_dim=16, **common)  # fmt: skip
    common16 = {**common, "image_size": 16}
    vae = genforge.train("vae", "digits", name="vae16", steps=40, width=8, latent_dim=8, **common16)
    return {"root": root, "cgan": cgan.run, "vae": vae.run}
