"""`train_lora` end to end on a tiny Stable Diffusion folder: the base stays byte-identical,
only adapters train, latents are encoded once, prior preservation draws and keeps its images,
and the run folder holds the usual files plus diffusers' LoRA file."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from genforge.core.errors import GenforgeError
from genforge.models.pipeline_folder import weights_hash
from genforge.train.lora import train_lora
from hf_tiny import save_tiny_sd_pipeline

TINY = {"steps": 4, "sample_steps": 2, "lr": 1e-2, "log_every": 2}


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory) -> Path:
    return save_tiny_sd_pipeline(tmp_path_factory.mktemp("sd"))


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dog")
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture
def vae_encodes(monkeypatch) -> list[int]:
    """The batch sizes the VAE encoder is called with."""
    from diffusers import AutoencoderKL

    calls: list[int] = []
    encode = AutoencoderKL.encode

    def counted(self, x, *args, **kwargs):
        calls.append(len(x))
        return encode(self, x, *args, **kwargs)

    monkeypatch.setattr(AutoencoderKL, "encode", counted)
    return calls


def test_only_adapters_train_and_the_base_is_untouched(tmp_path, sd_folder, images, vae_encodes):
    before = file_hashes(sd_folder)
    run = train_lora(sd_folder, images, runs_dir=tmp_path, instance_prompt="a photo of sks dog",
                     batch_size=2, **{**TINY, "steps": 6})  # fmt: skip
    assert file_hashes(sd_folder) == before
    assert sum(vae_encodes) == 3  # 3 images encoded once, though 6 steps drew 12
    from safetensors.torch import load_file

    saved = load_file(run.path / "pytorch_lora_weights.safetensors")
    assert saved and all("lora" in k and k.startswith("unet.") for k in saved)
    cfg = yaml.safe_load(run.config_path.read_text())
    assert cfg["model"] == "lora" and cfg["base"]["weights_sha256"] == weights_hash(sd_folder)
    assert cfg["model_config"]["alpha"] == 4 and cfg["train"]["optimizer"] == "adamw"
    assert cfg["train"]["image_size"] == 8  # the UNet's 8 latents x VAE factor 1
    meta = json.loads((run.model_dir / "meta.json").read_text())
    assert meta["step"] == 6 and meta["lora_parameters"] == sum(v.numel() for v in saved.values())
    assert [r["step"] for r in run.metrics()] == [2, 4, 6]
    for when in ("before", "after"):
        with Image.open(run.samples_dir / f"{when}.png") as im:
            assert im.size == (2 * 8 + 3 * 2, 8 + 2 * 2)  # 1 prompt x 2 seeds of 8 px
    card = run.card_path.read_text()
    assert f"{meta['lora_parameters']:,} parameters" in card and "bytes" in card
    assert "load_lora_weights" in card


def test_prior_preservation_draws_class_images_once(tmp_path, sd_folder, images, vae_encodes):
    run = train_lora(sd_folder, images, runs_dir=tmp_path, instance_prompt="a photo of sks dog",
                     class_prompt="a photo of a dog", prior_images=2, **TINY)  # fmt: skip
    kept = sorted((run.path / "class_images").glob("*.png"))
    assert len(kept) == 2
    assert sum(vae_encodes) == 3 + 2
    assert all("loss_prior" in r for r in run.metrics())
    assert json.loads(run.data_report_path.read_text())["class_images"] == 2


def test_a_failed_run_leaves_no_folder(tmp_path, sd_folder, images):
    with pytest.raises(GenforgeError, match="LoRA cannot wrap"):
        train_lora(sd_folder, images, runs_dir=tmp_path, caption="x", name="bad",
                   targets=("nothing",), **TINY)  # fmt: skip
    assert not (tmp_path / "bad").exists()
    with pytest.raises(GenforgeError, match="unknown config key 'ranks'"):
        train_lora(sd_folder, images, runs_dir=tmp_path, caption="x", ranks=3)


def test_bf16_autocast_and_gradient_checkpointing_train(tmp_path, sd_folder, images):
    run = train_lora(sd_folder, images, runs_dir=tmp_path, caption="a cat", precision="bf16",
                     gradient_checkpointing=True, train_text_encoder=True, **TINY)  # fmt: skip
    assert all(np.isfinite(r["loss"]) for r in run.metrics())
    assert (run.path / "pytorch_lora_weights.safetensors").is_file()


def test_fp16_and_8bit_adam_need_cuda(tmp_path, sd_folder, images):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(GenforgeError, match="fp16 needs a CUDA GPU"):
        train_lora(sd_folder, images, runs_dir=tmp_path, caption="x", precision="fp16")
    with pytest.raises(GenforgeError, match="adamw8bit needs bitsandbytes and a CUDA GPU"):
        train_lora(sd_folder, images, runs_dir=tmp_path, caption="x", optimizer="adamw8bit",
                   name="eightbit", **TINY)  # fmt: skip
    assert not (tmp_path / "eightbit").exists()


def test_an_interrupted_run_resumes_to_the_same_adapters(tmp_path, sd_folder, images, monkeypatch):
    """Ctrl-C at step 3 keeps the step-2 checkpoint; resuming trains steps 3-6 from it and ends
    with exactly the adapters of an uninterrupted run (optimizer moments and RNG restored);
    a finished run trains on to a larger --steps."""
    from safetensors.torch import load_file

    from genforge.core.run import Run
    from genforge.models import sd_lora
    from genforge.train.lora import resume_lora

    opts = {**TINY, "steps": 6, "checkpoint_every": 2, "instance_prompt": "a photo of sks dog"}
    straight = train_lora(sd_folder, images, runs_dir=tmp_path, name="straight", **opts)

    loss, calls = sd_lora.diffusion_loss, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return loss(*args, **kwargs)

    monkeypatch.setattr(sd_lora, "diffusion_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_lora(sd_folder, images, runs_dir=tmp_path, name="cut", **opts)
    monkeypatch.setattr(sd_lora, "diffusion_loss", loss)
    cut = Run(tmp_path / "cut")
    assert cut.step == 2 and not (cut.path / "pytorch_lora_weights.safetensors").exists()
    resume_lora(cut)
    a = load_file(straight.path / "pytorch_lora_weights.safetensors")
    b = load_file(cut.path / "pytorch_lora_weights.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["step"] for r in cut.metrics()] == [2, 4, 6]

    with pytest.raises(GenforgeError, match="already at step 6 of 6"):
        resume_lora(cut)
    resume_lora(cut, steps=8)
    assert cut.step == 8 and yaml.safe_load(cut.config_path.read_text())["train"]["steps"] == 8
    c = load_file(cut.path / "pytorch_lora_weights.safetensors")
    assert any(not torch.equal(b[k], c[k]) for k in b)
