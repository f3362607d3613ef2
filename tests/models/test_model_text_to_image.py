import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.data.captions import class_captions
from genforge.models import ImageSpec, build_model
from genforge.models.text_to_image import WordTokenizer

TINY = {"block_out_channels": (8, 16), "norm_num_groups": 4, "preview_steps": 2, "text_dim": 16}
DIGITS = ImageSpec(1, 8, 10, tuple(class_captions(list("0123456789"), None)))  # captions


class NoAccelerator:
    @staticmethod
    def backward(loss):
        loss.backward()


def test_tokenizer_refuses_unknown_words_and_long_prompts():
    tok = WordTokenizer(["a handwritten seven", "a handwritten one"])
    ids = tok("A  Handwritten SEVEN")
    assert ids.shape == (4,) and ids[0] == 1 and (ids[1:] > 1).all()
    assert torch.equal(tok("a handwritten seven"), ids)
    assert tok("").tolist() == [1, 0, 0, 0]
    with pytest.raises(GenforgeError, match=r"unknown word 'cat'.*learned only: a, handwritten"):
        tok("a handwritten cat")
    with pytest.raises(GenforgeError, match="at most 3"):
        tok("a handwritten seven one")


def test_training_updates_text_encoder_and_unet():
    torch.manual_seed(0)
    model = build_model("t2i", DIGITS, TINY)
    nets = model.networks()
    opts = {"unet": torch.optim.Adam(nets["unet"].parameters(), 1e-3)}
    text_before = [p.detach().clone() for p in model.unet.text.parameters()]
    unet_before = [p.detach().clone() for p in model.unet.unet.parameters()]
    x, y = torch.rand(4, 1, 8, 8) * 2 - 1, torch.tensor([7, 1, 0, 3])
    logs = model.training_step(nets, opts, lambda: (x, y), NoAccelerator())
    assert torch.isfinite(logs["loss"])
    for before, net in ((text_before, model.unet.text), (unet_before, model.unet.unet)):
        assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_prompt_and_label_give_the_same_condition_and_guidance_zero_ignores_it():
    torch.manual_seed(0)
    model = build_model("t2i", DIGITS, TINY).eval()
    ids = model.tokenize("a handwritten seven")
    assert torch.equal(model.condition(torch.tensor([7])), ids)
    x, t = torch.randn(1, 1, 8, 8), torch.tensor(300)
    with torch.no_grad():
        empty = model.unet(x, t, model.null_condition(1, x.device))
        assert torch.allclose(model.predict(x, t, ids, guidance=0.0), empty, atol=1e-5)
        assert torch.allclose(model.predict(x, t, ids, guidance=1.0), model.unet(x, t, ids))
        assert torch.allclose(
            model.predict(x, t, torch.tensor([7]), guidance=2.0),
            model.predict(x, t, ids, guidance=2.0),
        )


def test_export_is_a_diffusers_unet_plus_text_encoder(tmp_path):
    from diffusers import UNet2DConditionModel
    from safetensors.torch import load_file

    model = build_model("t2i", DIGITS, TINY).eval()
    model.export(tmp_path, model.unet)
    unet = UNet2DConditionModel.from_pretrained(tmp_path / "diffusers" / "unet")
    assert unet.config.cross_attention_dim == 16
    text = load_file(tmp_path / "diffusers" / "text_encoder" / "model.safetensors")
    assert set(text) == set(model.unet.text.state_dict())


def test_t2i_needs_captions():
    with pytest.raises(GenforgeError, match="needs captioned data"):
        build_model("t2i", ImageSpec(1, 8), TINY)
    with pytest.raises(GenforgeError, match="captions"):
        build_model("t2i", DIGITS, {**TINY, "conditional": False})
