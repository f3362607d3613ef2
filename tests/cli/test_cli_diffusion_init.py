"""`genforge train ddpm|cddpm|t2i --init FOLDER`: training starts from a local diffusers UNet
(a run's own export, a UNet folder, or a pipeline folder with unet/), whose config fixes the
architecture; a folder that does not fit is a one-line error naming the keys."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from cli.conftest import COMMON, TINY, write_image_folder
from hf_tiny import save_tiny_clip


def unet_state(folder: Path, cls: str = "UNet2DModel") -> dict[str, torch.Tensor]:
    import diffusers

    return getattr(diffusers, cls).from_pretrained(folder, use_safetensors=True).state_dict()


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_init_from_an_exported_run_round_trip(cli, ddpm_run: Path, tmp_path: Path):
    """train tiny -> export (model/diffusers) -> --init a new run: its weights at step 0 are
    the exported ones (lr 0 keeps them through a step), and its own export equals them."""
    from genforge.models import build_model
    from genforge.train.launch import resolve

    exported = ddpm_run / "model" / "diffusers"
    r = resolve("ddpm", "digits", {"image_size": 8, "init": str(exported)})
    assert r.model_config.block_out_channels == (8, 16)  # taken from the folder's config
    family = build_model("ddpm", r.spec, r.model_options)
    family.check_init()
    family.load_init()
    assert_same(family.unet.state_dict(), unet_state(exported / "unet"))

    runs = tmp_path / "runs"
    cli.ok("train", "ddpm", "--data", "digits", "--name", "warm", "--runs-dir", runs,
           *COMMON, "--lr", "0", "--set", "ema_decay=0", "--set", "preview_steps=2",
           "--init", exported)  # fmt: skip
    cfg = yaml.safe_load((runs / "warm" / "config.yaml").read_text())
    mc = cfg["model_config"]
    assert mc["init"] == str(exported.resolve()) and len(mc["init_sha256"]) == 64
    assert mc["block_out_channels"] == [8, 16] and mc["norm_num_groups"] == 4
    assert mc["init_sha256"] in (runs / "warm" / "README.md").read_text()
    assert_same(unet_state(runs / "warm" / "model" / "diffusers" / "unet"),
                unet_state(exported / "unet"))  # fmt: skip


def test_init_that_does_not_fit_is_one_line(cli, ddpm_run: Path, tmp_path: Path):
    exported = ddpm_run / "model" / "diffusers"
    runs = ["--runs-dir", tmp_path / "runs", "--steps", "1", "--batch-size", "8"]
    msg = cli.fails("train", "ddpm", "--data", "digits", "--image-size", "8", *runs,
                    "--set", "block_out_channels=[8,32]", "--init", exported)  # fmt: skip
    assert "block_out_channels [8, 16] (given [8, 32])" in msg
    msg = cli.fails("train", "ddpm", "--data", "digits", "--image-size", "16", *runs,
                    "--init", exported)  # fmt: skip
    assert "does not fit this run: sample_size 8 (run: 16)" in msg
    msg = cli.fails("train", "cddpm", "--data", "digits", "--image-size", "8", *runs,
                    "--init", exported / "unet")  # fmt: skip
    assert "num_class_embeds None (run: 11)" in msg
    assert "no such folder" in cli.fails("train", "ddpm", "--data", "digits", *runs,
                                         "--init", tmp_path / "nope")  # fmt: skip
    assert "no diffusers UNet there" in cli.fails("train", "ddpm", "--data", "digits", *runs,
                                                 "--init", exported / "scheduler")  # fmt: skip
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_t2i_init_from_a_unet2dcondition_folder(cli, t2i_run: Path, tmp_path: Path):
    from genforge.models import build_model
    from genforge.train.launch import resolve

    exported = t2i_run / "model" / "diffusers"  # unet/ (UNet2DConditionModel), text_encoder/
    r = resolve("t2i", "digits", {"image_size": 8, "init": str(exported)})
    assert r.model_config.text_dim == 16  # the UNet's cross_attention_dim
    family = build_model("t2i", r.spec, r.model_options)
    family.load_init()
    assert_same(family.unet.unet.state_dict(),
                unet_state(exported / "unet", "UNet2DConditionModel"))  # fmt: skip
    msg = cli.fails("train", "t2i", "--data", "digits", "--image-size", "8", "--steps", "1",
                    "--runs-dir", tmp_path / "runs", "--init", t2i_run.parent / "tiny-ddpm"
                    / "model" / "diffusers")  # fmt: skip
    assert "holds a UNet2DModel, this model starts from a UNet2DConditionModel" in msg


def test_lora_on_an_init_unet_trains_adapters_only(cli, ddpm_run: Path, tmp_path: Path):
    """--set finetune=lora: the --init UNet stays frozen and only adapters train. At scale 0
    the run samples exactly as the UNet it started from, at scale 1 differently; the exported
    folder (adapters merged) computes what the run computes at scale 1; the adapters alone are
    saved beside it, a fraction of the UNet's size."""
    from safetensors.torch import load_file

    from genforge.generate.diffusion import DiffusionPipeline

    exported = ddpm_run / "model" / "diffusers"
    runs = tmp_path / "runs"
    cli.ok("train", "ddpm", "--data", "digits", "--name", "lo", "--runs-dir", runs, *COMMON,
           "--lr", "5e-2", "--set", "preview_steps=2", "--init", exported,
           "--set", "finetune=lora", "--set", "lora_r=2")  # fmt: skip
    mc = yaml.safe_load((runs / "lo" / "config.yaml").read_text())["model_config"]
    assert mc["finetune"] == "lora" and mc["lora_r"] == 2

    z = torch.randn(4, 64, generator=torch.Generator().manual_seed(0))  # 1 x 8 x 8 noise
    base = DiffusionPipeline(ddpm_run, device="cpu", steps=3).generate(z)
    off = DiffusionPipeline(runs / "lo", device="cpu", steps=3, lora_scale=0.0).generate(z)
    on = DiffusionPipeline(runs / "lo", device="cpu", steps=3).generate(z)
    assert torch.allclose(base, off, atol=1e-5)
    assert (on - off).abs().max() > 1e-3

    pipe = DiffusionPipeline(runs / "lo", device="cpu")
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([10, 500])
    merged = __import__("diffusers").UNet2DModel.from_pretrained(
        runs / "lo" / "model" / "diffusers" / "unet", use_safetensors=True
    )
    with torch.no_grad():
        assert torch.allclose(merged(x, t).sample, pipe.model.unet(x, t).sample, atol=1e-5)
    adapters = load_file(runs / "lo" / "model" / "diffusers" / "unet_lora.safetensors")
    assert adapters and all(".lora_" in k for k in adapters)
    n_adapter = sum(v.numel() for v in adapters.values())
    assert n_adapter < sum(p.numel() for p in merged.parameters()) / 2

    assert "--lora-scale needs a run trained with --set finetune=lora" in cli.fails(
        "sample", ddpm_run, "--n", "2", "--steps", "2", "--lora-scale", "0.5",
        "--grid", tmp_path / "g.png")  # fmt: skip
    cli.ok("sample", runs / "lo", "--n", "2", "--steps", "2", "--lora-scale", "0.5",
           "--grid", tmp_path / "half.png")  # fmt: skip
    assert (tmp_path / "half.png").is_file()


def test_lora_needs_an_init_unet(cli, tmp_path: Path):
    msg = cli.fails("train", "ddpm", "--data", "digits", *COMMON, "--runs-dir", tmp_path,
                    "--set", "finetune=lora")  # fmt: skip
    assert "finetune=lora trains adapters on a pretrained UNet: give --init FOLDER" in msg


def test_t2i_lora_teaches_one_caption_with_a_frozen_encoder(cli, tmp_path: Path):
    """A t2i run with a pretrained encoder, then LoRA on its UNet from a one-caption folder
    (DreamBooth-like: the encoder gives the new prompt its meaning, so one caption is enough).
    The adapters change the prompt's images; at scale 0 they equal the base run's."""
    from genforge.generate.diffusion import DiffusionPipeline

    clip, runs = save_tiny_clip(tmp_path / "clip", hidden=16), tmp_path / "runs"
    cli.ok("train", "t2i", "--data", "digits", "--name", "base", "--runs-dir", runs, *COMMON,
           *TINY["t2i"], "--text-encoder", clip)  # fmt: skip
    export = runs / "base" / "model" / "diffusers"
    sevens = write_image_folder(tmp_path / "sevens", {"seven": 12}, size=(8, 8), mode="L")
    lora = ["--data", sevens, "--runs-dir", runs, *COMMON, "--set", "preview_steps=2",
            "--init", export, "--set", "finetune=lora"]  # fmt: skip
    assert "give the pretrained one the --init UNet was trained with" in cli.fails(
        "train", "t2i", *lora
    )
    cli.ok("train", "t2i", *lora, "--name", "lo", "--lr", "5e-2",
           "--text-encoder", export / "text_encoder")  # fmt: skip
    card = (runs / "lo" / "README.md").read_text()
    assert "fine-tuned with LoRA adapters only (rank 8" in card

    prompt = "a handwritten seven"
    base = DiffusionPipeline(runs / "base", device="cpu", steps=3).sample_prompt(prompt, 3)
    off = DiffusionPipeline(runs / "lo", device="cpu", steps=3, lora_scale=0.0)
    on = DiffusionPipeline(runs / "lo", device="cpu", steps=3)
    assert torch.allclose(base, off.sample_prompt(prompt, 3), atol=1e-5)
    assert (on.sample_prompt(prompt, 3) - base).abs().max() > 1e-3
    cli.ok("generate", "image", "--model", runs / "lo", "--prompt", prompt, "--n", "2",
           "--steps", "2", "--lora-scale", "0.5", "--out", tmp_path / "half.png")  # fmt: skip
    assert (tmp_path / "half.png").is_file()
