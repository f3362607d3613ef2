"""Detector evaluation: AUC, Wilson intervals, a threshold calibrated on half the real images
and its false-positive rate measured on the other half; end to end, a detector trained on two
visibly different sources separates them, also after JPEG and resizing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genforge.api import train_detector
from genforge.core.errors import GenforgeError
from genforge.evaluate.detector import auc, calibrate, wilson


def test_auc_and_wilson():
    assert auc(np.array([0.1, 0.2]), np.array([0.8, 0.9])) == 1.0
    assert auc(np.array([0.8, 0.9]), np.array([0.1, 0.2])) == 0.0
    assert auc(np.array([0.5]), np.array([0.5])) == 0.5
    lo, hi = wilson(5, 100)
    assert 0 < lo < 0.05 < hi < 0.12
    assert wilson(0, 0) == (0.0, 1.0)


def test_threshold_is_set_on_one_half_and_measured_on_the_other():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(0.3, 0.1, 2000), rng.normal(0.7, 0.1, 500)
    cal = calibrate(real, fake, target_fpr=0.05)
    assert cal.n_real_calibration == cal.n_real_test == 1000
    assert cal.fpr_ci[0] <= cal.fpr <= cal.fpr_ci[1]
    assert abs(cal.fpr - 0.05) < 0.025  # measured on unseen images, close to the target
    assert cal.tpr > 0.9
    with pytest.raises(GenforgeError, match="at least 4"):
        calibrate(real[:3], fake, 0.05)
    with pytest.raises(GenforgeError, match=r"in \(0, 1\)"):
        calibrate(real, fake, 1.5)


def folder(root: Path, kind: str, n: int, seed: int) -> Path:
    """Images of one visibly different source: noise (real), flat greys, or stripes."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for i in range(n):
        if kind == "noise":
            a = rng.integers(0, 256, (16, 16))
        elif kind == "flat":
            a = np.full((16, 16), rng.integers(30, 220)) + rng.integers(-3, 4, (16, 16))
        else:  # stripes
            a = np.tile((np.arange(16) % 4 < 2) * rng.integers(120, 250), (16, 1))
        Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(root / f"{kind}{i:03d}.png")
    return root


def test_a_detector_trained_on_two_sources_separates_them(tmp_path):
    real = folder(tmp_path / "photos", "noise", 60, 0)
    fake = folder(tmp_path / "gan", "flat", 60, 1)
    unseen = folder(tmp_path / "other", "stripes", 20, 2)
    run, result = train_detector(
        real, fake, eval_fake=unseen, name="det", runs_dir=tmp_path / "runs", image_size=16,
        steps=120, batch_size=16, width=8, val_fraction=0.3,
    )  # fmt: skip
    assert result.value("auc") > 0.95
    assert result.value("auc_jpeg75") > 0.9
    record = json.loads((run.path / "detector.json").read_text())
    cal = record["calibration"]
    assert cal["target_fpr"] == 0.05 and cal["n_real_test"] >= 8
    assert cal["fpr_ci"][0] <= cal["fpr"] <= cal["fpr_ci"][1]
    assert "auc_unseen" in record and (run.path / "report.html").exists()
    cfg_data = run.read_config()["data"]["source"]
    assert sorted(p.name for p in Path(cfg_data).iterdir() if p.is_dir()) == ["generated", "real"]
