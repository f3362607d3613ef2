"""WaveGAN: phase shuffle, output length, a tiny run sampled to WAV files of the right shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from genforge.core.errors import GenforgeError
from genforge.data.audio import AudioSpec
from genforge.generate.audio import AudioPipeline, write_clips
from genforge.models.wavegan import PhaseShuffle, WaveGAN, WaveGANConfig
from genforge.train.launch import train

TINY = {"model_size": 4, "latent_dim": 8, "n_critic": 1}


def test_phase_shuffle_shifts_by_at_most_n_and_is_off_in_eval():
    torch.manual_seed(0)
    ps = PhaseShuffle(2)
    x = torch.arange(20.0).view(1, 1, 20).repeat(16, 3, 1)  # (B, C, L), a ramp
    y = ps(x)
    shift = y[:, :, 5] - x[:, :, 5]  # the ramp moved by -k
    assert set(shift.unique().tolist()) <= {-2.0, -1.0, 0.0, 1.0, 2.0}
    assert len(shift.unique()) > 1  # examples are shifted differently...
    assert (shift == shift[:, :1]).all()  # ...but all channels of one example alike
    assert torch.equal(ps.eval()(x), x)


@pytest.mark.parametrize("length", [1000, 4000, 16000])
def test_generator_emits_exactly_the_clip_length(length: int):
    model = WaveGAN(WaveGANConfig(**TINY), AudioSpec(8000, length)).eval()
    out = model.generate(model.latent(2))
    assert out.shape == (2, 1, length) and out.abs().max() <= 1
    assert model.discriminator(out).shape == (2,)


def test_conditional_needs_labels():
    with pytest.raises(GenforgeError, match="needs labeled clips"):
        WaveGAN(WaveGANConfig(conditional=True), AudioSpec(8000, 1000))


def test_tiny_run_writes_wavs_of_the_right_rate_and_length(tmp_path: Path):
    run = train("cwavegan", "tones", runs_dir=tmp_path, sample_rate=4000, seconds=0.25,
                steps=2, batch_size=8, **TINY)  # fmt: skip
    assert (run.samples_dir / "latest.png").exists()
    assert sf.info(str(run.samples_dir / "latest-0.wav")).samplerate == 4000
    pipe = AudioPipeline(run)
    wavs, grid = write_clips(pipe, 3, tmp_path / "sounds", seed=1, label="A4")
    assert [p.name for p in wavs] == ["clip-0000-A4.wav", "clip-0001-A4.wav", "clip-0002-A4.wav"]
    x, rate = sf.read(str(wavs[0]))
    assert rate == 4000 and x.shape == (1000,) and np.abs(x).max() <= 1
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(GenforgeError, match="unknown class 'H9'"):
        pipe.sample(1, label="H9")
