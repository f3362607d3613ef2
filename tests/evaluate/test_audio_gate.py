"""The audio gate: a clipped, a silent and a noisy clip score below the clean tone they were
made from, and the hard limits reject them with their reasons."""

from __future__ import annotations

import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.data.audio import load_audio
from genforge.evaluate.audio_gate import AudioGate, AudioLimits, gated_clips
from genforge.generate.audio import AudioPipeline
from genforge.train.launch import train


@pytest.fixture(scope="module")
def tones_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio-gate")
    return train("wavegan", "tones", runs_dir=root, sample_rate=4000, seconds=0.25, steps=1,
                 batch_size=8, model_size=4, latent_dim=8, n_critic=1)  # fmt: skip


def test_damaged_clips_score_below_the_clean_tone(tones_run):
    pipe = AudioPipeline(tones_run)
    gate = AudioGate(pipe, limits=AudioLimits(min_snr_db=10))
    assert gate.components == ["confidence", "clipping", "silence", "snr"]
    ds = load_audio("tones", 4000, 0.25)
    clean = ds.images[5]  # (1, L), peak below 0.99
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    planted = torch.stack([
        clean,
        (clean * 8).clamp(-1, 1),  # clipped
        torch.zeros_like(clean),  # silent
        clean + noise * clean.pow(2).mean().sqrt(),  # noisy: SNR 0 dB
    ])  # fmt: skip
    s = gate.score(planted)
    score = s.score.tolist()
    assert score[0] > max(score[1:]), score
    assert s.components["clipping"][1] == 0 and s.components["clipping"][0] == 1
    assert s.components["silence"][2] == 0 and s.components["silence"][0] > 0.8
    assert s.components["snr"][3] < 0.2 < 0.9 < s.components["snr"][0]
    assert s.rejected[0] == []
    assert s.rejected[1][0].startswith("clipping (")
    assert any(r.startswith("silence (100% of frames") for r in s.rejected[2])
    assert s.rejected[3][0].startswith("noise (SNR")


def test_gated_clips_keep_the_best_of_each_group(tones_run):
    pipe = AudioPipeline(tones_run)
    waves, labels, scores, stats = gated_clips(pipe, 3, best_of=2, min_score=0.0, seed=1)
    assert stats["candidates"] == 6 and stats["requested"] == 3 and labels is None
    assert len(waves) == len(scores) == stats["accepted"] <= 3
    assert all(0 <= float(x) <= 1 for x in scores)
    assert stats["acceptance_rate"] == 1.0  # every score is at least 0
    with pytest.raises(GenforgeError, match="--max-clipping is a share"):
        AudioLimits(max_clipping=2)
    with pytest.raises(GenforgeError, match="--gate is one of"):
        AudioGate(pipe, gate="nope")
