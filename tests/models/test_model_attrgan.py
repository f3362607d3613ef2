"""attrgan: several categorical attributes at once (codes (B, A)) in G and D."""

import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.models import ImageSpec, build_model
from genforge.models.attrgan import attribute_ce

ATTRS = (("hair", ("red", "blue", "black")), ("smile", ("yes", "no")))
SPEC = ImageSpec(3, 16, 0, (), ATTRS)
TINY = {"latent_dim": 8, "embed_dim": 4, "ngf": 4, "ndf": 4}


class NoAccelerator:
    @staticmethod
    def backward(loss):
        loss.backward()


def _model():
    torch.manual_seed(0)
    return build_model("attrgan", SPEC, TINY).eval()


def test_spec_keeps_attributes_through_its_dict_and_old_specs_stay_the_same():
    assert ImageSpec.from_dict(SPEC.to_dict()) == SPEC
    assert SPEC.attribute_values == {"hair": ["red", "blue", "black"], "smile": ["yes", "no"]}
    assert "attributes" not in ImageSpec(1, 8, 2, ("a", "b")).to_dict()


def test_generate_with_multi_labels_and_each_attribute_changes_the_image():
    model = _model()
    z = model.latent(3, torch.Generator().manual_seed(0))
    codes = torch.tensor([[0, 0], [0, 0], [0, 0]])
    with torch.no_grad():
        base = model.generate(z, codes)
        assert base.shape == (3, 3, 16, 16) and base.abs().max() <= 1
        for a in range(2):
            other = codes.clone()
            other[:, a] = 1
            assert not torch.allclose(model.generate(z, other), base), a


def test_without_codes_attributes_are_random_but_fixed_per_latent_row():
    model = _model()
    z = model.latent(400, torch.Generator().manual_seed(1))
    codes = model.random_codes(z)
    assert codes.shape == (400, 2)
    assert torch.equal(codes[:7], model.random_codes(z[:7]))  # a row's codes ignore the batch
    for a, k in enumerate((3, 2)):
        counts = torch.bincount(codes[:, a], minlength=k)
        assert len(counts) == k and counts.min() > 400 / k * 0.6  # every value, roughly uniform
    with torch.no_grad():
        assert torch.allclose(model.generate(z[:4]), model.generate(z[:4], codes[:4]))


def test_wrong_codes_and_missing_attributes_are_clear_errors():
    model = _model()
    z = model.latent(2)
    with pytest.raises(GenforgeError, match=r"conditions on 2 attributes \(hair, smile\)"):
        model.generate(z, torch.tensor([0, 1]))
    with pytest.raises(GenforgeError, match="attrgan needs per-image attributes"):
        build_model("attrgan", ImageSpec(3, 16), TINY)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"minibatch_std": True, "g_aux_weight": 0.5},
        {"classifier_weight": 1.0, "diffaug": "translation"},
    ],
)
def test_training_step_updates_both_networks_and_logs_the_auxiliary_losses(extra):
    model = build_model("attrgan", SPEC, {**TINY, **extra})
    nets = model.networks()
    opts = {k: torch.optim.Adam(n.parameters(), 1e-3) for k, n in nets.items()}
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in nets.items()}

    def next_batch():
        return torch.rand(4, 3, 16, 16) * 2 - 1, torch.tensor([[0, 1], [1, 0], [2, 1], [0, 0]])

    logs = model.training_step(nets, opts, next_batch, NoAccelerator())
    assert {"loss_d", "loss_g", "aux_real_ce", "aux_fake_ce"} <= set(logs)
    assert all(torch.isfinite(v) for v in logs.values())
    for k, net in nets.items():
        assert any(
            not torch.equal(a, b) for a, b in zip(before[k], net.parameters(), strict=True)
        ), k


def test_minibatch_std_lets_d_tell_a_collapsed_batch_from_a_varied_one():
    torch.manual_seed(0)
    model = build_model("attrgan", SPEC, {**TINY, "minibatch_std": True})
    D = model.discriminator.eval()
    codes = torch.tensor([[0, 0]] * 4)
    varied = torch.rand(4, 3, 16, 16) * 2 - 1
    same = varied[:1].expand(4, -1, -1, -1)
    with torch.no_grad():
        a, _ = D(same, codes)
        b, _ = D(torch.cat([varied[:1], varied[1:]]), codes)
    assert not torch.allclose(a[0], b[0])  # same first image, different batch spread


def test_separate_classifier_learns_on_real_images_and_pushes_the_generator():
    torch.manual_seed(0)
    model = build_model("attrgan", SPEC, {**TINY, "classifier_weight": 1.0, "classifier_width": 4})
    assert set(model.networks()) == {"generator", "discriminator", "classifier"}
    assert "classifier" not in build_model("attrgan", SPEC, TINY).networks()  # off by default
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    codes = torch.tensor([[0, 1], [1, 0], [2, 1], [0, 0]])
    seen = []
    model.classifier.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    nets = model.networks()
    opts = {k: torch.optim.Adam(n.parameters(), 1e-3) for k, n in nets.items()}
    logs = model.training_step(nets, opts, lambda: (real, codes), NoAccelerator())
    assert {"cls_real_ce", "cls_fake_ce"} <= set(logs)
    assert len(seen) == 2 and torch.equal(seen[1], real)  # G's fakes first, then real images
    assert not torch.equal(seen[0], real)

    # C's loss on generated images reaches G: with only that loss, G's weights move
    G, C = model.generator, model.classifier
    z = torch.randn(4, TINY["latent_dim"])
    loss = attribute_ce(C(G(z, codes)), codes, model.sizes)
    G.zero_grad()
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
