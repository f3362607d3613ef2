"""`genforge train cyclegan|pix2pix --domain-a A --domain-b B` and `genforge translate`."""

import json

import numpy as np
import yaml
from PIL import Image

import genforge

TINY = ["--image-size", "8", "--steps", "2", "--batch-size", "4", "--set", "width=8"]


def pixels(path):
    return np.asarray(Image.open(path), dtype=np.int16)


def test_cyclegan_on_two_domain_folders_then_translate(cli, image_folder, tmp_path):
    photos = image_folder(tmp_path / "photos", 6, size=(8, 8))
    paintings = image_folder(tmp_path / "paintings", 5, size=(8, 8), seed=1)
    runs = tmp_path / "runs"  # the commands run in tmp_path: relative folders as in the issue
    cli.ok("train", "cyclegan", "--domain-a", "./photos", "--domain-b", "./paintings", "--name",
           "cg", "--runs-dir", runs, *TINY, "--set", "n_res=1")  # fmt: skip
    cfg = yaml.safe_load((runs / "cg" / "config.yaml").read_text())
    assert cfg["spec"]["class_names"] == ["photos", "paintings"]  # A first, as given
    assert cfg["data"]["domain_b"] == str(paintings.resolve())
    report = json.loads((runs / "cg" / "data_report.json").read_text())
    assert report["class_counts"] == {"photos": 6, "paintings": 5}
    out = cli.ok("translate", "cg", "--runs-dir", runs, "--input", photos / "img000.png",
                 "--out", tmp_path / "painting.png").output  # fmt: skip
    assert "photos -> paintings" in out
    assert pixels(tmp_path / "painting.png").shape == (8, 8, 3)
    cli.ok("train", "--resume", "cg", "--runs-dir", runs, "--steps", "3")  # reloads both folders
    assert json.loads((runs / "cg" / "model" / "meta.json").read_text())["step"] == 3
    assert cfg["modality"] == "image-pair"
    pipe = genforge.load(runs / "cg", device="cpu")  # the Python API: a pipeline that translates
    assert pipe.model.task == "translate" and pipe.spec.class_names == ("photos", "paintings")
    assert "use genforge translate" in cli.fails("sample", "cg", "--runs-dir", runs)


def test_domain_options_fail_in_one_line(cli, image_folder, tmp_path):
    a = image_folder(tmp_path / "a", 4, size=(8, 8))
    (tmp_path / "empty").mkdir()
    runs = ["--runs-dir", tmp_path / "runs"]
    assert "--domain-a needs its partner" in cli.fails("train", "cyclegan", "--domain-a", a, *runs)
    assert "--domain-b needs its partner" in cli.fails("train", "cyclegan", "--domain-b", a, *runs)
    assert "do not go together" in cli.fails(
        "train", "cyclegan", "--data", a, "--domain-a", a, "--domain-b", a, *runs
    )
    assert "--domain-b: no such folder" in cli.fails(
        "train", "cyclegan", "--domain-a", a, "--domain-b", tmp_path / "nope", *runs
    )
    assert "--domain-a" in (msg := cli.fails(
        "train", "cyclegan", "--domain-a", tmp_path / "empty", "--domain-b", a, *runs
    )) and "is empty" in msg  # fmt: skip
    assert "not a folder" in cli.fails(
        "train", "pix2pix", "--domain-a", a, "--domain-b", a / "img000.png", *runs
    )
    assert "two-domain models (cyclegan, pix2pix); dcgan trains on --data" in cli.fails(
        "train", "dcgan", "--domain-a", a, "--domain-b", a, *runs
    )
    assert "pix2pix learns from paired folders" in cli.fails("train", "pix2pix", "--data", a, *runs)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_pix2pix_pairs_by_name_trains_and_translates(cli, image_folder, tmp_path):
    sketches = image_folder(tmp_path / "sketches", 5, size=(8, 8), mode="L")
    photos = image_folder(tmp_path / "photos", 5, size=(8, 8), seed=1)
    Image.new("L", (8, 8), 0).save(sketches / "lonely.png")  # no partner: reported, skipped
    Image.new("RGB", (8, 8), 0).save(photos / "img004.jpg")  # pairs across extensions
    (photos / "img004.png").unlink()
    runs = tmp_path / "runs"
    out = cli.ok("train", "pix2pix", "--domain-a", sketches, "--domain-b", photos, "--name", "pp",
                 "--runs-dir", runs, *TINY, "--set", "val_fraction=0").output  # fmt: skip
    assert "done" in out
    cfg = yaml.safe_load((runs / "pp" / "config.yaml").read_text())
    assert cfg["spec"]["channels"] == 3 and cfg["data"]["paired"] is True  # gray A promoted
    report = json.loads((runs / "pp" / "data_report.json").read_text())
    assert report["num_images"] == 5 and report["kind"] == "paired-folders"
    assert [s["path"] for s in report["skipped"]] == ["sketches/lonely.png"]
    assert "no file named lonely.* in photos" in report["skipped"][0]["reason"]
    assert (runs / "pp" / "samples" / "latest.png").exists()
    card = (runs / "pp" / "README.md").read_text()
    assert f"`{sketches.resolve()}` -> `{photos.resolve()}` (paired by name)" in card
    assert "genforge translate pp --input a.png" in card and "genforge sample" not in card

    cli.ok("translate", "pp", "--runs-dir", runs, "--input", sketches / "img000.png",
           "--out", tmp_path / "photo.png")  # fmt: skip
    assert pixels(tmp_path / "photo.png").shape == (8, 8, 3)
    assert "one way, a2b" in cli.fails("translate", "pp", "--runs-dir", runs, "--input",
                                       sketches / "img000.png", "--direction", "b2a")  # fmt: skip
    assert "use genforge translate" in cli.fails("sample", "pp", "--runs-dir", runs)
    assert (
        "holds out 0 sketches, 0 photos image(s) (val_fraction 0.0); evaluation needs at "
        "least 2 per domain" in cli.fails("eval", "pp", "--runs-dir", runs)
    )
    assert "evaluate it after training with genforge eval RUN" in cli.fails(
        "train", "pix2pix", "--domain-a", sketches, "--domain-b", photos, "--eval-every", "2",
        "--runs-dir", runs,
    )  # fmt: skip


def test_pix2pix_without_a_single_pair_fails(cli, image_folder, tmp_path):
    a = image_folder(tmp_path / "a", 3, size=(8, 8))
    b = tmp_path / "b"
    b.mkdir()
    Image.new("RGB", (8, 8)).save(b / "other.png")
    msg = cli.fails("train", "pix2pix", "--domain-a", a, "--domain-b", b,
                    "--runs-dir", tmp_path / "runs")  # fmt: skip
    assert "no image of a has a partner of the same name in b" in msg


def test_eval_of_a_translation_run_writes_report_and_fails_cleanly(cli, image_folder, tmp_path):
    a = image_folder(tmp_path / "a", 10, size=(16, 16), mode="L")
    b = image_folder(tmp_path / "b", 10, size=(16, 16), seed=1)
    runs = tmp_path / "runs"
    cli.ok("train", "pix2pix", "--domain-a", a, "--domain-b", b, "--name", "pp", "--runs-dir",
           runs, *TINY[2:], "--image-size", "16", "--set", "val_fraction=0.2")  # fmt: skip
    out = cli.ok("eval", "pp", "--runs-dir", runs).output
    assert "PSNR a → b vs ground truth" in out
    values = json.loads((runs / "pp" / "metrics.json").read_text())["values"]
    assert {"psnr_a2b", "ssim_a2b", "fd_domain_a2b"} <= set(values)
    assert (runs / "pp" / "report.html").exists() and (
        runs / "pp" / "translations-a2b.png"
    ).exists()
    assert "--utility does not apply to translation runs" in cli.fails(
        "eval", "pp", "--runs-dir", runs, "--utility"
    )
    Image.new("L", (16, 16), 255).save(a / "new.png")  # unpaired: skipped, same split
    cli.ok("eval", "pp", "--runs-dir", runs)
    Image.new("RGB", (16, 16), 255).save(b / "new.png")  # a new pair: the split would move
    assert "changed since training (8 training + 2 held-out items then, 9 + 2 now)" in cli.fails(
        "eval", "pp", "--runs-dir", runs
    )
    b.rename(tmp_path / "moved")
    msg = cli.fails("eval", "pp", "--runs-dir", runs)
    assert f"domain B folder {b.resolve()}, which no longer exists" in msg
