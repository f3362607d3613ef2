"""The real-vs-generated detector family: Wang et al.'s augmentations, the two classes it
needs, one training step, and that it refuses to sample."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image

from genforge.core.errors import GenforgeError
from genforge.models import ImageSpec, build_model
from genforge.models.detector import DetectorConfig, augment_image, jpeg, rescale

SPEC = ImageSpec(1, 16, 2, ("generated", "real"))


class NoAccelerator:
    @staticmethod
    def backward(loss):
        loss.backward()


def checker(size: int = 32) -> Image.Image:
    arr = np.indices((size, size)).sum(0) % 2 * 255
    return Image.fromarray(arr.astype(np.uint8))


def test_jpeg_and_resize_wipe_high_frequencies():
    im = checker()
    hf = lambda a: np.abs(np.diff(np.asarray(a, np.float32), axis=1)).mean()  # noqa: E731
    assert hf(rescale(im, 0.5)) < 0.5 * hf(im)  # a 1-px checkerboard does not survive
    assert hf(jpeg(im, 30)) < hf(im)
    assert jpeg(im, 75).size == rescale(im, 0.5).size == im.size


def test_each_augmentation_applies_with_its_probability():
    im = checker()
    off = DetectorConfig(p_flip=0, p_crop=0, p_resize=0, p_blur=0, p_jpeg=0)
    assert np.array_equal(np.asarray(augment_image(im, off, lambda: 0.0)), np.asarray(im))
    blur = DetectorConfig(p_flip=0, p_crop=0, p_resize=0, p_blur=1, p_jpeg=0)
    out = augment_image(im, blur, lambda: 0.9)  # sigma 2.7
    assert out.size == im.size and np.asarray(out).std() < 0.2 * np.asarray(im).std()


def test_a_detector_needs_generated_and_real_classes():
    with pytest.raises(GenforgeError, match="generated/ and real/"):
        build_model("detector", ImageSpec(1, 16, 2, ("cats", "dogs")))
    with pytest.raises(GenforgeError, match="generated/ and real/"):
        build_model("detector", ImageSpec(1, 16))


def test_training_separates_two_visibly_different_sources():
    torch.manual_seed(0)
    model = build_model("detector", SPEC, {"width": 8})
    nets = model.networks()
    opts = {"net": torch.optim.Adam(nets["net"].parameters(), 3e-3)}
    g = torch.Generator().manual_seed(0)
    smooth = torch.rand(16, 1, 1, 1, generator=g).expand(16, 1, 16, 16) * 2 - 1  # flat greys
    noisy = torch.rand(16, 1, 16, 16, generator=g) * 2 - 1  # white noise
    x = torch.cat([smooth, noisy])
    y = torch.tensor([0] * 16 + [1] * 16)  # "generated" is class 0
    for _ in range(40):
        logs = model.training_step(nets, opts, lambda: (x, y), NoAccelerator())
    assert set(logs) == {"loss", "accuracy"}
    model.eval()
    p = model.prob_generated(x)
    assert p.shape == (32,) and float(p[:16].min()) > float(p[16:].max())


def test_a_detector_does_not_sample():
    model = build_model("detector", SPEC)
    with pytest.raises(GenforgeError, match="genforge detect"):
        model.latent(2)


def test_batchnorm_statistics_come_from_the_clean_images_only():
    torch.manual_seed(0)
    model = build_model("detector", SPEC, {"width": 8, "norm": "batch", "p_blur": 1.0})
    net = model.networks()["net"]
    bn = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    x = torch.rand(8, 1, 16, 16) * 2 - 1
    y = torch.tensor([0, 1] * 4)
    expected = copy.deepcopy(net)
    with torch.no_grad():
        expected(x)  # running statistics of the clean batch alone
    want = next(m for m in expected.modules() if isinstance(m, torch.nn.BatchNorm2d))
    opts = {"net": torch.optim.Adam(net.parameters(), 1e-3)}
    model.training_step(model.networks(), opts, lambda: (x, y), NoAccelerator())
    assert torch.allclose(bn.running_mean, want.running_mean)
    assert torch.allclose(bn.running_var, want.running_var)
    assert all(m.training for m in net.modules())  # back in training mode after the step
