import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.models import MODELS, ImageSpec, build_model

SPEC = ImageSpec(1, 8, 2, ("sketches", "photos"))


class NoAccelerator:
    @staticmethod
    def backward(loss):
        loss.backward()


def test_learns_a_paired_mapping_inverting_intensities():
    """B is A with its intensities inverted; L1 on held-out images must fall well below the
    L1 of the untrained generator and of the identity map."""
    torch.manual_seed(0)
    model = build_model("pix2pix", SPEC, {"width": 8, "depth": 2})
    nets = model.networks()
    opts = {k: torch.optim.Adam(n.parameters(), 2e-3, betas=(0.5, 0.999)) for k, n in nets.items()}
    g = torch.Generator().manual_seed(0)

    def pairs(n):  # smooth random images (blocks of 2x2) and their negatives
        a = torch.rand(n, 1, 4, 4, generator=g).repeat_interleave(2, -1).repeat_interleave(2, -2)
        a = a * 2 - 1
        return a, -a

    def batch():
        a, b = pairs(16)
        return torch.cat([a, b], 1), None

    test_a, test_b = pairs(32)
    with torch.no_grad():
        before = (model.translate(test_a) - test_b).abs().mean().item()
    l1 = []
    for _ in range(300):
        l1.append(model.training_step(nets, opts, batch, NoAccelerator())["l1"].item())
    with torch.no_grad():
        after = (model.translate(test_a) - test_b).abs().mean().item()
    identity = (test_a - test_b).abs().mean().item()
    assert sum(l1[-20:]) / 20 < 0.5 * sum(l1[:20]) / 20  # the training L1 goes down
    print(f"held-out L1 before {before:.3f} after {after:.3f} identity {identity:.3f}")
    assert after < 0.15 and after < 0.25 * before and after < 0.25 * identity, (before, after)
    previews = model.generate(model.latent(6))
    assert previews.shape == (6, 1, 8, 8)
    assert torch.equal(previews[2], model.preview_pairs[0, 1:])  # a0, G(a0), b0, ...


def test_registered_as_a_paired_two_domain_family():
    assert MODELS["pix2pix"].family.domains == "paired"
    assert MODELS["cyclegan"].family.domains == "unpaired"
    assert MODELS["dcgan"].family.domains is None


def test_bad_use_is_one_line():
    with pytest.raises(GenforgeError, match="two paired folders.*3 classes"):
        build_model("pix2pix", ImageSpec(1, 8, 3, ("a", "b", "c")))
    model = build_model("pix2pix", SPEC, {"width": 8})
    with pytest.raises(GenforgeError, match="one way, a2b.*swapped"):
        model.translate(torch.zeros(1, 1, 8, 8), "b2a")
    with pytest.raises(GenforgeError, match="pairs of 2 channels, got 1"):
        model.training_step(model.networks(), {}, lambda: (torch.zeros(2, 1, 8, 8), None), None)
