import json
import shutil

import numpy as np
from PIL import Image

from genforge.core.images import read_png_params


def pixels(path):
    return np.asarray(Image.open(path), dtype=np.int16)


def test_sample_with_each_sampler_is_seeded(cli, ddpm_run, tmp_path):
    runs = ddpm_run.parent
    for sampler, steps in (("ddim", "3"), ("ddpm", "4"), ("dpm-solver++", "2")):
        a, b = tmp_path / f"{sampler}-a.png", tmp_path / f"{sampler}-b.png"
        for out in (a, b):
            cli.ok("sample", "tiny-ddpm", "--runs-dir", runs, "--n", "4", "--sampler", sampler,
                   "--steps", steps, "--grid", out)  # fmt: skip
        assert np.array_equal(pixels(a), pixels(b))
        params = read_png_params(a)
        assert params["sampler"] == sampler and params["steps"] == int(steps)
    cli.ok("sample", "tiny-ddpm", "--runs-dir", runs, "--n", "4", "--steps", "3", "--seed", "1",
           "--grid", tmp_path / "s1.png")  # fmt: skip
    assert not np.array_equal(pixels(tmp_path / "s1.png"), pixels(tmp_path / "ddim-a.png"))


def test_conditional_sampling_with_guidance(cli, cddpm_run, tmp_path):
    runs = cddpm_run.parent
    out = tmp_path / "seven.png"
    cli.ok("sample", "tiny-cddpm", "--runs-dir", runs, "--n", "2", "--steps", "2",
           "--guidance", "3", "--label", "7", "--grid", out)  # fmt: skip
    params = read_png_params(out)
    assert params["label"] == "7" and params["guidance"] == 3.0
    cli.ok("sample", "tiny-cddpm", "--runs-dir", runs, "--n", "2", "--steps", "2",
           "--out-dir", tmp_path / "singles")  # fmt: skip
    assert len(list((tmp_path / "singles").glob("*.png"))) == 2


def test_sampler_options_are_checked(cli, ddpm_run, cddpm_run, dcgan_run):
    runs = ddpm_run.parent
    assert "--guidance needs a class-conditional" in cli.fails(
        "sample", "tiny-ddpm", "--runs-dir", runs, "--guidance", "2"
    )
    assert "unknown sampler 'euler'; known: ddim, ddpm, dpm-solver++" in cli.fails(
        "sample", "tiny-cddpm", "--runs-dir", runs, "--sampler", "euler"
    )
    assert "--steps must be between 1 and 1000" in cli.fails(
        "sample", "tiny-ddpm", "--runs-dir", runs, "--steps", "0"
    )
    assert "--sampler, --steps only apply to diffusion runs; run 'tiny-dcgan' is a dcgan" in (
        cli.fails("sample", "tiny-dcgan", "--runs-dir", runs, "--sampler", "ddim", "--steps", "5")
    )


def test_run_folder_loads_with_plain_diffusers_and_resumes(cli, ddpm_run, tmp_path):
    from diffusers import DDPMPipeline

    folder = ddpm_run / "model" / "diffusers"
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "DDPMPipeline"
    assert list(folder.glob("unet/*.safetensors")) and not list(folder.rglob("*.bin"))
    pipe = DDPMPipeline.from_pretrained(folder)
    assert pipe(batch_size=1, num_inference_steps=2, output_type="np").images.shape == (1, 8, 8, 1)

    runs = tmp_path / "runs"
    shutil.copytree(ddpm_run, runs / "r")
    cli.ok("train", "--resume", "r", "--runs-dir", runs, "--steps", "3")
    assert json.loads((runs / "r" / "model" / "meta.json").read_text())["step"] == 3
    assert (runs / "r" / "model" / "diffusers" / "model_index.json").exists()


def test_inpainting_keeps_unmasked_pixels(cli, ddpm_run, tmp_path):
    runs = ddpm_run.parent
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 3:7] = 255
    Image.fromarray(image).save(tmp_path / "damaged.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "fixed.png"
    cli.ok("restore", "tiny-ddpm", "--runs-dir", runs, "--input", tmp_path / "damaged.png",
           "--mask", tmp_path / "mask.png", "--out", out, "--steps", "6", "--jump-length", "2",
           "--resample", "2")  # fmt: skip
    fixed, known = pixels(out), mask == 0
    assert np.abs(fixed[known] - image[known]).max() <= 1  # uint8 round trip
    assert np.abs(fixed[~known] - image[~known]).mean() > 5  # the hole was redrawn
    assert read_png_params(out)["kind"] == "inpaint"


def test_denoise_writes_beside_the_input(cli, ddpm_run, tmp_path):
    runs = ddpm_run.parent
    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(tmp_path / "noisy.png")
    cli.ok("restore", "tiny-ddpm", "--runs-dir", runs, "--input", tmp_path / "noisy.png",
           "--denoise", "0.3", "--steps", "10", "--sampler", "dpm-solver++")  # fmt: skip
    out = tmp_path / "noisy-restored.png"
    assert pixels(out).shape == (8, 8)
    assert read_png_params(out)["denoise"] == 0.3


def test_restore_bad_input_is_one_line(cli, ddpm_run, tmp_path):
    runs = ddpm_run.parent
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "in.png")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "big.png")
    base = ["restore", "tiny-ddpm", "--runs-dir", runs]
    assert "big.png is 16x16 but this model works on 8x8" in cli.fails(
        *base, "--input", tmp_path / "big.png", "--denoise", "0.5"
    )
    assert "mask big.png is 16x16 but the image is 8x8" in cli.fails(
        *base, "--input", tmp_path / "in.png", "--mask", tmp_path / "big.png"
    )
    assert "--label needs a class-conditional model" in cli.fails(
        *base, "--input", tmp_path / "in.png", "--denoise", "0.5", "--label", "3"
    )
    assert "give either --mask" in cli.fails(*base, "--input", tmp_path / "in.png")
    assert "--denoise must be in (0, 1]" in cli.fails(
        *base, "--input", tmp_path / "in.png", "--denoise", "1.5"
    )


def test_generate_image_from_a_prompt(cli, t2i_run, ddpm_run, tmp_path):
    runs = t2i_run.parent
    out = tmp_path / "seven.png"
    cli.ok("generate", "image", "--model", "tiny-t2i", "--runs-dir", runs, "--prompt",
           "a handwritten seven", "--guidance", "3", "--n", "2", "--steps", "2", "--out", out)  # fmt: skip
    params = read_png_params(out)
    assert params["prompt"] == "a handwritten seven" and params["guidance"] == 3.0
    assert "unknown word 'cat'" in cli.fails(
        "generate", "image", "--model", "tiny-t2i", "--runs-dir", runs, "--prompt", "a cat"
    )
    assert "--prompt needs a text-to-image run; run 'tiny-ddpm' is a ddpm" in cli.fails(
        "generate", "image", "--model", "tiny-ddpm", "--runs-dir", runs, "--prompt", "a seven"
    )


def test_upscale_with_a_super_resolution_run(cli, ddpm_run, tmp_path):
    runs = tmp_path / "runs"
    cli.ok("train", "sr", "--data", "digits", "--name", "sr", "--runs-dir", runs, "--scale", "2",
           *cli.tiny("ddpm"))  # fmt: skip
    Image.fromarray(np.full((4, 4), 200, np.uint8)).save(tmp_path / "small.png")
    cli.ok("upscale", "sr", "--runs-dir", runs, "--input", tmp_path / "small.png", "--steps", "2")
    assert pixels(tmp_path / "small-x2.png").shape == (8, 8)
    assert "small-x2.png is 8x8 but this model works on 4x4" in cli.fails(
        "upscale", "sr", "--runs-dir", runs, "--input", tmp_path / "small-x2.png"
    )
    assert "use genforge upscale" in cli.fails("sample", "sr", "--runs-dir", runs)
    assert "needs a super-resolution run" in cli.fails(
        "upscale", "tiny-ddpm", "--runs-dir", ddpm_run.parent, "--input", tmp_path / "small.png"
    )


def test_translate_with_a_cyclegan_run(cli, image_folder, ddpm_run, tmp_path):
    domains = image_folder(tmp_path / "domains", {"photos": 8, "paintings": 8}, size=(8, 8))
    runs = tmp_path / "runs"
    cli.ok("train", "cyclegan", "--data", domains, "--name", "cg", "--runs-dir", runs,
           "--image-size", "8", "--steps", "2", "--batch-size", "8", "--set", "width=8",
           "--set", "n_res=1")  # fmt: skip
    src = next((domains / "photos").glob("*.png"))
    Image.open(src).resize((8, 8)).save(tmp_path / "photo.png")
    out = cli.ok("translate", "cg", "--runs-dir", runs, "--input", tmp_path / "photo.png",
                 "--out", tmp_path / "painting.png", "--direction", "b2a").output  # fmt: skip
    assert "photos -> paintings" in out  # subfolders sorted: a = paintings, b = photos
    assert pixels(tmp_path / "painting.png").shape == (8, 8, 3)
    assert "use genforge translate" in cli.fails("sample", "cg", "--runs-dir", runs)
    assert "needs a cyclegan or pix2pix run" in cli.fails(
        "translate", "tiny-ddpm", "--runs-dir", ddpm_run.parent, "--input", tmp_path / "photo.png"
    )


def test_sample_ddim_eta_is_recorded_and_checked(cli, ddpm_run, dcgan_run, tmp_path):
    runs = ddpm_run.parent
    out = tmp_path / "eta.png"
    cli.ok("sample", "tiny-ddpm", "--runs-dir", runs, "--n", "2", "--steps", "3", "--eta", "0.5",
           "--grid", out)  # fmt: skip
    assert read_png_params(out)["eta"] == 0.5
    assert "--eta applies to the ddim sampler, not ddpm" in cli.fails(
        "sample", "tiny-ddpm", "--runs-dir", runs, "--sampler", "ddpm", "--eta", "0.5"
    )
    assert "between 0 and 1" in cli.fails("sample", "tiny-ddpm", "--runs-dir", runs, "--eta", "2")
    assert "only apply to diffusion runs" in cli.fails(
        "sample", dcgan_run.name, "--runs-dir", dcgan_run.parent, "--eta", "0.5"
    )
