"""Every user mistake ends in one line `error: <what is wrong>`, exit code 1, no traceback,
and leaves existing runs untouched (`Cli.fails` checks the contract)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genforge.models import MODELS

from .conftest import Cli


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def step_of(run: Path) -> int:
    return json.loads((run / "model" / "meta.json").read_text())["step"]


@pytest.fixture
def folders(tmp_path: Path, image_folder) -> dict[str, str]:
    """Placeholders for the parametrized cases: bad folders and the tmp path."""
    (tmp_path / "empty").mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("not an image")
    (junk / "broken.png").write_bytes(b"\x89PNG not really" * 10)
    (tmp_path / "afile").write_text("hello")
    image_folder(tmp_path / "flat", 4)
    image_folder(tmp_path / "big", 4, size=(300, 260))
    names = ("empty", "junk", "afile", "flat", "big")
    return {k: str(tmp_path / k) for k in names} | {"tmp": str(tmp_path)}


TRAIN = ["train", "--runs-dir", "{tmp}/runs"]
TINY = ["--steps", "2", "--batch-size", "2", "--set", "ngf=8", "--set", "ndf=8"]

# (arguments, fragments the message must contain); {name} are `folders` placeholders.
TRAIN_CASES = {
    "missing data path": (
        [*TRAIN, "dcgan", "--data", "{tmp}/nope", *TINY],
        ["no such file or folder", "nope", "digits"],
    ),
    "empty folder": ([*TRAIN, "dcgan", "--data", "{empty}", *TINY], ["empty"]),
    "only non-image and corrupt files": (
        [*TRAIN, "dcgan", "--data", "{junk}", *TINY],
        ["no readable image", "2 files skipped", "supported extensions"],
    ),
    "data is a file": ([*TRAIN, "dcgan", "--data", "{afile}", *TINY], ["is a file"]),
    "unknown model": ([*TRAIN, "stylegan9", "--data", "digits"], ["'stylegan9'", *MODELS]),
    "no model": ([*TRAIN, "--data", "digits"], ["which model"]),
    "unknown config key": (
        [*TRAIN, "dcgan", "--data", "digits", *TINY, "--set", "bogus=1"],
        ["unknown config key 'bogus'", "valid keys", "ngf", "latent_dim", "batch_size"],
    ),
    "ill-typed config value": (
        [*TRAIN, "dcgan", "--data", "digits", "--set", "latent_dim=abc"],
        ["latent_dim", "int", "abc"],
    ),
    "bad choice": (
        [*TRAIN, "dcgan", "--data", "digits", "--set", "loss=mse"],
        ["loss", "bce", "hinge", "wgan-gp", "mse"],
    ),
    "--set without =": ([*TRAIN, "dcgan", "--data", "digits", "--set", "ngf"], ["key=value"]),
    "unsupported image size 48": (
        [*TRAIN, "dcgan", "--data", "digits", *TINY, "--image-size", "48"],
        ["image size 48", "not supported", "128"],
    ),
    "image size 256 beyond dcgan": (
        [*TRAIN, "dcgan", "--data", "{big}", *TINY, "--image-size", "256"],
        ["image size 256", "DCGAN", "8, 16, 32, 64, 128"],
    ),
    "image size beyond an embedded set": (
        [*TRAIN, "dcgan", "--data", "digits", *TINY, "--image-size", "128"],
        ["image size 128", "digits"],
    ),
    "bad channels": ([*TRAIN, "dcgan", "--data", "digits", "--channels", "2"], ["channels", "2"]),
    "conditional model on unlabeled data": (
        [*TRAIN, "cgan", "--data", "{flat}", *TINY, "--image-size", "8"],
        ["conditional", "class subfolders"],
    ),
    "wgan-gp with BatchNorm": (
        [*TRAIN, "wgan-gp", "--data", "digits", *TINY, "--set", "d_norm=batch"],
        ["wgan-gp", "BatchNorm", "d_norm=layer"],
    ),
    "unknown augmentation": (
        [*TRAIN, "dcgan", "--data", "digits", *TINY, "--image-size", "8", "--augment", "blur"],
        ["'blur'", "flip"],
    ),
    "batch larger than the data": (
        [*TRAIN, "dcgan", "--data", "{flat}", "--image-size", "8", "--batch-size", "64"],
        ["batch size 64", "training set"],
    ),
    "invalid run name": (
        [*TRAIN, "dcgan", "--data", "digits", *TINY, "--name", "a/b"],
        ["invalid run name 'a/b'"],
    ),
    "resume of a missing run": ([*TRAIN, "dcgan", "--resume", "ghost"], ["no run 'ghost'"]),
    "data inspect on a missing path": (["data", "inspect", "{tmp}/nope"], ["no such file", "nope"]),
    "data inspect on an empty folder": (["data", "inspect", "{empty}"], ["empty"]),
    "bench with an unknown precision": (
        ["bench", "train", "--precision", "fp32,fp8"],
        ["unknown precision 'fp8'", "bf16"],
    ),
}


@pytest.mark.parametrize("args, fragments", TRAIN_CASES.values(), ids=TRAIN_CASES.keys())
def test_train_and_data_errors(cli: Cli, folders: dict[str, str], args, fragments):
    message = cli.fails(*(a.format(**folders) for a in args))
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 is valid on a GPU")
def test_fp16_on_cpu(cli: Cli, tmp_path: Path):
    message = cli.fails(
        "train", "vae", "--runs-dir", tmp_path, *cli.tiny("vae"), "--precision", "fp16"
    )
    assert "fp16" in message and "GPU" in message


# ---------------------------------------------------------------------------------------
# Sampling and encoding
# ---------------------------------------------------------------------------------------

# {dcgan}, {cgan}, {pets}, {vae} are the shared runs' folders.
SAMPLE_CASES = {
    "label on an unconditional run": (
        ["sample", "{dcgan}", "--n", "2", "--label", "3"],
        ["--label needs a class-conditional model", "tiny-dcgan"],
    ),
    "label out of range": (
        ["sample", "{cgan}", "--n", "2", "--label", "12"],
        ["'12'", "10 classes", "0, 1, 2"],
    ),
    "negative label": (["sample", "{cgan}", "--n", "2", "--label", "-1"], ["'-1'"]),
    "unknown class name": (
        ["sample", "{pets}", "--n", "2", "--label", "cat"],
        ["'cat'", "cats, dogs"],
    ),
    "run that does not exist": (["sample", "{tmp}/runs/nothing"], ["no run", "nothing"]),
    "interpolate without --out": (
        ["sample", "{dcgan}", "--interpolate", "3", "--frames", "6"],
        ["--interpolate needs --out"],
    ),
    "walk as .avi": (
        ["sample", "{dcgan}", "--interpolate", "3", "--frames", "6", "--out", "w.avi"],
        [".avi", ".gif", ".mp4"],
    ),
    "one keyframe": (
        ["sample", "{dcgan}", "--interpolate", "1", "--out", "w.gif"],
        ["at least 2 keyframes"],
    ),
    "fewer frames than keyframes": (
        ["sample", "{dcgan}", "--interpolate", "4", "--frames", "3", "--out", "w.gif"],
        ["--frames (3)", "keyframes (4)"],
    ),
    "zero fps": (
        [
            "sample",
            "{dcgan}",
            "--interpolate",
            "2",
            "--frames",
            "2",
            "--fps",
            "0",
            "--out",
            "w.gif",
        ],
        ["--fps"],
    ),
    "grid --out that is not png": (["sample", "{dcgan}", "--n", "2", "--out", "x.jpg"], ["x.jpg"]),
    "non-positive truncation": (
        ["sample", "{dcgan}", "--n", "2", "--truncation", "0"],
        ["truncation"],
    ),
    "encode a GAN run": (
        ["encode", "{dcgan}", "--data", "digits", "--out", "z.npz"],
        ["needs a VAE run", "dcgan"],
    ),
    "encode to a non-npz file": (
        ["encode", "{vae}", "--data", "digits", "--out", "z.csv"],
        [".npz", "z.csv"],
    ),
}


@pytest.fixture
def runs(tmp_path: Path, dcgan_run: Path, cgan_run: Path, pets_cgan_run: Path, vae_run: Path):
    return {"dcgan": dcgan_run, "cgan": cgan_run, "pets": pets_cgan_run, "vae": vae_run} | {
        "tmp": tmp_path
    }


@pytest.mark.parametrize("args, fragments", SAMPLE_CASES.values(), ids=SAMPLE_CASES.keys())
def test_sample_and_encode_errors(cli: Cli, runs: dict[str, Path], tmp_path: Path, args, fragments):
    message = cli.fails(*(a.format(**runs) for a in args))
    for fragment in fragments:
        assert fragment in message, message
    assert not any(tmp_path.glob("*.png")) and not any(tmp_path.glob("*.npz"))


def test_sample_zero_images(cli: Cli, dcgan_run: Path, tmp_path: Path):
    message = cli.fails("sample", dcgan_run, "--n", "0", "--grid", "g.png")
    assert "--n" in message and not (tmp_path / "g.png").exists()


# ---------------------------------------------------------------------------------------
# Existing runs stay untouched
# ---------------------------------------------------------------------------------------


def test_train_name_that_exists_leaves_the_run_alone(cli: Cli, dcgan_run: Path, tmp_path: Path):
    runs = tmp_path / "runs"
    shutil.copytree(dcgan_run, runs / "taken")
    before = snapshot(runs / "taken")

    message = cli.fails(
        "train", "dcgan", "--data", "digits", "--name", "taken", "--runs-dir", runs,
        *cli.tiny("dcgan"),
    )  # fmt: skip

    assert "'taken' already exists" in message and "--resume taken" in message
    assert snapshot(runs / "taken") == before
    assert sorted(p.name for p in runs.iterdir()) == ["taken"]


def test_resume_errors_leave_the_run_alone(cli: Cli, dcgan_run: Path, tmp_path: Path):
    runs = tmp_path / "runs"
    run = runs / "r"
    shutil.copytree(dcgan_run, run)
    before = snapshot(run)
    resume = ["train", "--resume", "r", "--runs-dir", runs]

    assert "already reached step 2 of 2" in cli.fails(*resume)
    assert "cannot change ngf" in cli.fails(*resume, "--steps", "4", "--set", "ngf=16")
    assert "cannot change image_size" in cli.fails(*resume, "--steps", "4", "--image-size", "16")
    assert "dcgan run, not vae" in cli.fails("train", "vae", *resume[1:], "--steps", "4")
    assert "--data cannot change" in cli.fails(*resume, "--steps", "4", "--data", "photos")
    assert snapshot(run) == before


def test_failed_train_leaves_no_half_made_run(cli: Cli, tmp_path: Path):
    runs = tmp_path / "runs"
    args = ["train", "dcgan", "--data", "digits", "--name", "x", "--runs-dir", runs]
    args += [*cli.tiny("dcgan")]
    assert "blur" in cli.fails(*args, "--augment", "blur")
    cli.ok(*args)  # the corrected command must work
    assert step_of(runs / "x") == 2


# ---------------------------------------------------------------------------------------
# Disk write failures
# ---------------------------------------------------------------------------------------


def test_grid_under_a_regular_file(cli: Cli, dcgan_run: Path, tmp_path: Path):
    (tmp_path / "taken").write_text("a file, not a folder")
    message = cli.fails("sample", dcgan_run, "--n", "2", "--grid", tmp_path / "taken" / "g.png")
    assert f"cannot write {tmp_path / 'taken' / 'g.png'}" in message
    assert (tmp_path / "taken").read_text() == "a file, not a folder"


def test_grid_under_a_regular_file_says_not_a_directory(cli: Cli, dcgan_run: Path, tmp_path: Path):
    (tmp_path / "taken").write_text("x")
    message = cli.fails("sample", dcgan_run, "--n", "2", "--grid", tmp_path / "taken" / "g.png")
    assert "not a directory" in message.lower()


def test_out_dir_under_a_regular_file(cli: Cli, dcgan_run: Path, tmp_path: Path):
    (tmp_path / "taken").write_text("x")
    message = cli.fails("sample", dcgan_run, "--n", "2", "--out-dir", tmp_path / "taken" / "sub")
    assert "not a directory" in message.lower() and str(tmp_path / "taken") in message


def test_full_disk_during_resume_keeps_the_previous_checkpoint(
    cli: Cli, dcgan_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    runs = tmp_path / "runs"
    run = runs / "full"
    shutil.copytree(dcgan_run, run)
    weights = (run / "model" / "model.safetensors").read_bytes()
    state = (run / "state" / "tensors.safetensors").read_bytes()

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        # checkpoint.py binds save_file at import: patch the name it calls, and the source.
        m.setattr("genforge.core.checkpoint.save_file", no_space)
        m.setattr("safetensors.torch.save_file", no_space)
        message = cli.fails(
            "train", "dcgan", "--resume", "full", "--steps", "4", "--runs-dir", runs
        )

    assert "No space left on device" in message and "previous checkpoint kept" in message
    assert (run / "model" / "model.safetensors").read_bytes() == weights
    assert (run / "state" / "tensors.safetensors").read_bytes() == state
    assert step_of(run) == 2
    assert not (run / ".checkpoint.tmp").exists()

    # With space again, the same command continues from the kept checkpoint.
    cli.ok("train", "dcgan", "--resume", "full", "--steps", "4", "--runs-dir", runs)
    assert step_of(run) == 4


# ---------------------------------------------------------------------------------------
# data inspect on a messy folder (not an error: the bad files are listed)
# ---------------------------------------------------------------------------------------


def test_data_inspect_lists_skipped_files_and_duplicates(cli: Cli, tmp_path: Path):
    rng = np.random.default_rng(0)

    def png(h: int, w: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
        return buf.getvalue()

    root = tmp_path / "messy"
    root.mkdir()
    good = png(16, 16)
    (root / "good.png").write_bytes(good)
    (root / "other.png").write_bytes(png(20, 12))
    (root / "zz-copy.png").write_bytes(good)
    (root / "corrupt.png").write_bytes(b"definitely not a png" * 5)
    big = png(64, 64)
    (root / "truncated.png").write_bytes(big[: len(big) // 2])

    out = cli.ok("data", "inspect", root).stdout
    report = json.loads(cli.ok("data", "inspect", root, "--json").stdout)

    assert (report["num_files"], report["num_images"]) == (5, 2)
    assert {s["path"]: s["reason"] for s in report["skipped"]} == {
        "corrupt.png": "not an image (cannot identify image file)",
        "truncated.png": "truncated image",
    }
    assert report["duplicates"] == [["zz-copy.png", "good.png"]]
    assert report["original_sizes"] == {"16x16": 1, "12x20": 1}
    assert "Skipped files (2)" in out
    for line in ("corrupt.png", "truncated.png", "zz-copy.png"):
        assert line in out
    assert "truncated image" in out and "not an image (cannot identify image file)" in out
    assert "Exact duplicates removed (1)" in out
