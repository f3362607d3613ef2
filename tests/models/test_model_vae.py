import torch

from genforge.data import load_images
from genforge.models import ImageSpec, build_model


class NoAccelerator:
    @staticmethod
    def backward(loss):
        loss.backward()


def test_encode_decode_shapes_and_interpolation_endpoints():
    torch.manual_seed(0)
    model = build_model("vae", ImageSpec(3, 16), {"latent_dim": 5, "width": 8}).eval()
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (4, 5)
    assert model.decode(mu).shape == (4, 3, 16, 16)
    path = model.interpolate(x[:1], x[1:2], steps=5)
    assert path.shape == (5, 3, 16, 16)
    assert torch.allclose(path[0], model.reconstruct(x[:1])[0], atol=1e-5)
    assert torch.allclose(path[-1], model.reconstruct(x[1:2])[0], atol=1e-5)


def test_training_lowers_the_loss_on_fixed_images():
    torch.manual_seed(0)
    for recon in ("mse", "bce"):
        model = build_model(
            "vae", ImageSpec(1, 8), {"latent_dim": 4, "width": 8, "reconstruction": recon}
        )
        nets = model.networks()
        opts = {"vae": torch.optim.Adam(nets["vae"].parameters(), 3e-3)}
        x = load_images("digits", 8).images[:32]
        losses = [
            float(model.training_step(nets, opts, lambda x=x: (x, None), NoAccelerator())["loss"])
            for _ in range(80)
        ]
        assert losses[-1] < 0.7 * losses[0], recon


def test_conditional_vae_decodes_per_label():
    torch.manual_seed(0)
    model = build_model(
        "cvae", ImageSpec(1, 8, 2, ("a", "b")), {"latent_dim": 4, "width": 8}
    ).eval()
    z = torch.zeros(2, 4)
    out = model.decode(z, torch.tensor([0, 1]))
    assert out.shape == (2, 1, 8, 8) and not torch.allclose(out[0], out[1])
