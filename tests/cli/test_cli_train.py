"""`genforge train` end to end: every model family trains tiny, writes a complete run, samples;
--resume continues, default names stay unique, --set lands in config.yaml; `genforge models`."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import yaml
from PIL import Image
from safetensors.torch import load_file

from genforge.core.checkpoint import load_state
from genforge.core.images import read_png_params
from genforge.core.run import Run
from genforge.models import MODELS

from .conftest import Cli

FAMILIES = ["gan", "dcgan", "cgan", "wgan-gp", "hinge-sn", "vae", "cvae"]
# trained and sampled (or translated) in test_cli_diffusion.py
IMAGE_TO_IMAGE_FAMILIES = ["ddpm", "cddpm", "t2i", "sr", "cyclegan", "pix2pix"]
# trained on sprites + attributes.csv and sampled in test_cli_characters.py
ATTRIBUTE_FAMILIES = ["attrgan"]
# classifies real vs generated images: trained and evaluated in test_cli_detector.py
DETECTOR_FAMILIES = ["detector"]


def read_meta(run: Path) -> dict:
    return json.loads((run / "model" / "meta.json").read_text())


def read_config(run: Path) -> dict:
    return yaml.safe_load((run / "config.yaml").read_text())


def read_metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("model", FAMILIES)
def test_train_then_sample_writes_a_complete_run(cli: Cli, tmp_path: Path, model: str):
    run = cli.train(model, tmp_path / "runs", f"run-{model}")

    cfg = read_config(run)
    assert (cfg["model"], cfg["data"]["source"], cfg["train"]["steps"]) == (model, "digits", 2)
    assert cfg["spec"]["size"] == 8 and cfg["spec"]["channels"] == 1

    weights = load_file(run / "model" / "model.safetensors")
    networks = {key.split(".")[0] for key in weights}
    assert networks == ({"vae"} if "vae" in model else {"generator", "discriminator"})
    meta = read_meta(run)
    assert (meta["model"], meta["step"]) == (model, 2)

    preview = run / "samples" / "latest.png"
    assert read_png_params(preview)["step"] == 2
    assert read_png_params(preview)["run"] == run.name

    records = read_metrics(run)
    assert records[-1]["step"] == 2
    losses = {k: v for k, v in records[-1].items() if k.startswith("loss")}
    assert losses and all(math.isfinite(v) for v in losses.values())

    card = (run / "README.md").read_text()
    assert card.startswith(f"# {run.name}\n") and f"**{model}**" in card
    events = list((run / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0

    cli.ok("sample", run, "--n", "4", "--grid", tmp_path / "g.png", "--seed", "1")
    params = read_png_params(tmp_path / "g.png")
    assert (params["run"], params["model"], params["step"], params["n"]) == (run.name, model, 2, 4)
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode == "L"  # digits are grayscale
        w, h = im.size
    # 8 px tiles with 2 px padding: the grid holds at least the 4 images asked for.
    assert (w - 2) % 10 == 0 and (h - 2) % 10 == 0
    assert (w - 2) // 10 * ((h - 2) // 10) >= 4


def test_resume_continues_to_the_new_step_count(cli: Cli, tmp_path: Path):
    runs = tmp_path / "runs"
    run = cli.train("dcgan", runs, "res")
    before = (run / "model" / "model.safetensors").read_bytes()
    assert read_meta(run)["step"] == 2

    result = cli.ok("train", "dcgan", "--resume", "res", "--steps", "4", "--runs-dir", runs)

    assert "at step 4" in result.stdout
    assert read_meta(run)["step"] == 4
    assert load_state(Run(run))["step"] == 4  # optimizer state saved with the weights
    assert read_config(run)["train"]["steps"] == 4
    assert (run / "model" / "model.safetensors").read_bytes() != before
    assert read_metrics(run)[-1]["step"] == 4
    assert read_png_params(run / "samples" / "latest.png")["step"] == 4


def test_resume_by_run_path_and_via_genforge_runs(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    runs = tmp_path / "elsewhere"
    run = cli.train("vae", runs, "v")
    monkeypatch.setenv("GENFORGE_RUNS", str(runs))
    cli.ok("train", "--resume", "v", "--steps", "3")  # the model name may be left out
    assert read_meta(run)["step"] == 3
    cli.ok("train", "vae", "--resume", run, "--steps", "4")
    assert read_meta(run)["step"] == 4


def test_default_run_names_are_unique(cli: Cli, tmp_path: Path):
    runs = tmp_path / "runs"
    args = ["train", "dcgan", "--data", "digits", "--runs-dir", runs, *cli.tiny("dcgan")]

    first = cli.ok(*args)
    second = cli.ok(*args)

    assert sorted(p.name for p in runs.iterdir()) == ["digits-dcgan", "digits-dcgan-2"]
    assert "run digits-dcgan at step 2" in first.stdout
    assert "run digits-dcgan-2 at step 2" in second.stdout
    assert read_config(runs / "digits-dcgan-2")["name"] == "digits-dcgan-2"
    assert read_meta(runs / "digits-dcgan")["step"] == 2  # the first run is left alone


def test_genforge_runs_env_is_the_default_runs_dir(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("GENFORGE_RUNS", str(tmp_path / "from-env"))
    cli.ok("train", "vae", "--data", "digits", *cli.tiny("vae"))
    assert read_meta(tmp_path / "from-env" / "digits-vae")["step"] == 2


def test_set_overrides_land_in_config(cli: Cli, tmp_path: Path):
    run = cli.train(
        "dcgan", tmp_path / "runs", "cfg",
        "--set", "ema_decay=0.99", "--set", "lr_schedule=cosine", "--set", "val_fraction=0.2",
        "--set", "betas=[0.1, 0.8]", "--set", "d_norm=none", "--lr", "0.001", "--seed", "3",
    )  # fmt: skip
    cfg = read_config(run)
    assert cfg["model_config"]["ngf"] == 8
    assert cfg["model_config"]["ndf"] == 8
    assert cfg["model_config"]["latent_dim"] == 8
    assert cfg["model_config"]["d_norm"] == "none"
    assert cfg["train"]["ema_decay"] == 0.99
    assert cfg["train"]["lr_schedule"] == "cosine"
    assert cfg["train"]["betas"] == [0.1, 0.8]
    assert cfg["train"]["lr"] == 0.001
    assert cfg["train"]["seed"] == 3
    assert cfg["data"]["val_fraction"] == 0.2
    # The held-out share follows the override: 1797 digits, 20 % validation.
    report = json.loads((run / "data_report.json").read_text())
    assert (report["train"], report["val"]) == (1797 - 359, 359)


def test_train_on_a_labeled_image_folder(pets_cgan_run: Path):
    cfg = read_config(pets_cgan_run)
    assert cfg["spec"]["class_names"] == ["cats", "dogs"]
    assert cfg["spec"]["num_classes"] == 2
    assert Path(cfg["data"]["source"]).name == "pets"
    report = json.loads((pets_cgan_run / "data_report.json").read_text())
    assert report["class_counts"] == {"cats": 12, "dogs": 12}
    assert report["train"] + report["val"] == 24


def test_models_lists_every_model(cli: Cli):
    image_models = {n for n, e in MODELS.items()
                    if e.modality in ("image", "captioned-image", "image-pair")}  # fmt: skip
    assert image_models == (set(FAMILIES) | set(IMAGE_TO_IMAGE_FAMILIES)
                            | set(ATTRIBUTE_FAMILIES) | set(DETECTOR_FAMILIES))  # fmt: skip
    out = cli.ok("models").stdout
    rows = {line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")}
    assert set(MODELS) <= rows


def test_demo_writes_a_class_grid(cli: Cli, tmp_path: Path):
    runs = tmp_path / "runs"
    out = cli.ok("demo", "--steps", "2", "--runs-dir", runs).stdout
    grid = runs / "digits-cgan" / "demo-grid.png"
    assert str(grid) in out
    params = read_png_params(grid)
    assert (params["kind"], params["step"]) == ("class-grid", 2)
    assert params["rows"] == ",".join(str(d) for d in range(10))
    with Image.open(grid) as im:
        assert im.size == (10 * 18 + 2, 10 * 18 + 2)  # 10x10 tiles of 16 px + 2 px padding


def test_models_conditional_column_matches_the_configs(cli: Cli):
    out = cli.ok("models").stdout
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines()]
    column = {row[0]: row[2] for row in cells if len(row) == 3 and row[0]}
    for name, entry in MODELS.items():
        settable = "conditional" in {f.name for f in dataclasses.fields(entry.family.Config)}
        if entry.model.get("conditional"):
            assert column[name] == "yes", name
        elif settable:
            assert column[name] == "optional", name
        else:
            assert column[name] not in ("yes", "optional"), name
