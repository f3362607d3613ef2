import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.data.captions import class_captions
from genforge.models import ImageSpec, build_model
from genforge.models.text_to_image import WordTokenizer
from hf_tiny import save_tiny_bert, save_tiny_clip

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


# -- a pretrained text encoder from a local folder ------------------------------------------


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("clip"))  # width 32 != text_dim 16


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(before, module):
    return [not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True)]


def test_frozen_clip_encoder_trains_only_projection_and_unet(clip_dir):
    torch.manual_seed(0)
    model = build_model("t2i", DIGITS, {**TINY, "text_encoder": str(clip_dir)})
    text = model.unet.text
    assert type(text.encoder).__name__ == "CLIPTextModel"
    assert (text.proj.in_features, text.proj.out_features) == (32, 16)
    ids = model.tokenize("a handwritten seven")
    assert ids.shape == (1, 16) and ids[0, :5].tolist() == [2, 4, 5, 13, 3]  # bos a hw seven eos
    model.tokenize("a cat wearing a hat")  # any word the pretrained tokenizer knows
    with pytest.raises(GenforgeError, match="reads at most 16"):
        model.tokenize(" ".join(["a"] * 20))
    nets = model.networks()
    opts = {"unet": torch.optim.Adam(nets["unet"].parameters(), 1e-3)}
    enc, proj, unet = _params(text.encoder), _params(text.proj), _params(model.unet.unet)
    x, y = torch.rand(4, 1, 8, 8) * 2 - 1, torch.tensor([7, 1, 0, 3])
    model.train()
    assert not text.encoder.training  # frozen: no dropout either
    logs = model.training_step(nets, opts, lambda: (x, y), NoAccelerator())
    assert torch.isfinite(logs["loss"])
    assert not any(_changed(enc, text.encoder))
    assert all(_changed(proj, text.proj)) and any(_changed(unet, model.unet.unet))


def test_bert_encoder_through_automodel_can_be_fine_tuned(tmp_path):
    bert = save_tiny_bert(tmp_path / "bert", hidden=16)  # width 16 == text_dim: no projection
    torch.manual_seed(0)
    cfg = {**TINY, "text_encoder": str(bert), "train_text_encoder": True}
    model = build_model("t2i", DIGITS, cfg)
    text = model.unet.text
    assert type(text.encoder).__name__ == "BertModel" and isinstance(text.proj, torch.nn.Identity)
    nets = model.networks()
    opts = {"unet": torch.optim.Adam(nets["unet"].parameters(), 1e-3)}
    enc = _params(text.encoder)
    x, y = torch.rand(4, 1, 8, 8) * 2 - 1, torch.tensor([7, 1, 0, 3])
    model.training_step(nets, opts, lambda: (x, y), NoAccelerator())
    assert any(_changed(enc, text.encoder))
    # distinct prompts give distinct text states; a repeated prompt is encoded as if alone
    one, hat = model.tokenize("a handwritten one"), model.tokenize("a hat")
    with torch.no_grad():
        h = text(torch.cat([one, hat, one]))
        assert h.shape == (3, 16, 16) and not torch.allclose(h[0], h[1])
        assert torch.allclose(h[2], text(one)[0], atol=1e-6)
        assert torch.allclose(h[1], text(hat)[0], atol=1e-6)


def test_export_copies_the_pretrained_encoder_and_rebuilds_from_it(clip_dir, tmp_path):
    from genforge.models.text_to_image import TextToImage

    torch.manual_seed(0)
    model = build_model("t2i", DIGITS, {**TINY, "text_encoder": str(clip_dir)}).eval()
    model.export(tmp_path, model.unet)
    copy = tmp_path / "diffusers" / "text_encoder"
    assert (copy / "model.safetensors").is_file() and (copy / "tokenizer.json").is_file()
    assert (tmp_path / "diffusers" / "text_projection.safetensors").is_file()
    again = TextToImage.rebuild(model.config, DIGITS, tmp_path)
    assert again.config.text_encoder == str(copy)
    again.load_state_dict(model.state_dict())
    assert torch.equal(again.tokenize("a handwritten two"), model.tokenize("a handwritten two"))
    x, t, ids = torch.randn(2, 1, 8, 8), torch.tensor(500), model.condition(torch.tensor([2, 9]))
    with torch.no_grad():
        assert torch.equal(again.predict(x, t, ids), model.predict(x, t, ids))
    (copy / "config.json").unlink()
    with pytest.raises(
        GenforgeError, match=r"copy of its text encoder is incomplete.*config\.json"
    ):
        TextToImage.rebuild(model.config, DIGITS, tmp_path)


def test_incomplete_or_pickle_only_encoder_folders_are_refused(clip_dir, tmp_path):
    def fails(path, **extra):
        with pytest.raises(GenforgeError) as e:
            build_model("t2i", DIGITS, {**TINY, "text_encoder": str(path), **extra})
        assert "\n" not in str(e.value)
        return str(e.value)

    assert "no such folder" in fails(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    msg = fails(tmp_path / "empty")
    assert "is missing: config.json; tokenizer files (one of tokenizer.json" in msg
    assert msg.endswith("; model.safetensors")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    for f in clip_dir.iterdir():
        if f.suffix != ".safetensors":
            (pickled / f.name).write_bytes(f.read_bytes())
    torch.save({"w": torch.zeros(1)}, pickled / "pytorch_model.bin")  # never loaded
    msg = fails(pickled)
    assert "has only pickle weights (pytorch_model.bin)" in msg and "safetensors only" in msg
    (pickled / "tokenizer.json").unlink()
    msg = fails(pickled)
    assert "tokenizer files" in msg and "model.safetensors (pickle pytorch_model.bin" in msg
    assert "fine-tunes a pretrained encoder" in fails(clip_dir, text_encoder=None,
                                                      train_text_encoder=True)  # fmt: skip
