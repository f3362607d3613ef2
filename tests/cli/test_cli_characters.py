"""`genforge generate character` and `genforge recipe characters` on a tiny attrgan run, and the
other commands (sample) on such a run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genforge.core.images import read_png_params
from genforge.data.sprites import write_sprite_folder

from .conftest import Cli

TINY = ["--image-size", "16", "--steps", "2", "--batch-size", "8",
        "--set", "ngf=4", "--set", "ndf=4", "--set", "latent_dim=8"]  # fmt: skip
HAIR = "black,blonde,blue,brown,red"  # values of a CSV attribute are sorted


@pytest.fixture(scope="module")
def char_run(cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(runs dir, run) of attrgan trained 2 steps on 24 exported sprites + attributes.csv."""
    root = tmp_path_factory.mktemp("chars")
    csv_path = write_sprite_folder(root / "sprites", num_images=24, seed=0)
    runs = root / "runs"
    cli.ok("train", "attrgan", "--data", root / "sprites", "--attributes", csv_path,
           "--name", "tiny-chars", "--runs-dir", runs, *TINY)  # fmt: skip
    return runs, runs / "tiny-chars"


def test_generate_character_writes_pngs_with_the_asked_attributes_and_a_sheet(
    cli, char_run, tmp_path
):
    runs, run = char_run
    out = cli.ok("generate", "character", "--hair", "red", "--eyes=round", "--attr", "smile=yes",
                 "--n", "3", "--seed", "4", "--out", "chars", "--runs-dir", runs).stdout  # fmt: skip
    assert "3 characters from run 'tiny-chars'" in out
    pngs = sorted((tmp_path / "chars").glob("character-*.png"))
    assert len(pngs) == 3
    for p in pngs:
        params = read_png_params(p)
        attrs = json.loads(params["attributes"])
        assert (attrs["hair"], attrs["eyes"], attrs["smile"]) == ("red", "round", "yes")
        assert params["seed"] == 4 and params["run"] == "tiny-chars"
        assert set(attrs) == {"hair", "eyes", "smile", "skin", "accessory"}
    index = json.loads((tmp_path / "chars" / "sheet.json").read_text())
    assert [c["file"] for c in index["cells"]] == [p.name for p in pngs]
    assert Image.open(tmp_path / "chars" / "sheet.png").size == (3 * 16, 16)
    # the same seed gives the same characters
    cli.ok("generate", "character", "--model", run, "--hair", "red", "--eyes", "round",
           "--smile", "yes", "--n", "3", "--seed", "4", "--out", "again")  # fmt: skip
    for a, b in zip(pngs, sorted((tmp_path / "again").glob("character-*.png")), strict=True):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--hat", "yes"],
            f"unknown option or attribute --hat; attributes of this run: --hair {{{HAIR}}}",
        ),
        (
            ["--hair", "green"],
            f"unknown value 'green' for attribute 'hair'; valid: {HAIR.replace(',', ', ')}",
        ),
        (["--hair"], "--hair needs a value"),
        (["red"], "unexpected argument 'red'"),
        (["--attr", "hair"], "--attr takes NAME=VALUE"),
        (["--n", "0"], "--n must be at least 1"),
    ],
)
def test_generate_character_errors_are_one_line(cli, char_run, args, message):
    runs, _ = char_run
    assert message in cli.fails("generate", "character", *args, "--runs-dir", runs)


def test_generate_character_needs_an_attrgan_run(cli, tmp_path, char_run):
    assert "no trained attrgan run" in cli.fails("generate", "character", "--runs-dir", tmp_path)
    cli.ok("train", "dcgan", "--data", "digits", "--name", "d", "--runs-dir", tmp_path,
           "--image-size", "8", "--steps", "1", "--batch-size", "4", "--set", "ngf=4",
           "--set", "ndf=4", "--set", "latent_dim=4")  # fmt: skip
    msg = cli.fails("generate", "character", "--model", "d", "--runs-dir", tmp_path)
    assert "run 'd' is a dcgan run without attributes" in msg


def test_sample_works_on_an_attribute_run(cli, char_run, tmp_path):
    _, run = char_run
    cli.ok("sample", run, "--n", "4", "--grid", "g.png", "--seed", "1")
    assert Image.open(tmp_path / "g.png").size[0] > 16
    assert "needs a class-conditional model" in cli.fails("sample", run, "--label", "red")


def test_recipe_characters_evaluates_an_existing_run(cli, char_run, tmp_path):
    runs, run = char_run
    out = cli.ok("recipe", "characters", "--run", run.name, "--runs-dir", runs, "--out", "rep",
                 "--classifier-steps", "2", "--samples-per-combo", "2", "--max-combos", "4",
                 "--device", "cpu").stdout  # fmt: skip
    assert "verdict:" in out and (tmp_path / "rep" / "report.html").exists()
    assert (tmp_path / "rep" / "sprite-sheet.json").exists()
    assert "--demo uses the embedded sprites" in cli.fails(
        "recipe", "characters", "--demo", "--data", "x"
    )


def test_a_run_with_the_separate_classifier_trains_resumes_and_generates(cli, tmp_path):
    csv_path = write_sprite_folder(tmp_path / "sprites", num_images=16, seed=2)
    runs = tmp_path / "runs"
    cli.ok("train", "attrgan", "--data", tmp_path / "sprites", "--attributes", csv_path,
           "--name", "cls", "--runs-dir", runs, *TINY, "--set", "classifier_weight=1",
           "--set", "classifier_width=4", "--set", "diffaug=translation")  # fmt: skip
    cli.ok("train", "--resume", "cls", "--runs-dir", runs, "--steps", "3")
    log = [json.loads(line) for line in (runs / "cls" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in log if "cls_real_ce" in r]
    assert steps and steps[-1]["step"] == 3  # the classifier trained through the resumed step
    out = cli.ok("generate", "character", "--model", "cls", "--runs-dir", runs, "--hair", "red",
                 "--n", "2", "--out", "c").stdout  # fmt: skip
    assert "2 characters from run 'cls'" in out
    assert len(list((tmp_path / "c").glob("*.png"))) >= 2
