import numpy as np
import pytest
import torch
from PIL import Image

from genforge.core.errors import GenforgeError
from genforge.generate.diffusion import (
    SAMPLERS,
    denoise,
    make_sampler,
    read_image,
    read_mask,
    repaint,
)
from genforge.models import ImageSpec, build_model

TINY = {"block_out_channels": (8, 16), "norm_num_groups": 4, "preview_steps": 3}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("ddpm", ImageSpec(1, 8), TINY).eval()


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_each_sampler_is_seeded_and_in_range(model, name):
    def run(seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(2, 1, 8, 8, generator=g)
        with torch.no_grad():
            return denoise(model, x, make_sampler(name, model.scheduler, 3), generator=g)

    a, b, c = run(0), run(0), run(1)
    assert a.shape == (2, 1, 8, 8) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_samplers_share_the_training_schedule_and_default_steps(model):
    cosine = build_model("ddpm", ImageSpec(1, 8), {**TINY, "beta_schedule": "squaredcos_cap_v2"})
    for name, (_, default) in SAMPLERS.items():
        s = make_sampler(name, cosine.scheduler)
        assert s.config.beta_schedule == "squaredcos_cap_v2"
        assert len(s.timesteps) == (default or 1000)
    assert type(make_sampler("dpm-solver++", model.scheduler)).__name__ == (
        "DPMSolverMultistepScheduler"
    )
    with pytest.raises(GenforgeError, match="unknown sampler 'euler'; known: ddim, ddpm"):
        make_sampler("euler", model.scheduler)
    with pytest.raises(GenforgeError, match="between 1 and 1000"):
        make_sampler("ddim", model.scheduler, 1001)


def test_the_preview_is_the_ddim_sampler(model):
    z = model.latent(2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        preview = model.generate(z)
        ddim = denoise(model, z.view(2, 1, 8, 8), make_sampler("ddim", model.scheduler, 3))
    assert torch.allclose(preview, ddim, atol=1e-6)


def test_repaint_keeps_the_known_pixels(model):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 1, 8, 8, generator=g) * 2 - 1
    keep = torch.ones(1, 1, 8, 8)
    keep[..., 2:6, 2:6] = 0  # the hole
    with torch.no_grad():
        out = repaint(model, image, keep, steps=10, jump_length=3, resample=2, generator=g)
    known = keep.bool().expand_as(out)
    assert torch.allclose(out[known], image[known], atol=1e-4)
    assert not torch.allclose(out[~known], image[~known], atol=1e-2)  # the hole was redrawn


def test_v_prediction_repaint_keeps_the_known_pixels():
    torch.manual_seed(0)
    model = build_model("ddpm", ImageSpec(1, 8), {**TINY, "prediction_type": "v_prediction"})
    image = torch.rand(1, 1, 8, 8) * 2 - 1
    keep = torch.zeros(1, 1, 8, 8)
    keep[..., :, :4] = 1
    with torch.no_grad():
        out = repaint(model.eval(), image, keep, steps=5, jump_length=2, resample=2)
    assert torch.allclose(out[..., :4], image[..., :4], atol=1e-4)


def test_read_image_and_mask_check_size_and_colour(tmp_path):
    gray = np.zeros((8, 8), np.uint8)
    gray[:4] = 255
    Image.fromarray(gray).save(tmp_path / "g.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "rgb.png")
    Image.fromarray(np.zeros((6, 8), np.uint8)).save(tmp_path / "small.png")
    x = read_image(tmp_path / "g.png", 1, 8)
    assert x.shape == (1, 1, 8, 8) and x[0, 0, 0, 0] == 1 and x[0, 0, 7, 0] == -1
    mask = read_mask(tmp_path / "g.png", 8)
    assert mask.sum() == 32 and mask[0, 0, 0, 0] == 1
    with pytest.raises(GenforgeError, match="8x6 but this model works on 8x8"):
        read_image(tmp_path / "small.png", 1, 8)
    with pytest.raises(GenforgeError, match="is color but this model makes grayscale"):
        read_image(tmp_path / "rgb.png", 1, 8)
    with pytest.raises(GenforgeError, match="mask small.png is 8x6 but the image is 8x8"):
        read_mask(tmp_path / "small.png", 8)
    with pytest.raises(GenforgeError, match="no image file"):
        read_image(tmp_path / "missing.png", 1, 8)


def test_ddim_eta_adds_seeded_noise_and_zero_is_the_default(model):
    """eta 0 is plain DDIM; eta > 0 draws per-step noise from the generator (seeded)."""

    def run(seed, eta):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(2, 1, 8, 8, generator=g)
        with torch.no_grad():
            return denoise(model, x, make_sampler("ddim", model.scheduler, 3), generator=g, eta=eta)

    assert torch.equal(run(0, None), run(0, 0.0))
    a, b = run(0, 0.5), run(0, 0.5)
    assert torch.equal(a, b) and not torch.equal(a, run(0, 0.0)) and not torch.equal(a, run(1, 0.5))
