"""`genforge train lora` and `genforge generate image --lora`: the adapters a run holds load in
plain diffusers and draw the very images genforge draws; the user errors are one line."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from hf_tiny import save_tiny_ddpm_pipeline, save_tiny_sd_pipeline

from .conftest import Cli, write_image_folder

PROMPT = "a photo of sks dog"
DRAW = ["--prompt", PROMPT, "--n", "1", "--seed", "5", "--steps", "3", "--guidance", "3"]


@pytest.fixture(scope="module")
def lora_home(tmp_path_factory) -> Path:
    """A base folder, an image folder and, in runs/, a LoRA run trained through the CLI."""
    from typer.testing import CliRunner

    home = tmp_path_factory.mktemp("lora")
    save_tiny_sd_pipeline(home)  # home/pipe
    write_image_folder(home / "dog", 3)
    Cli(CliRunner()).ok(
        "train", "lora", "--base", home / "pipe", "--data", home / "dog", "--instance-prompt",
        PROMPT, "--steps", "4", "--lr", "0.01", "--set", "sample_steps=2", "--set",
        "train_text_encoder=true", "--name", "dog", "--runs-dir", home / "runs",
    )  # fmt: skip
    return home


def _drawn(cli: Cli, home: Path, out: Path, *extra: str) -> np.ndarray:
    cli.ok("generate", "image", "--model", home / "pipe", *DRAW, "--out-dir", out,
           "--runs-dir", home / "runs", "--device", "cpu", *extra)  # fmt: skip
    (png,) = sorted(out.glob("*.png"))
    return np.asarray(Image.open(png).convert("RGB")).astype(int)


def test_the_run_holds_the_usual_files_and_diffusers_weights(lora_home: Path):
    run = lora_home / "runs" / "dog"
    for name in ("config.yaml", "README.md", "metrics.jsonl", "data_report.json",
                 "model/meta.json", "samples/before.png", "samples/after.png",
                 "pytorch_lora_weights.safetensors"):  # fmt: skip
        assert (run / name).is_file(), name
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["model_config"]["train_text_encoder"] is True
    assert cfg["base"]["path"] == str((lora_home / "pipe").resolve())


def test_generate_with_lora_draws_what_plain_diffusers_draws(cli: Cli, lora_home: Path, tmp_path):
    import torch
    from diffusers import StableDiffusionPipeline

    ours = _drawn(cli, lora_home, tmp_path / "lora", "--lora", "dog")
    pipe = StableDiffusionPipeline.from_pretrained(lora_home / "pipe", safety_checker=None)
    pipe.load_lora_weights(lora_home / "runs" / "dog")
    out = pipe(PROMPT, num_inference_steps=3, guidance_scale=3.0, output_type="np",
               generator=torch.Generator().manual_seed(5)).images[0]  # fmt: skip
    theirs = (out * 255).round().astype(int)
    assert np.abs(ours - theirs).max() <= 1
    base = _drawn(cli, lora_home, tmp_path / "base")
    assert np.abs(ours - base).max() > 2  # the adapters change the picture
    off = _drawn(cli, lora_home, tmp_path / "off", "--lora", "dog", "--lora-scale", "0")
    assert np.array_equal(off, base)


def test_lora_with_image_to_image_and_inpainting(cli: Cli, lora_home: Path, tmp_path: Path):
    Image.fromarray(np.full((8, 8, 3), 120, np.uint8)).save(tmp_path / "in.png")
    cli.ok("generate", "image", "--model", lora_home / "pipe", "--lora", "dog", "--lora-scale",
           "0.8", *DRAW, "--input", tmp_path / "in.png", "--out", tmp_path / "grid.png",
           "--runs-dir", lora_home / "runs")  # fmt: skip
    assert (tmp_path / "grid.png").is_file()
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "mask.png")
    cli.ok("generate", "image", "--model", lora_home / "pipe", "--lora", "dog", *DRAW,
           "--input", tmp_path / "in.png", "--mask", tmp_path / "mask.png",
           "--out", tmp_path / "inpainted.png", "--runs-dir", lora_home / "runs")  # fmt: skip
    assert (tmp_path / "inpainted.png").is_file()


def test_train_lora_user_errors_are_one_line(cli: Cli, lora_home: Path, tmp_path: Path):
    train = ["train", "lora", "--runs-dir", tmp_path / "runs", "--steps", "1"]
    dog, pipe = lora_home / "dog", lora_home / "pipe"
    msg = cli.fails(*train, "--base", tmp_path / "nope", "--data", dog, "--caption", "x")
    assert "no base pipeline folder" in msg
    (tmp_path / "plain").mkdir()
    msg = cli.fails(*train, "--base", tmp_path / "plain", "--data", dog, "--caption", "x")
    assert "not a diffusers pipeline folder" in msg
    ddpm = save_tiny_ddpm_pipeline(tmp_path / "ddpm")
    msg = cli.fails(*train, "--base", ddpm, "--data", dog, "--caption", "x")
    assert "holds a DDPMPipeline" in msg and "needs a Stable Diffusion pipeline" in msg
    other = tmp_path / "other"
    shutil.copytree(pipe, other)
    index = json.loads((other / "model_index.json").read_text())
    (other / "model_index.json").write_text(json.dumps({**index, "_class_name": "FluxPipeline"}))
    assert "holds a FluxPipeline" in cli.fails(*train, "--base", other, "--data", dog,
                                               "--caption", "x")  # fmt: skip
    bad = write_image_folder(tmp_path / "bad", 2)
    (bad / "captions.csv").write_text("file,caption\nimg000.png,a\nghost.png,b\n")
    assert "'ghost.png' matches no image" in cli.fails(*train, "--base", pipe, "--data", bad)
    (tmp_path / "empty").mkdir()
    msg = cli.fails(*train, "--base", pipe, "--data", tmp_path / "empty", "--caption", "x")
    assert "no images in" in msg
    assert "needs --base" in cli.fails(*train, "--data", dog, "--caption", "x")
    assert "not dcgan" in cli.fails("train", "dcgan", "--base", pipe, "--data", "digits")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_generate_lora_user_errors_are_one_line(cli: Cli, lora_home: Path, tmp_path: Path):
    runs = tmp_path / "runs"
    (runs / "gan").mkdir(parents=True)
    (runs / "gan" / "config.yaml").write_text(yaml.safe_dump({"name": "gan", "model": "dcgan"}))
    draw = ["generate", "image", "--model", lora_home / "pipe", *DRAW, "--runs-dir", runs]
    assert "is a dcgan run, not a LoRA run" in cli.fails(*draw, "--lora", "gan")
    assert "no run 'nothing'" in cli.fails(*draw, "--lora", "nothing")
    assert "--lora-scale needs --lora" in cli.fails(*draw, "--lora-scale", "0.5")
    msg = cli.fails("generate", "image", "--model", "gan", "--runs-dir", runs, "--prompt", "x",
                    "--lora", lora_home / "runs" / "dog")  # fmt: skip
    assert "--lora needs a local diffusers pipeline" in msg


def test_runs_list_and_show_read_a_lora_run(cli: Cli, lora_home: Path):
    out = cli.ok("runs", "list", "--runs-dir", lora_home / "runs").stdout
    assert "dog" in out and "lora" in out and "4/4" in out
    out = cli.ok("runs", "show", "dog", "--runs-dir", lora_home / "runs").stdout
    assert "step 4 of 4" in out and "rank: 4" in out


def test_models_lists_lora(cli: Cli):
    rows = [line for line in cli.ok("models").stdout.splitlines() if line.startswith("│ lora ")]
    assert len(rows) == 1 and "Stable Diffusion" in rows[0]


def test_eval_a_lora_run_prints_metrics_and_writes_the_report(cli: Cli, lora_home: Path):
    out = cli.ok("eval", "dog", "--runs-dir", lora_home / "runs", "--n", "4", "--steps", "2",
                 "--device", "cpu").stdout  # fmt: skip
    assert "nearest-instance distance" in out and "base VAE latents" in out
    assert "near-copies of instance images" in out
    run = lora_home / "runs" / "dog"
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["modality"] == "lora" and saved["feature_space"]["kind"] == "vae"
    assert {"nn_vae_before", "nn_vae_after", "memorized"} <= set(saved["values"])
    assert "Samples before and after the LoRA" in (run / "report.html").read_text()
    with Image.open(run / "samples" / "eval-after.png") as im:
        assert im.size == (4 * 8 + 5 * 2, 8 + 2 * 2)  # 4 samples of 8 px in one row


def test_eval_lora_user_errors_are_one_line(cli: Cli, lora_home: Path, tmp_path: Path):
    ev = ["eval", "dog", "--runs-dir", lora_home / "runs", "--n", "2", "--steps", "1"]
    assert "no CLIP folder" in cli.fails(*ev, "--clip", tmp_path / "nope")
    msg = cli.fails(*ev, "--clip", lora_home / "pipe" / "text_encoder")
    assert "not a CLIPModel" in msg
    assert "no readable config.json" in cli.fails(*ev, "--clip", lora_home / "pipe")
    assert "no meaningful feature space" in cli.fails(*ev, "--features", "domain")
    assert "--features clip needs --clip" in cli.fails(*ev, "--features", "clip")
    assert "real does not apply to lora runs" in cli.fails(*ev, "--real", lora_home / "dog")


def test_resume_trains_a_lora_run_on_from_its_checkpoint(cli: Cli, lora_home: Path, tmp_path):
    """`genforge train --resume RUN --steps N` (or `train lora --resume`) continues a LoRA run,
    text-encoder adapters included; only --steps may change."""
    runs = tmp_path / "runs"
    shutil.copytree(lora_home / "runs" / "dog", runs / "dog")
    before = (runs / "dog" / "pytorch_lora_weights.safetensors").read_bytes()
    assert "already at step 4 of 4" in cli.fails("train", "--resume", "dog", "--runs-dir", runs)
    msg = cli.fails("train", "lora", "--resume", "dog", "--runs-dir", runs, "--lr", "1")
    assert "only --steps may change (given: lr)" in msg
    cli.ok("train", "--resume", "dog", "--steps", "6", "--runs-dir", runs)
    assert json.loads((runs / "dog" / "model" / "meta.json").read_text())["step"] == 6
    assert (runs / "dog" / "pytorch_lora_weights.safetensors").read_bytes() != before
    cli.ok("train", "lora", "--resume", "dog", "--steps", "7", "--runs-dir", runs)
    assert yaml.safe_load((runs / "dog" / "config.yaml").read_text())["train"]["steps"] == 7
