"""Restoration against ground truth (evaluate/restoration.py): super-resolution runs scored
on their held-out images next to bicubic, and inpainting/SDEdit on a ddpm run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import genforge
from genforge.core.errors import GenforgeError
from genforge.evaluate import evaluate_run
from genforge.evaluate import restoration as rs
from genforge.evaluate.image import real_images
from genforge.evaluate.report import write_report
from genforge.evaluate.result import EvalResult
from genforge.generate.diffusion import DiffusionPipeline

UNET = {"block_out_channels": (8, 16), "norm_num_groups": 4, "preview_steps": 2}
COMMON = {"image_size": 16, "steps": 2, "batch_size": 8, "sample_every": 1000, **UNET}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("restoration-runs")
    torch.manual_seed(0)
    sr = genforge.train("sr", "digits", name="sr16", runs_dir=root, scale=2, **COMMON).run
    ddpm = genforge.train("ddpm", "digits", name="ddpm16", runs_dir=root, **COMMON).run
    return {"sr": sr, "ddpm": ddpm}


def direct_psnr(pred: torch.Tensor, truth: torch.Tensor) -> float:
    mse = float(((pred.double() - truth.double()) ** 2).mean())
    return 10 * math.log10(4.0 / mse)  # [-1, 1] images: peak-to-peak 2


def test_sr_eval_scores_held_out_images_next_to_bicubic(runs):
    run = runs["sr"]
    result = evaluate_run(run, n=6, steps=2)
    values = result.to_dict()["values"]
    assert set(values) == {
        "psnr_sr", "ssim_sr", "psnr_bicubic", "ssim_bicubic", "psnr_nearest", "ssim_nearest",
    }  # fmt: skip
    assert all(math.isfinite(v) for v in values.values())
    assert result.extra["held_out"]["scored"] == 6
    assert result.extra["steps"] == 2 and result.extra["scale"] == 2
    # the baseline from the held-out split training left out, computed here independently
    val = real_images(run, limit=6).val  # same seeded subset (seed 0 = the training seed)
    lr = F.avg_pool2d(val, 2)
    bicubic = F.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False).clamp(-1, 1)
    assert values["psnr_bicubic"] == pytest.approx(direct_psnr(bicubic, val), rel=1e-6)
    nearest = lr.repeat_interleave(2, -1).repeat_interleave(2, -2)
    assert values["psnr_nearest"] == pytest.approx(direct_psnr(nearest, val), rel=1e-6)
    assert values["psnr_bicubic"] > values["psnr_sr"]  # 2 training steps: the model is noise
    write_report(run, result)
    assert json.loads(run.eval_path.read_text())["values"]["psnr_sr"] == values["psnr_sr"]
    assert "Super-resolution x2" in run.report_path.read_text()
    grid = np.asarray(Image.open(run.path / "upscaled.png"))
    assert grid.shape == (2 + 6 * 18, 2 + 4 * 18)  # low-res | bicubic | model | ground truth


def test_sr_eval_scores_what_the_model_outputs(runs, monkeypatch):
    """A model that returns its bicubic condition scores exactly the bicubic baseline."""
    monkeypatch.setattr(
        DiffusionPipeline, "upscale", lambda self, lr, seed=0: self.model.lr_condition(lr)
    )
    result = evaluate_run(runs["sr"], n=4)
    assert result.value("psnr_sr") == pytest.approx(result.value("psnr_bicubic"), rel=1e-12)
    assert result.value("ssim_sr") == pytest.approx(result.value("ssim_bicubic"), rel=1e-12)


def test_restoration_checks_on_a_ddpm_run(runs):
    run = runs["ddpm"]
    images, total = rs.held_out(run, 3, seed=0)
    assert len(images) == 3 and total > 3
    base = EvalResult("image", [], [], {"kept": 1})
    result = rs.restoration_result(run, base, steps=2, n=3)
    values = result.to_dict()["values"]
    assert set(values) == {
        "psnr_inpaint_box", "psnr_inpaint_box_biharmonic", "psnr_inpaint_box_mean",
        "ssim_inpaint", "ssim_inpaint_biharmonic", "inpaint_kept_max_abs",
        "psnr_sdedit", "ssim_sdedit", "psnr_noisy", "ssim_noisy",
    }  # fmt: skip
    assert all(math.isfinite(v) for v in values.values())
    assert values["inpaint_kept_max_abs"] < 1e-3  # the known pixels come back unchanged
    noisy = rs.add_noise(images, rs.NOISE_SIGMA, 0)
    assert values["psnr_noisy"] == pytest.approx(direct_psnr(noisy, images), rel=1e-6)
    assert result.extra["kept"] == 1 and result.extra["restoration"]["images"] == 3
    assert [s.title for s in result.sections] == ["Inpainting (RePaint)", "Denoising (SDEdit 0.3)"]
    assert (run.path / "inpainted.png").exists() and (run.path / "denoised.png").exists()


def test_baselines_fill_only_the_box():
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    mask = rs.centre_box(16)
    assert int(mask.sum()) == 64 and mask[0, 0, 4:12, 4:12].all()
    for fill in (rs.mean_fill(x, mask), rs.biharmonic_fill(x, mask)):
        assert torch.allclose(fill * (1 - mask), x * (1 - mask), atol=1e-6)
    flat = torch.full((1, 1, 16, 16), 0.25)
    assert torch.allclose(rs.biharmonic_fill(flat, mask), flat, atol=1e-6)  # smooth: exact


def test_misuse_is_one_clear_error(runs, tmp_path):
    with pytest.raises(GenforgeError, match="--restoration needs an unconditional or class"):
        evaluate_run(runs["sr"], restoration=True)
    with pytest.raises(GenforgeError, match="--sampler and --steps apply to super-resolution"):
        evaluate_run(runs["ddpm"], steps=3)
    with pytest.raises(GenforgeError, match="--real and --utility do not apply"):
        evaluate_run(runs["sr"], real=tmp_path)
    with pytest.raises(GenforgeError, match="--n must be at least 1"):
        evaluate_run(runs["sr"], n=0)
