import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.models import ImageSpec, build_model
from genforge.models.diffaug import cutout, diff_augment, parse_policy, translation


class NoAccelerator:
    @staticmethod
    def backward(loss):
        loss.backward()


def test_translation_shifts_every_channel_by_the_same_offset_within_the_ratio():
    torch.manual_seed(0)
    x = torch.zeros(32, 3, 16, 16)
    x[:, :, 8, 8] = torch.tensor([1.0, 2.0, 3.0])  # one marked pixel per image
    y = translation(x, ratio=0.125)  # up to 2 px
    offsets = set()
    for img in y:
        where = img.nonzero()
        assert len(where) == 3  # the pixel moved, nothing else appeared or vanished
        places = {(int(r[1]), int(r[2])) for r in where}
        assert len(places) == 1  # all channels moved together
        (py, px) = places.pop()
        assert torch.equal(img[:, py, px], torch.tensor([1.0, 2.0, 3.0]))
        offsets.add((py - 8, px - 8))
    assert all(abs(dy) <= 2 and abs(dx) <= 2 for dy, dx in offsets)
    assert len(offsets) > 5  # images are shifted independently


def test_translation_fills_uncovered_pixels_with_zero_and_keeps_the_rest():
    torch.manual_seed(1)
    x = torch.arange(64.0).view(1, 1, 8, 8).repeat(16, 1, 1, 1) + 1  # no zeros in the input
    y = translation(x, ratio=0.25)
    for img in y[:, 0]:
        kept = img[img != 0]
        assert set(kept.tolist()) <= set(x[0, 0].flatten().tolist())
        rows = (img != 0).any(dim=1).nonzero().flatten()
        # the kept block is contiguous and consecutive values stay 1 apart along a row
        row = img[rows[0]]
        vals = row[row != 0]
        assert torch.all(vals[1:] - vals[:-1] == 1)


def test_cutout_zeroes_one_square_and_leaves_the_rest():
    torch.manual_seed(0)
    x = torch.ones(64, 2, 16, 16)
    y = cutout(x, ratio=0.5)  # 8x8 squares, clipped at the border
    zero = y == 0
    assert torch.equal(zero[:, 0], zero[:, 1])  # same square in every channel
    counts = zero[:, 0].flatten(1).sum(1)
    assert counts.max() == 64 and counts.min() > 0  # a whole square inside, clipped ones smaller
    for m in zero[:, 0]:
        rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
        assert m[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()  # a rectangle
    assert torch.all(y[~zero] == 1)


def test_gradients_reach_the_input_through_every_policy():
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    diff_augment(x, parse_policy("color, translation,cutout")).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_policy_names_are_checked():
    assert parse_policy("") == []
    assert parse_policy(" translation , cutout ") == ["translation", "cutout"]
    with pytest.raises(GenforgeError, match="unknown DiffAugment policy flip"):
        parse_policy("translation,flip")
    spec = ImageSpec(1, 8, 3, ("a", "b", "c"))
    for name, extra in (("gan", {}), ("dcgan", {"ngf": 8, "ndf": 8})):
        with pytest.raises(GenforgeError, match="DiffAugment"):
            build_model(name, spec, {"latent_dim": 8, "diffaug": "rotate"} | extra)


@pytest.mark.parametrize("name", ["dcgan", "attrgan"])
def test_with_a_policy_d_sees_augmented_real_and_fake_images(name):
    torch.manual_seed(0)
    if name == "attrgan":
        spec = ImageSpec(3, 16, attributes=(("hair", ("a", "b")), ("eyes", ("x", "y", "z"))))
        batch = (torch.rand(8, 3, 16, 16) + 0.5, torch.tensor([[0, 1], [1, 2]] * 4))
    else:
        spec = ImageSpec(3, 16, 3, ("a", "b", "c"))
        batch = (torch.rand(8, 3, 16, 16) + 0.5, torch.tensor([0, 1, 2, 0] * 2))
    model = build_model(name, spec, {"latent_dim": 8, "ngf": 8, "ndf": 8, "diffaug": "cutout"})
    seen = []
    model.discriminator.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    nets = model.networks()
    opts = {k: torch.optim.Adam(n.parameters(), 1e-3) for k, n in nets.items()}
    model.training_step(nets, opts, lambda: batch, NoAccelerator())
    assert len(seen) == 3  # D on real, on fake, and in G's update
    real_seen = seen[0]
    assert not torch.equal(real_seen, batch[0])
    assert ((real_seen == 0).flatten(1).any(1)).all()  # a cut square in every real image
    for fake_seen in seen[1:]:  # tanh never gives exactly 0 over a whole square otherwise
        assert ((fake_seen == 0).flatten(1).sum(1) >= 3 * 4).all()
