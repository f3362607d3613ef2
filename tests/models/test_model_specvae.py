"""SpecVAE: spectrogram image in [-1, 1], Griffin-Lim keeps the pitch, a tiny run trains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genforge.data.audio import AudioSpec
from genforge.models.specvae import SpecVAE, SpecVAEConfig
from genforge.train.launch import train


def test_spectrogram_round_trip_keeps_the_pitch():
    rate, length = 8000, 4000
    model = SpecVAE(SpecVAEConfig(size=32, width=4, latent_dim=4), AudioSpec(rate, length))
    t = torch.arange(length) / rate
    wave = (0.3 * torch.sin(2 * torch.pi * 440 * t)).view(1, 1, -1)
    img = model.to_image(wave)
    assert img.shape == (1, 1, 32, 32) and img.min() >= -1 and img.max() <= 1
    back = model.to_wave(img)[0, 0].numpy()
    assert back.shape == (length,) and np.abs(back).max() <= 0.99
    spectrum = np.abs(np.fft.rfft(back))
    peak = np.fft.rfftfreq(length, 1 / rate)[spectrum.argmax()]
    assert abs(peak - 440) < 80  # mel resolution at 32 bands is coarse, the pitch is kept


def test_tiny_run_samples_clips(tmp_path: Path):
    run = train("specvae", "tones", runs_dir=tmp_path, sample_rate=4000, seconds=0.25,
                steps=2, batch_size=8, size=16, width=4, latent_dim=4)  # fmt: skip
    assert (run.samples_dir / "latest.png").exists() and (run.samples_dir / "latest-7.wav").exists()
