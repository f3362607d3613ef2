from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from genforge.evaluate import image_metrics as im
from genforge.evaluate.features import domain_space


@pytest.fixture(scope="module")
def space(digits16, feature_cache):
    x, y, vx, vy = digits16
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENFORGE_CACHE", str(feature_cache))
        return domain_space(x, y, "digits", steps=60, val=(vx, vy))


def _noisy(x: torch.Tensor, sigma: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(-1, 1)


def _blur(x: torch.Tensor, k: int) -> torch.Tensor:
    if k == 1:
        return x
    return F.avg_pool2d(F.pad(x, (k // 2,) * 4, mode="replicate"), k, stride=1)


def test_fd_of_two_real_splits_is_near_zero_and_far_below_noise(space, digits16):
    x, _, vx, _ = digits16
    real = space.features(x)
    split = im.frechet_distance(real, space.features(vx))
    noise = torch.rand_like(vx) * 2 - 1
    vs_noise = im.frechet_distance(real, space.features(noise))
    assert split < 0.05 * vs_noise, (split, vs_noise)


def test_fd_grows_monotonically_with_noise_and_blur(space, digits16):
    x, _, vx, _ = digits16
    real = space.features(x)
    noise = [im.frechet_distance(real, space.features(_noisy(vx, s))) for s in (0, 0.2, 0.5, 1.0)]
    blur = [im.frechet_distance(real, space.features(_blur(vx, k))) for k in (1, 3, 5, 7)]
    assert noise == sorted(noise) and noise[-1] > 2 * noise[0], noise
    assert blur == sorted(blur) and blur[-1] > 2 * blur[0], blur


def test_fd_is_symmetric_and_zero_for_identical_sets(digits16):
    a = torch.randn(200, 6, dtype=torch.float64)
    b = torch.randn(150, 6, dtype=torch.float64) + 0.5
    assert im.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert im.frechet_distance(a, b) == pytest.approx(im.frechet_distance(b, a), rel=1e-6)
    # two Gaussians with equal covariance: FD is the squared distance of the means
    mu_gap = a.mean(0) - b.mean(0)
    assert im.frechet_distance(a, b) >= float(mu_gap @ mu_gap) * 0.5


def test_kid_caps_subset_size_on_small_sets():
    a, b = torch.randn(30, 4), torch.randn(20, 4) + 1
    mean, _std, size = im.kernel_distance(a, b, subset_size=1000)
    assert size == 20 and mean > 0
    same, _, _ = im.kernel_distance(a, a.clone(), subset_size=1000)
    assert abs(same) < mean


def test_psnr_and_ssim_match_scikit_image(digits16):
    x = digits16[2][:6]
    y = _noisy(x, 0.15)
    a, b = x.numpy().astype(np.float64), y.numpy().astype(np.float64)
    ref_psnr = peak_signal_noise_ratio(a, b, data_range=2.0)
    assert im.psnr(y, x) == pytest.approx(ref_psnr, rel=1e-6)
    ref_ssim = np.mean(
        [
            structural_similarity(a[i, 0], b[i, 0], data_range=2.0, gaussian_weights=True,
                                  sigma=1.5, use_sample_covariance=False)
            for i in range(len(a))
        ]
    )  # fmt: skip
    assert im.ssim(y, x) == pytest.approx(ref_ssim, abs=2e-3)


def test_manifold_metrics_see_fidelity_and_diversity():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 3, generator=g)
    same = torch.randn(400, 3, generator=g)
    far = torch.randn(400, 3, generator=g) + 20
    collapsed = torch.randn(400, 3, generator=g) * 0.05
    good = im.manifold_metrics(real, same)
    assert good["precision"] > 0.8 and good["recall"] > 0.8 and good["coverage"] > 0.8
    bad = im.manifold_metrics(real, far)
    assert bad["precision"] == 0 and bad["coverage"] == 0
    mode = im.manifold_metrics(real, collapsed)
    assert mode["precision"] > 0.9 and mode["recall"] < 0.2  # faithful but not diverse


def test_class_histogram_detects_mode_collapse():
    real = torch.arange(1000) % 10
    fair = im.class_histogram_check(torch.arange(500) % 10, real, 10)
    collapsed = im.class_histogram_check(torch.full((500,), 3), real, 10)
    assert fair["classes_covered"] == 10 and fair["kl"] < 0.01
    assert collapsed["classes_covered"] == 1 and collapsed["kl"] > 1.5


def test_inception_score_is_high_for_confident_diverse_logits():
    sharp = torch.eye(10).repeat(20, 1) * 30  # each sample certain, classes spread
    flat = torch.zeros(200, 10)
    assert im.inception_score(sharp, splits=1)[0] == pytest.approx(10, rel=0.01)
    assert im.inception_score(flat, splits=1)[0] == pytest.approx(1, rel=0.01)
    assert im.inception_score(sharp)[0] > 5  # 10 splits of 20: each split's marginal is uneven
