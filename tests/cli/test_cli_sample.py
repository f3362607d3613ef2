"""`genforge sample` (grids, single files, labels, latent walks), `genforge encode`, and
`genforge runs list|show`, on the shared tiny runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genforge.cli.common import console
from genforge.core.images import read_png_params

from .conftest import Cli


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).copy()


@pytest.fixture
def by_name(monkeypatch: pytest.MonkeyPatch, runs_home: Path) -> None:
    """Let `sample NAME` find the shared runs (sample reads $GENFORGE_RUNS)."""
    monkeypatch.setenv("GENFORGE_RUNS", str(runs_home))


# ---------------------------------------------------------------------------------------
# Grids and single files
# ---------------------------------------------------------------------------------------


def test_grid_png_carries_its_parameters(cli: Cli, dcgan_run: Path, by_name, tmp_path: Path):
    out = cli.ok("sample", dcgan_run.name, "--n", "6", "--grid", "g.png", "--seed", "0").stdout
    assert "g.png" in out
    assert "tiny-dcgan [" in out and "] 1. sampling 6 images (6)" in out  # the stage, in logs
    params = read_png_params(tmp_path / "g.png")
    assert params["run"] == "tiny-dcgan"
    assert params["seed"] == 0
    assert params["step"] == 2
    assert params["n"] == 6
    assert "label" not in params


def test_same_seed_same_pixels_other_seed_other_pixels(cli: Cli, dcgan_run: Path, tmp_path: Path):
    for name, seed in [("a.png", "5"), ("b.png", "5"), ("c.png", "6")]:
        cli.ok("sample", dcgan_run, "--n", "6", "--grid", name, "--seed", seed)
    a, b, c = (pixels(tmp_path / name) for name in ("a.png", "b.png", "c.png"))
    assert np.array_equal(a, b)
    assert a.shape == c.shape and not np.array_equal(a, c)
    assert read_png_params(tmp_path / "c.png")["seed"] == 6


def test_out_dir_writes_one_png_per_image_with_its_index(cli: Cli, dcgan_run: Path, tmp_path: Path):
    out = cli.ok("sample", dcgan_run, "--n", "6", "--out-dir", "singles", "--seed", "2").stdout
    assert "6 images in singles" in out
    files = sorted((tmp_path / "singles").glob("*.png"))
    assert len(files) == 6
    params = [read_png_params(f) for f in files]
    assert sorted(p["index"] for p in params) == list(range(6))
    assert {(p["run"], p["seed"], p["kind"]) for p in params} == {("tiny-dcgan", 2, "single")}
    assert all(pixels(f).shape == (8, 8) for f in files)  # one 8 px grayscale image each


def test_grid_and_out_dir_show_the_same_images(cli: Cli, dcgan_run: Path, tmp_path: Path):
    cli.ok("sample", dcgan_run, "--n", "4", "--grid", "g.png", "--out-dir", "d", "--nrow", "4")
    grid = pixels(tmp_path / "g.png")
    first = pixels(sorted((tmp_path / "d").glob("*.png"))[0])
    assert np.array_equal(grid[2:10, 2:10], first)  # tile 0 sits after 2 px of padding


def test_out_png_without_interpolate_writes_a_grid(cli: Cli, dcgan_run: Path, tmp_path: Path):
    cli.ok("sample", dcgan_run, "--n", "4", "--out", "o.png")
    assert read_png_params(tmp_path / "o.png")["kind"] == "grid"


def test_label_on_conditional_run(cli: Cli, cgan_run: Path, tmp_path: Path):
    cli.ok("sample", cgan_run, "--n", "6", "--grid", "g.png", "--label", "7")
    assert read_png_params(tmp_path / "g.png")["label"] == "7"

    cli.ok("sample", cgan_run, "--n", "3", "--out-dir", "sevens", "--label", "7")
    labels = [read_png_params(f)["label"] for f in sorted((tmp_path / "sevens").glob("*.png"))]
    assert labels == ["7", "7", "7"]


def test_no_label_cycles_through_the_classes(cli: Cli, cgan_run: Path, tmp_path: Path):
    cli.ok("sample", cgan_run, "--n", "12", "--out-dir", "all")
    params = [read_png_params(f) for f in sorted((tmp_path / "all").glob("*.png"))]
    assert [p["label"] for p in params] == [str(i % 10) for i in range(12)]


def test_label_by_class_name_or_index(cli: Cli, pets_cgan_run: Path, tmp_path: Path):
    cli.ok("sample", pets_cgan_run, "--n", "4", "--grid", "name.png", "--label", "dogs")
    cli.ok("sample", pets_cgan_run, "--n", "4", "--grid", "index.png", "--label", "1")
    cli.ok("sample", pets_cgan_run, "--n", "4", "--grid", "cats.png", "--label", "cats")
    assert read_png_params(tmp_path / "name.png")["label"] == "dogs"
    assert read_png_params(tmp_path / "index.png")["label"] == "dogs"
    assert np.array_equal(pixels(tmp_path / "name.png"), pixels(tmp_path / "index.png"))
    assert not np.array_equal(pixels(tmp_path / "name.png"), pixels(tmp_path / "cats.png"))
    assert pixels(tmp_path / "name.png").shape[2] == 3  # the pets folder is RGB


# ---------------------------------------------------------------------------------------
# Latent walks
# ---------------------------------------------------------------------------------------


def test_interpolate_writes_a_gif_with_the_asked_frames(cli: Cli, dcgan_run: Path, tmp_path: Path):
    args = ["--interpolate", "3", "--frames", "6", "--fps", "10", "--seed", "4"]
    out = cli.ok("sample", dcgan_run, *args, "--out", "walk.gif").stdout
    assert "6-frame latent walk" in out
    with Image.open(tmp_path / "walk.gif") as im:
        assert im.format == "GIF"
        assert im.n_frames == 6
        params = json.loads(im.info["comment"])
    assert (params["run"], params["keyframes"], params["frames"], params["seed"]) == (
        "tiny-dcgan", 3, 6, 4,
    )  # fmt: skip


def test_interpolate_with_a_label_on_a_conditional_run(cli: Cli, cgan_run: Path, tmp_path: Path):
    cli.ok(
        "sample", cgan_run, "--interpolate", "2", "--frames", "4", "--label", "3", "--out", "w.gif"
    )
    with Image.open(tmp_path / "w.gif") as im:
        assert im.n_frames == 4
        assert json.loads(im.info["comment"])["label"] == "3"


def test_interpolate_writes_an_mp4(cli: Cli, dcgan_run: Path, tmp_path: Path):
    cli.ok("sample", dcgan_run, "--interpolate", "3", "--frames", "6", "--out", "walk.mp4")
    data = (tmp_path / "walk.mp4").read_bytes()
    assert len(data) > 100
    assert data[4:8] == b"ftyp"


# ---------------------------------------------------------------------------------------
# encode
# ---------------------------------------------------------------------------------------


def test_encode_writes_latents_and_reconstructions(cli: Cli, vae_run: Path, tmp_path: Path):
    out = cli.ok(
        "encode", vae_run, "--data", "digits", "--out", "z.npz", "--recon-grid", "r.png"
    ).stdout
    assert "encoded 1797 images to 8-d latents" in out
    with np.load(tmp_path / "z.npz") as z:
        assert z["mu"].shape == (1797, 8)
        assert z["logvar"].shape == (1797, 8)
        assert np.isfinite(z["mu"]).all()
        assert sorted(set(z["labels"].tolist())) == list(range(10))
        assert z["class_names"].tolist() == [str(d) for d in range(10)]
    params = read_png_params(tmp_path / "r.png")
    assert (params["kind"], params["run"], params["source"]) == (
        "reconstructions",
        "tiny-vae",
        "digits",
    )


def test_encode_an_image_folder_records_the_files(
    cli: Cli, vae_run: Path, tmp_path: Path, image_folder
):
    folder = image_folder(tmp_path / "flat", 5)
    cli.ok("encode", vae_run, "--data", folder, "--out", "z.npz")
    with np.load(tmp_path / "z.npz") as z:
        assert z["mu"].shape == (5, 8)
        assert [Path(f).name for f in z["files"]] == [f"img{i:03d}.png" for i in range(5)]
        assert z["labels"].tolist() == [-1] * 5  # unlabeled


# ---------------------------------------------------------------------------------------
# runs list / show
# ---------------------------------------------------------------------------------------


def test_runs_list_shows_every_run(cli: Cli, dcgan_run: Path, cgan_run: Path, vae_run: Path):
    out = cli.ok("runs", "list", "--runs-dir", dcgan_run.parent).stdout
    rows = {
        tuple(cell.strip() for cell in line.split("│")[1:4])
        for line in out.splitlines()
        if line.startswith("│")
    }
    assert ("tiny-dcgan", "dcgan", "digits") in rows
    assert ("tiny-cgan", "cgan", "digits") in rows
    assert ("tiny-vae", "vae", "digits") in rows


def test_runs_list_reads_genforge_runs(cli: Cli, vae_run: Path, by_name):
    assert "tiny-vae" in cli.ok("runs", "list").stdout


def test_runs_list_on_an_empty_folder(cli: Cli, tmp_path: Path):
    assert "no runs in" in cli.ok("runs", "list", "--runs-dir", tmp_path / "none").stdout


def test_runs_show_names_the_model_and_step(cli: Cli, vae_run: Path):
    out = cli.ok("runs", "show", "tiny-vae", "--runs-dir", vae_run.parent).stdout
    assert out.splitlines()[0].startswith("tiny-vae  vae on digits")
    assert "step 2 of 2" in out
    assert "latent_dim: 8" in out
    assert str(vae_run / "README.md") in out


def test_runs_list_never_truncates_run_names(
    cli: Cli, dcgan_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    name = "faces-dcgan-64px-lr2e-4-batch128-long"
    shutil.copytree(dcgan_run, tmp_path / "runs" / name)
    monkeypatch.setattr(console, "width", 80)  # a terminal's default, and rich's in pipes
    assert name in cli.ok("runs", "list", "--runs-dir", tmp_path / "runs").stdout


def test_sample_accepts_runs_dir(cli: Cli, dcgan_run: Path, tmp_path: Path):
    cli.ok("sample", "tiny-dcgan", "--runs-dir", dcgan_run.parent, "--n", "2", "--grid", "g.png")
    assert read_png_params(tmp_path / "g.png")["run"] == "tiny-dcgan"
