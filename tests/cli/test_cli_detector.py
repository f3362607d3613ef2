"""`genforge train detector --real ... --fake RUN` samples the run, trains through the shared
trainer into a normal run folder, and `genforge eval` measures it on an unseen family."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .conftest import Cli, write_image_folder

DETECTOR_TINY = ["--image-size", "8", "--steps", "20", "--batch-size", "16", "--set", "width=8"]


def test_train_detector_on_a_run_then_eval_on_an_unseen_family(
    cli: Cli, tmp_path: Path, dcgan_run: Path, vae_run: Path
):
    runs = tmp_path / "runs"
    out = cli.ok(
        "train", "detector", "--real", "digits", "--fake", dcgan_run, "--samples", "120",
        "--name", "det", "--runs-dir", runs, *DETECTOR_TINY,
    ).output  # fmt: skip
    assert "AUC, same generator" in out and "false-positive rate" in out
    run = runs / "det"
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["model"] == "detector" and cfg["spec"]["class_names"] == ["generated", "real"]
    staged = Path(cfg["data"]["source"])
    assert len(list((staged / "generated").glob("*.png"))) == 120
    assert (run / "model" / "model.safetensors").exists() and (run / "README.md").exists()
    # digits are CC-BY-4.0 and so is what the dcgan learned from: the staged data says so
    assert cfg["provenance"]["sources"][0]["datasheet"]["license"] == "CC-BY-4.0"
    assert "genforge detect photo.png --detector det" in (run / "README.md").read_text()

    cli.ok("eval", "det", "--runs-dir", runs, "--eval-fake", vae_run, "--n", "50", "--fpr", "0.1")
    record = json.loads((run / "detector.json").read_text())
    assert record["calibration"]["target_fpr"] == 0.1 and "auc_unseen" in record
    card = (run / "README.md").read_text()
    assert "## Detection (measured on held-out images)" in card and "10% false-positive" in card
    assert "is a detector" in cli.fails("sample", "det", "--runs-dir", runs)


def test_detector_options_errors(cli: Cli, tmp_path: Path):
    assert "train a detector, not dcgan" in cli.fails("train", "dcgan", "--real", "digits")
    assert "both --real and --fake" in cli.fails("train", "detector", "--real", "digits")
    msg = cli.fails("train", "detector", "--real", "digits", "--fake", tmp_path / "none")
    assert "none" in msg
    few = write_image_folder(tmp_path / "few", 10)
    fake = write_image_folder(tmp_path / "fake", 10, seed=1)
    msg = cli.fails("train", "detector", "--real", few, "--fake", fake, "--runs-dir",
                    tmp_path / "runs", *DETECTOR_TINY)  # fmt: skip
    assert "needs at least 8" in msg and "val_fraction" in msg
    assert not (tmp_path / "runs" / ".detector-data" / "few-vs-fake-detector").exists()
