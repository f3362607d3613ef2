import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.models import ImageSpec, build_model

TINY = {"block_out_channels": (8, 16), "norm_num_groups": 4, "preview_steps": 2}
SPEC = ImageSpec(1, 8, 3, ("a", "b", "c"))


class NoAccelerator:
    @staticmethod
    def backward(loss):
        loss.backward()


class Recorder(torch.nn.Module):
    """Wraps the UNet and keeps the class labels it was called with."""

    def __init__(self, net):
        super().__init__()
        self.net, self.labels = net, []

    def forward(self, x, t, class_labels=None):
        self.labels.append(class_labels)
        return self.net(x, t, class_labels=class_labels)


@pytest.mark.parametrize(
    "prediction, schedule", [("epsilon", "linear"), ("v_prediction", "squaredcos_cap_v2")]
)
def test_training_steps_update_the_unet_and_lower_the_loss(prediction, schedule):
    torch.manual_seed(0)
    model = build_model(
        "ddpm", SPEC, {**TINY, "prediction_type": prediction, "beta_schedule": schedule}
    )
    assert model.scheduler.config.prediction_type == prediction
    nets = model.networks()
    opts = {"unet": torch.optim.Adam(nets["unet"].parameters(), 3e-3)}
    before = [p.detach().clone() for p in nets["unet"].parameters()]
    x = torch.rand(8, 1, 8, 8) * 2 - 1
    losses = []
    for _ in range(2):
        torch.manual_seed(1)  # same t and noise each step: the loss must go down
        losses.append(
            float(model.training_step(nets, opts, lambda: (x, None), NoAccelerator())["loss"])
        )
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[1] < losses[0]
    assert any(
        not torch.equal(a, b) for a, b in zip(before, nets["unet"].parameters(), strict=True)
    )


def test_cfg_dropout_replaces_labels_by_the_null_label():
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1] * 8)
    x = torch.rand(64, 1, 8, 8) * 2 - 1
    for p, dropped in ((0.0, 0), (0.5, None)):
        torch.manual_seed(0)
        model = build_model("cddpm", SPEC, {**TINY, "cfg_dropout": p})
        rec = Recorder(model.unet)
        opts = {"unet": torch.optim.SGD(model.unet.parameters(), 0.0)}
        model.training_step({"unet": rec}, opts, lambda: (x, labels), NoAccelerator())
        seen = rec.labels[0]
        assert model.null_label == 3  # classes 0..2, then the null label
        null = seen == 3
        kept = seen[~null]
        assert torch.equal(kept, labels[~null])  # a label is either kept or made null
        if dropped is not None:
            assert int(null.sum()) == dropped
        else:
            assert 16 < int(null.sum()) < 48  # ~ half of 64


def test_guidance_zero_is_the_unconditional_prediction_and_one_the_conditional():
    torch.manual_seed(0)
    model = build_model("cddpm", SPEC, TINY).eval()
    torch.nn.init.normal_(model.unet.class_embedding.weight)  # make the classes matter
    x, t, y = torch.randn(3, 1, 8, 8), torch.tensor(500), torch.tensor([0, 1, 2])
    with torch.no_grad():
        null = torch.full((3,), model.null_label)
        uncond = model.unet(x, t, class_labels=null).sample
        cond = model.unet(x, t, class_labels=y).sample
        assert not torch.allclose(uncond, cond, atol=1e-3)
        assert torch.allclose(model.predict(x, t, y, guidance=0.0), uncond, atol=1e-5)
        assert torch.allclose(model.predict(x, t, y, guidance=1.0), cond, atol=1e-5)
        w3 = model.predict(x, t, y, guidance=3.0)
        assert torch.allclose(w3, uncond + 3 * (cond - uncond), atol=1e-4)
        assert torch.allclose(model.predict(x, t, None), uncond, atol=1e-5)


def test_unconditional_model_rejects_labels():
    model = build_model("ddpm", SPEC, TINY)
    with pytest.raises(GenforgeError, match="class-conditional"):
        model.predict(torch.randn(1, 1, 8, 8), torch.tensor(1), torch.tensor([0]))


def test_export_loads_with_plain_diffusers(tmp_path):
    from diffusers import DDPMPipeline

    torch.manual_seed(0)
    model = build_model("ddpm", ImageSpec(3, 8), {**TINY, "beta_schedule": "squaredcos_cap_v2"})
    model.eval().export(tmp_path, model.unet)
    pipe = DDPMPipeline.from_pretrained(tmp_path / "diffusers")
    assert pipe.scheduler.config.beta_schedule == "squaredcos_cap_v2"
    x, t = torch.randn(2, 3, 8, 8), torch.tensor(10)
    with torch.no_grad():
        assert torch.allclose(pipe.unet(x, t).sample, model.unet(x, t).sample, atol=1e-6)
    images = pipe(batch_size=1, num_inference_steps=2, output_type="np").images
    assert images.shape == (1, 8, 8, 3)


def test_config_errors_are_one_clear_line():
    with pytest.raises(GenforgeError, match="norm_num_groups=4 must divide.*6"):
        build_model("ddpm", SPEC, {**TINY, "block_out_channels": (8, 6)})
    with pytest.raises(GenforgeError, match="too small"):
        build_model("ddpm", SPEC, {**TINY, "block_out_channels": (8, 8, 8, 8, 8)})
    with pytest.raises(GenforgeError, match="'prediction_type' must be one of"):
        build_model("ddpm", SPEC, {**TINY, "prediction_type": "sample"})
    with pytest.raises(GenforgeError, match="needs labeled data"):
        build_model("cddpm", ImageSpec(1, 8), TINY)
