"""genforge train t2i --text-encoder LOCAL_FOLDER: train, resume and sample from the run's copy."""

import numpy as np
from PIL import Image

from genforge.core.images import read_png_params
from hf_tiny import save_tiny_clip


def pixels(path):
    return np.asarray(Image.open(path), dtype=np.int16)


def test_t2i_with_a_local_clip_encoder_samples_without_the_original_folder(cli, tmp_path):
    enc = save_tiny_clip(tmp_path / "clip")
    runs = tmp_path / "runs"
    run = cli.train("t2i", runs, "clip-t2i", "--text-encoder", enc, "--steps", "1")
    card = (run / "README.md").read_text()
    assert "pretrained `CLIPTextModel`" in card and str(enc) in card and "frozen" in card
    assert "projected 32 -> 16" in card
    enc.rename(tmp_path / "moved")  # the run keeps its own copy: resume and sampling need no more
    cli.ok("train", "--resume", "clip-t2i", "--runs-dir", runs, "--steps", "2")
    outs = [tmp_path / f"seven-{i}.png" for i in range(2)]
    for out in outs:  # a fresh pipeline each time: same seed, same images
        cli.ok("generate", "image", "--model", "clip-t2i", "--runs-dir", runs, "--prompt",
               "a handwritten seven", "--n", "2", "--steps", "2", "--out", out)  # fmt: skip
    assert np.array_equal(pixels(outs[0]), pixels(outs[1]))
    assert read_png_params(outs[0])["prompt"] == "a handwritten seven"
    other = tmp_path / "hat.png"  # words outside the captions: the pretrained tokenizer has them
    cli.ok("generate", "image", "--model", "clip-t2i", "--runs-dir", runs, "--prompt",
           "a cat wearing a hat", "--n", "2", "--steps", "2", "--out", other)  # fmt: skip
    assert read_png_params(other)["prompt"] == "a cat wearing a hat"
    cli.ok("sample", "clip-t2i", "--runs-dir", runs, "--n", "4", "--steps", "2",
           "--grid", tmp_path / "grid.png")  # fmt: skip
    assert "reads at most 16" in cli.fails(
        "generate", "image", "--model", "clip-t2i", "--runs-dir", runs, "--prompt", "a " * 20
    )


def test_incomplete_encoder_folders_fail_in_one_line(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    runs = tmp_path / "runs"
    msg = cli.fails("train", "t2i", "--data", "digits", "--runs-dir", runs, *cli.tiny("t2i"),
                    "--text-encoder", tmp_path / "empty")  # fmt: skip
    assert "is missing: config.json; tokenizer files" in msg and "model.safetensors" in msg
    assert not runs.exists() or not any(runs.iterdir())  # no half-made run left behind
    assert "unknown config key 'text_encoder' for dcgan" in cli.fails(
        "train", "dcgan", "--data", "digits", "--runs-dir", runs, "--text-encoder", tmp_path
    )
