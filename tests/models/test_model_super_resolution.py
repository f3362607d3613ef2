import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.models import ImageSpec, build_model
from genforge.models.super_resolution import downsample, upsample

TINY = {"block_out_channels": (8, 16), "norm_num_groups": 4, "preview_steps": 2, "scale": 2}


class NoAccelerator:
    @staticmethod
    def backward(loss):
        loss.backward()


def test_pairs_come_from_the_data_and_the_unet_sees_the_low_res_image():
    torch.manual_seed(0)
    model = build_model("sr", ImageSpec(1, 8), TINY)
    assert model.unet.config.in_channels == 2 and model.input_size == 4
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    cond = model.training_condition(x, None)
    lr = downsample(x, 2)
    assert lr.shape == (4, 1, 4, 4) and torch.allclose(lr[0, 0, 0, 0], x[0, 0, :2, :2].mean())
    assert torch.equal(cond, upsample(lr, 2))
    assert torch.equal(model.preview_lr, lr)  # previews upscale the first batch's inputs
    nets = model.networks()
    opts = {"unet": torch.optim.Adam(nets["unet"].parameters(), 1e-3)}
    assert torch.isfinite(
        model.training_step(nets, opts, lambda: (x, None), NoAccelerator())["loss"]
    )
    xt, t = torch.randn(4, 1, 8, 8), torch.tensor(10)
    with torch.no_grad():
        a = model.predict(xt, t, cond)
        b = model.predict(xt, t, upsample(downsample(-x, 2), 2))
    assert not torch.allclose(a, b)  # the low-res image changes the prediction
    with pytest.raises(GenforgeError, match="needs the low-resolution image"):
        model.predict(xt, t, None)
    assert model.eval().generate(model.latent(3)).shape == (3, 1, 8, 8)


def test_scale_must_fit_the_image_size():
    with pytest.raises(GenforgeError, match="--scale 3 does not fit 8 px"):
        build_model("sr", ImageSpec(1, 8), {**TINY, "scale": 3})
    with pytest.raises(GenforgeError, match="--scale 8 does not fit 8 px"):
        build_model("sr", ImageSpec(1, 8), {**TINY, "scale": 8})
    with pytest.raises(GenforgeError, match="not on class labels"):
        build_model("sr", ImageSpec(1, 8, 2, ("a", "b")), {**TINY, "conditional": True})
