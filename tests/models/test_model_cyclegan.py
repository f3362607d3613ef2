import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.models import ImageSpec, build_model

SPEC = ImageSpec(1, 8, 2, ("dark", "light"))


class NoAccelerator:
    @staticmethod
    def backward(loss):
        loss.backward()


def test_learns_to_map_dark_images_to_light_ones_and_back():
    torch.manual_seed(0)
    model = build_model("cyclegan", SPEC, {"width": 8, "n_res": 1})
    nets = model.networks()
    opts = {k: torch.optim.Adam(n.parameters(), 2e-3, betas=(0.5, 0.999)) for k, n in nets.items()}
    g = torch.Generator().manual_seed(0)

    def batch():  # domain A: pixels in [-1, -0.4]; domain B: [0.4, 1]
        y = torch.arange(16) % 2
        x = torch.rand(16, 1, 8, 8, generator=g) * 0.6
        return torch.where(y[:, None, None, None] == 0, x - 1, x + 0.4), y

    for _ in range(60):
        logs = model.training_step(nets, opts, batch, NoAccelerator())
    assert all(torch.isfinite(v) for v in logs.values())
    dark = torch.rand(4, 1, 8, 8, generator=g) * 0.6 - 1
    with torch.no_grad():
        light = model.translate(dark, "a2b")
        back = model.translate(light, "b2a")
    assert light.mean() > 0.3  # now in the light domain
    assert (back - dark).abs().mean() < 0.3  # the cycle closes
    assert model.generate(model.latent(4)).shape == (4, 1, 8, 8)  # preview pairs


def test_needs_exactly_two_domains():
    with pytest.raises(GenforgeError, match="exactly two subfolders.*3 classes"):
        build_model("cyclegan", ImageSpec(1, 8, 3, ("a", "b", "c")))
    with pytest.raises(GenforgeError, match="direction must be a2b or b2a"):
        build_model("cyclegan", SPEC, {"width": 8}).translate(torch.zeros(1, 1, 8, 8), "a2c")
