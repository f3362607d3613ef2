import pytest

from genforge.core.errors import GenforgeError
from genforge.models import MODELS, ImageSpec, build_model, model_config

SPEC = ImageSpec(1, 16, 10, tuple("0123456789"))


def test_unknown_model_lists_known_ones():
    with pytest.raises(GenforgeError, match=r"unknown model 'stylegan'; known: .*cgan, .*dcgan"):
        build_model("stylegan", SPEC)


def test_presets_then_overrides():
    assert model_config("cgan").conditional is True
    assert model_config("wgan-gp").loss == "wgan-gp"
    assert model_config("wgan-gp", {"n_critic": 3}).n_critic == 3
    with pytest.raises(GenforgeError, match="valid keys"):
        model_config("dcgan", {"beta": 2})


# (the detector classifies images: tests/models/test_model_detector.py)
GENERATORS = [n for n, e in MODELS.items() if e.modality == "image" and e.family.task != "detect"]


@pytest.mark.parametrize("name", GENERATORS)
def test_every_model_builds_and_generates_in_range(name):
    spec = (
        ImageSpec(1, 16, 2, ("a", "b")) if name in ("cyclegan", "pix2pix") else SPEC
    )  # two domains
    import torch

    y = torch.tensor([1, 2, 3])
    if name == "attrgan":  # several attributes per image: codes (n, A)
        spec = ImageSpec(1, 16, attributes=(("hair", ("red", "blue")), ("hat", ("no", "yes"))))
        y = torch.tensor([[0, 1], [1, 0], [1, 1]])
    model = build_model(name, spec).eval()
    z = model.latent(3)
    out = model.generate(z, y)
    assert out.shape == (3, 1, 16, 16)
    assert out.min() >= -1 and out.max() <= 1


def test_conditional_model_needs_labeled_data():
    with pytest.raises(GenforgeError, match="needs labeled data"):
        build_model("cgan", ImageSpec(3, 32))


def test_unsupported_size():
    with pytest.raises(GenforgeError, match=r"image size 256 is not supported.*128"):
        build_model("dcgan", ImageSpec(3, 256))


def test_wgan_gp_rejects_batchnorm_critic():
    with pytest.raises(GenforgeError, match="BatchNorm"):
        build_model("wgan-gp", SPEC, {"d_norm": "batch"})
