"""LoRA on a Stable Diffusion folder, piece by piece: which folders qualify, what trains, what
the loss targets."""

import json
from pathlib import Path

import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.models import sd_lora
from genforge.models.sd_lora import SDLoraConfig
from hf_tiny import save_tiny_ddpm_pipeline, save_tiny_sd_pipeline


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory) -> Path:
    return save_tiny_sd_pipeline(tmp_path_factory.mktemp("sd"))


def test_only_stable_diffusion_folders_qualify(tmp_path: Path, sd_folder: Path):
    assert sd_lora.check_base_folder(sd_folder)["_class_name"] == "StableDiffusionPipeline"
    with pytest.raises(GenforgeError, match="no base pipeline folder"):
        sd_lora.check_base_folder(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(GenforgeError, match="not a diffusers pipeline folder"):
        sd_lora.check_base_folder(tmp_path / "plain")
    ddpm = save_tiny_ddpm_pipeline(tmp_path / "ddpm")
    with pytest.raises(
        GenforgeError, match="holds a DDPMPipeline .*unet UNet2DModel.*needs a Stable"
    ):
        sd_lora.check_base_folder(ddpm)


def test_another_pipeline_class_name_is_refused(tmp_path: Path, sd_folder: Path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(sd_folder, other)
    index = json.loads((other / "model_index.json").read_text())
    (other / "model_index.json").write_text(
        json.dumps({**index, "_class_name": "KandinskyPipeline"})
    )
    with pytest.raises(GenforgeError, match="holds a KandinskyPipeline"):
        sd_lora.check_base_folder(other)


def test_only_the_adapters_train(sd_folder: Path):
    pipe = sd_lora.load_base(sd_folder)
    params = sd_lora.add_adapters(pipe, SDLoraConfig(rank=2, train_text_encoder=True))
    trainable = {n for m in (pipe.unet, pipe.text_encoder, pipe.vae)
                 for n, p in m.named_parameters() if p.requires_grad}  # fmt: skip
    assert trainable and all("lora_" in n for n in trainable)
    assert len(params) == len(trainable)
    assert any("to_q" in n for n in trainable) and any("q_proj" in n for n in trainable)
    saved = sd_lora.lora_state_dicts(pipe, SDLoraConfig(rank=2, train_text_encoder=True))
    assert saved["unet_lora_adapter_metadata"]["r"] == 2
    assert saved["unet_lora_layers"] and saved["text_encoder_lora_layers"]


def test_bad_targets_are_one_line_errors(sd_folder: Path):
    pipe = sd_lora.load_base(sd_folder)
    with pytest.raises(GenforgeError, match="LoRA cannot wrap this pipeline"):
        sd_lora.add_adapters(pipe, SDLoraConfig(targets=("no_such_layer",)))


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction"])
def test_the_loss_targets_what_the_scheduler_predicts(sd_folder: Path, kind: str, monkeypatch):
    """With a UNet that returns exactly the scheduler's target, the loss is zero."""
    from diffusers import DDPMScheduler

    pipe = sd_lora.load_base(sd_folder)
    sched = DDPMScheduler.from_config({**pipe.scheduler.config, "prediction_type": kind})
    latents, ids = torch.randn(2, 4, 8, 8), sd_lora.tokenize(pipe, ["a cat", "a dog"])

    def oracle(noisy, t, cond):
        g = torch.Generator().manual_seed(0)  # replays diffusion_loss's draws
        noise = torch.randn(latents.shape, generator=g)
        torch.randint(0, 1000, (2,), generator=g)
        target = noise if kind == "epsilon" else sched.get_velocity(latents, noise, t)
        return type("Out", (), {"sample": target})()

    monkeypatch.setattr(pipe, "unet", type("U", (), {"__call__": lambda s, *a: oracle(*a),
                                                      "device": torch.device("cpu")})())  # fmt: skip
    loss = sd_lora.diffusion_loss(pipe, sched, latents, ids, torch.Generator().manual_seed(0))
    assert loss.shape == (2,) and torch.allclose(loss, torch.zeros(2), atol=1e-10)


def test_prior_preservation_needs_both_options():
    with pytest.raises(GenforgeError, match="--prior-images needs --class-prompt"):
        SDLoraConfig(prior_images=2).check()
    with pytest.raises(GenforgeError, match="--class-prompt needs --prior-images"):
        SDLoraConfig(class_prompt="a dog").check()
