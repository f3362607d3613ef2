"""Evaluation of translation runs (evaluate/translation.py): pix2pix and cyclegan on the
held-out split training left out."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import genforge
from genforge.data import load_images
from genforge.data.domains import load_domains
from genforge.evaluate import evaluate_run
from genforge.evaluate import image_metrics as im
from genforge.evaluate.report import write_report
from genforge.models.pix2pix import Pix2Pix

TINY = {"image_size": 16, "steps": 2, "batch_size": 8, "width": 8, "val_fraction": 0.2}


def digit_pairs(root, n=20, b_names=None):
    """n digits (16 px) as gray A images and their inverses as B images, paired by file name
    unless `b_names` renames the B files."""
    x = load_images("digits", image_size=16, seed=0).images[:n, 0]  # (n, 16, 16)
    a = ((x + 1) * 127.5).round().to(torch.uint8).numpy()
    (root / "plain").mkdir(parents=True)
    (root / "inverse").mkdir()
    for i in range(n):
        Image.fromarray(a[i]).save(root / "plain" / f"d{i:03d}.png")
        name = b_names(i) if b_names else f"d{i:03d}"
        Image.fromarray(255 - a[i]).save(root / "inverse" / f"{name}.png")
    return root / "plain", root / "inverse"


def train(model, a, b, tmp_path, **extra):
    torch.manual_seed(0)
    return genforge.train(model, str(a), domain_b=str(b), name=model,
                          runs_dir=tmp_path / "runs", **TINY, **extra).run  # fmt: skip


@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pix2pix")
    a, b = digit_pairs(root)
    return train("pix2pix", a, b, root), a, b


def test_pix2pix_eval_scores_held_out_pairs(pix2pix_run):
    run = pix2pix_run[0]
    result = evaluate_run(run)
    assert set(result.to_dict()["values"]) == {
        "psnr_a2b", "ssim_a2b", "psnr_input_a2b",
        "fd_domain_a2b", "fd_domain_floor_b", "fd_domain_input_a2b",
    }  # fmt: skip
    assert result.extra["held_out"] == {"pairs": 4}  # 20 pairs, val_fraction 0.2
    assert json.loads(run.data_report_path.read_text())["val"] == 4  # what training left out
    assert all(math.isfinite(m.value) for m in result.metrics)
    assert result.metrics[2].label == "PSNR of the untranslated plain vs ground truth (dB)"
    assert result.metrics[3].label.startswith("FD (domain classifier, plain-inverse): plain")
    write_report(run, result)
    saved = json.loads(run.eval_path.read_text())
    assert saved["values"]["psnr_a2b"] == result.value("psnr_a2b")
    assert "Translations plain → inverse" in run.report_path.read_text()
    grid = np.asarray(Image.open(run.path / "translations-a2b.png"))
    assert grid.shape == (2 + 4 * 18, 2 + 3 * 18)  # 4 held-out pairs: input | output | target


def test_identity_translation_scores_like_the_metric_itself(pix2pix_run, monkeypatch):
    """With G(a) = a the PSNR/SSIM reported are those of the held-out inputs against their
    targets, computed here from the folders and the split training uses."""
    run, a, b = pix2pix_run
    monkeypatch.setattr(Pix2Pix, "translate", lambda self, x, direction="a2b", net=None: x)
    result = evaluate_run(run)
    _, val = load_domains(str(a), str(b), 16, paired=True).split(0.2, seed=0)
    va, vb = val.images[:, :1], val.images[:, 1:]
    assert result.value("psnr_a2b") == pytest.approx(im.psnr(va, vb), rel=1e-9)
    assert result.value("ssim_a2b") == pytest.approx(im.ssim(va, vb), rel=1e-9)
    assert result.value("psnr_a2b") == result.value("psnr_input_a2b")
    assert result.value("fd_domain_a2b") == result.value("fd_domain_input_a2b")


def test_cyclegan_eval_with_same_named_files(tmp_path):
    a, b = digit_pairs(tmp_path)
    run = train("cyclegan", a, b, tmp_path, n_res=1)
    result = evaluate_run(run)
    values = result.to_dict()["values"]
    paired = {f"{m}_{d}" for m in ("psnr", "ssim", "psnr_input") for d in ("a2b", "b2a")}
    assert set(values) == paired | {
        "fd_domain_a2b", "fd_domain_b2a", "fd_domain_floor_a", "fd_domain_floor_b",
        "fd_domain_input_a2b", "fd_domain_input_b2a", "psnr_cycle_a", "ssim_cycle_a",
        "psnr_cycle_b", "ssim_cycle_b", "psnr_identity_a", "psnr_identity_b",
    }  # fmt: skip
    assert result.extra["held_out"] == {"plain": 4, "inverse": 4}
    assert result.extra["paired_ground_truth"] == {"a2b": 4, "b2a": 4}
    # the inverse of a digit is its same-named partner: the do-nothing PSNR equals the metric
    # on the images of the held-out files
    _, val = load_domains(str(a), str(b), 16).split(0.2, seed=0)
    va, vb = val.images[val.labels == 0], val.images[val.labels == 1]
    assert values["psnr_input_a2b"] == pytest.approx(im.psnr(va, -va), rel=1e-6)
    assert values["psnr_input_b2a"] == pytest.approx(im.psnr(vb, -vb), rel=1e-6)
    assert (run.path / "translations-b2a.png").exists()


def test_cyclegan_without_same_named_files_has_no_paired_metrics(tmp_path):
    a, b = digit_pairs(tmp_path, b_names=lambda i: f"other{i:03d}")
    run = train("cyclegan", a, b, tmp_path, n_res=1)
    result = evaluate_run(run)
    assert not {"psnr_a2b", "ssim_b2a"} & set(result.to_dict()["values"])
    assert result.extra["paired_ground_truth"] == {}
    assert math.isfinite(result.value("psnr_cycle_a"))


def test_cyclegan_on_two_class_subfolders_finds_same_named_files(tmp_path):
    digit_pairs(tmp_path / "styles")  # styles/plain, styles/inverse: A is "inverse" (sorted)
    torch.manual_seed(0)
    run = genforge.train("cyclegan", str(tmp_path / "styles"), name="cg",
                         runs_dir=tmp_path / "runs", n_res=1, **TINY).run  # fmt: skip
    result = evaluate_run(run)
    assert result.extra["domains"] == ["inverse", "plain"]
    assert result.extra["paired_ground_truth"] == {"a2b": 4, "b2a": 4}
