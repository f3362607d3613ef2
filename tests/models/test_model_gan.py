import pytest
import torch

from genforge.models import ImageSpec, build_model
from genforge.models.gan import discriminator_loss, generator_loss, gradient_penalty


class NoAccelerator:
    @staticmethod
    def backward(loss):
        loss.backward()


def test_gradient_penalty_of_a_linear_critic():
    w = torch.randn(1, 2, 4, 4)
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731  grad wrt x is w everywhere
    real, fake = torch.randn(5, 2, 4, 4), torch.randn(5, 2, 4, 4)
    expected = (w.norm() - 1) ** 2
    assert torch.allclose(gradient_penalty(critic, real, fake), expected, rtol=1e-5)


def test_losses_prefer_correct_discriminator():
    good_real, good_fake = torch.full((4,), 3.0), torch.full((4,), -3.0)
    for loss in ("bce", "hinge", "wgan-gp"):
        assert discriminator_loss(loss, good_real, good_fake) < discriminator_loss(
            loss, good_fake, good_real
        )
        assert generator_loss(loss, good_real) < generator_loss(loss, good_fake)
    assert discriminator_loss("hinge", good_real, good_fake) == 0


@pytest.mark.parametrize("name", ["gan", "dcgan", "cgan", "wgan-gp", "hinge-sn"])
def test_training_step_updates_both_networks(name):
    torch.manual_seed(0)
    spec = ImageSpec(1, 8, 3, ("a", "b", "c"))
    model = build_model(
        name, spec, {"latent_dim": 8} | ({"ngf": 8, "ndf": 8} if name != "gan" else {})
    )
    nets = model.networks()
    opts = {k: torch.optim.Adam(n.parameters(), 1e-3) for k, n in nets.items()}
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in nets.items()}
    calls = []

    def next_batch():
        calls.append(1)
        return torch.rand(4, 1, 8, 8) * 2 - 1, torch.tensor([0, 1, 2, 0])

    logs = model.training_step(nets, opts, next_batch, NoAccelerator())
    assert all(torch.isfinite(v) for v in logs.values())
    assert len(calls) == model.config.n_critic  # one real batch per critic update
    for k, net in nets.items():
        assert any(
            not torch.equal(a, b) for a, b in zip(before[k], net.parameters(), strict=True)
        ), k
    if name == "wgan-gp":
        assert "gp" in logs


def test_conditional_generator_uses_the_label():
    torch.manual_seed(0)
    model = build_model(
        "cgan", ImageSpec(1, 8, 3, ("a", "b", "c")), {"ngf": 8, "latent_dim": 8}
    ).eval()
    for m in model.generator.modules():  # make the class embeddings differ visibly
        if isinstance(m, torch.nn.Embedding):
            torch.nn.init.normal_(m.weight)
    z = torch.randn(1, 8).repeat(2, 1)
    out = model.generate(z, torch.tensor([0, 1]))
    assert not torch.allclose(out[0], out[1])
