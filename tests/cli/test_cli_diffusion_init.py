"""`genforge train ddpm|cddpm|t2i --init FOLDER`: training starts from a local diffusers UNet
(a run's own export, a UNet folder, or a pipeline folder with unet/), whose config fixes the
architecture; a folder that does not fit is a one-line error naming the keys."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from cli.conftest import COMMON


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
