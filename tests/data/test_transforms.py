"""Batched augmentations (genforge/data/transforms.py)."""

from __future__ import annotations

import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.data import AUGMENTATIONS, augment
from genforge.data.transforms import crop, flip, rotate, scale


def _batch(seed: int = 0, b: int = 16, c: int = 3, size: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, size, size, generator=g) * 2 - 1  # (B, C, H, W) in [-1, 1]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("names", [[name] for name in AUGMENTATIONS] + [list(AUGMENTATIONS)])
def test_shape_dtype_range_and_determinism(names: list[str]) -> None:
    x = _batch()
    a = augment(x, names, _gen(0))
    b = augment(x, names, _gen(0))
    c = augment(x, names, _gen(1))
    assert a.shape == x.shape and a.dtype == x.dtype and a.device == x.device
    assert a.min() >= -1.0 and a.max() <= 1.0
    assert torch.equal(a, b)  # same generator state, same output
    assert not torch.equal(a, c)  # another seed, another draw
    assert not torch.equal(a, x)


def test_flip_of_flip_with_the_same_draws_is_identity() -> None:
    x = _batch()
    once = flip(x, _gen(5))
    assert torch.equal(flip(once, _gen(5)), x)
    # Each sample is either untouched or exactly mirrored, and both happen in a batch of 16.
    same = [torch.equal(o, s) for o, s in zip(once, x, strict=True)]
    mirrored = [torch.equal(o, s.flip(-1)) for o, s in zip(once, x, strict=True)]
    assert all(a or b for a, b in zip(same, mirrored, strict=True))
    assert any(same) and any(mirrored)


def test_crop_moves_whole_pixels_within_reflect_padding() -> None:
    x = _batch(size=16)
    out = crop(x, _gen(0))
    pad = 16 // 8
    padded = torch.nn.functional.pad(x, (pad,) * 4, mode="reflect")
    offsets = [(i, j) for i in range(2 * pad + 1) for j in range(2 * pad + 1)]
    for o, p in zip(out, padded, strict=True):
        assert any(torch.equal(o, p[:, i : i + 16, j : j + 16]) for i, j in offsets)


def test_rotate_and_scale_keep_a_constant_image_constant() -> None:
    x = torch.full((4, 1, 8, 8), 0.3)
    for fn in (rotate, scale):
        assert torch.allclose(fn(x, _gen(0)), x, atol=1e-6)


def test_samples_get_different_draws() -> None:
    x = _batch(b=1).expand(8, -1, -1, -1)  # the same image eight times
    out = augment(x, ["rotate"], _gen(0))
    assert not torch.equal(out[0], out[1])


def test_no_names_is_identity_and_generator_is_optional() -> None:
    x = _batch()
    assert torch.equal(augment(x, []), x)
    assert augment(x, ["flip", "scale"]).shape == x.shape


def test_unknown_augmentation_lists_known_ones() -> None:
    with pytest.raises(GenforgeError, match="unknown augmentation 'blur'; known: crop, flip"):
        augment(_batch(), ["flip", "blur"], _gen(0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_device_and_matches_cpu() -> None:
    x = _batch()
    names = list(AUGMENTATIONS)
    on_cpu = augment(x, names, _gen(0))
    on_gpu = augment(x.cuda(), names, _gen(0))  # CPU generator, device batch
    assert on_gpu.device.type == "cuda" and on_gpu.shape == x.shape
    assert torch.allclose(on_gpu.cpu(), on_cpu, atol=1e-4)
    cuda_gen = torch.Generator(device="cuda").manual_seed(0)
    assert augment(x.cuda(), names, cuda_gen).device.type == "cuda"
