"""Audio evaluation: the domain FD separates real from noise; conditional accuracy is reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genforge.evaluate import evaluate_run
from genforge.evaluate.audio import features_in, frechet_distance, train_domain_cnn
from genforge.evaluate.report import write_report
from genforge.train.launch import train


def test_frechet_distance_is_zero_for_equal_sets_and_grows_with_shift():
    a = np.random.default_rng(0).normal(size=(200, 4))
    assert abs(frechet_distance(a, a)) < 1e-6
    assert frechet_distance(a, a + 1.0) > 3.5  # 4 dims shifted by 1: about 4


def test_domain_features_tell_tones_from_noise():
    from genforge.data.audio import load_audio

    ds = load_audio("tones", 4000, 0.25)
    x = features_in(ds.images, 4000)
    net = train_domain_cnn(x, ds.labels, ds.num_classes, steps=60, seed=0)
    noise = torch.randn(64, 1, 1000) * 0.1
    with torch.no_grad():
        f_a, f_b = net.features(x[::2][:64]).numpy(), net.features(x[1::2][:64]).numpy()
        f_noise = net.features(features_in(noise, 4000)).numpy()
    assert frechet_distance(f_a, f_b) < frechet_distance(f_a, f_noise)


def test_evaluate_run_reports_fd_and_conditional_accuracy(tmp_path: Path):
    run = train("cwavegan", "tones", runs_dir=tmp_path, sample_rate=4000, seconds=0.25, steps=1,
                batch_size=8, model_size=4, latent_dim=8, n_critic=1)  # fmt: skip
    result = evaluate_run(run, n=32, feature_steps=20)
    assert result.modality == "audio"
    assert result.value("fd_domain") > 0 and result.value("fd_domain_real_floor") >= 0
    # one step of training: every label sounds alike, so the judge cannot tell them apart
    assert result.value("conditional_accuracy") < 0.5
    html = write_report(run, result).read_text()
    assert "Generated spectrograms" in html and "data:audio/wav;base64," in html
