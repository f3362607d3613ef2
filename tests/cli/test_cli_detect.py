"""`genforge detect` end to end on planted files: a genforge output, the same output
re-encoded as JPEG, a real image, a generated image from another family, an opted-out work's
near-copy, text with and without a run's watermark; each gets the right evidence. Unreadable
files are reported while the others are judged; an empty folder is a one-line error."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genforge.safety.marking import encode_png
from genforge.safety.provenance import ProvenanceStore, default_db_path

from .conftest import Cli


def noise(seed: int, size: int = 16) -> np.ndarray:
    """A "real" image: sensor-like noise over a smooth gradient."""
    rng = np.random.default_rng(seed)
    base = np.linspace(40, 200, size)[None, :] + rng.normal(0, 40, (size, size))
    return base.clip(0, 255).astype(np.uint8)


def flat(seed: int, size: int = 16) -> np.ndarray:
    """A "generated" image of the family the detector learns: flat grey, a faint ripple."""
    rng = np.random.default_rng(seed)
    return (
        np.full((size, size), rng.integers(40, 200)) + rng.integers(-2, 3, (size, size))
    ).astype(np.uint8)


def save(folder: Path, images: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True)
    for i, a in enumerate(images):
        Image.fromarray(a).save(folder / f"{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def detector_run(tmp_path_factory) -> tuple[Path, str]:
    """A detector trained on noisy "real" images vs flat "generated" ones."""
    from genforge.api import train_detector

    root = tmp_path_factory.mktemp("detect")
    real = save(root / "real", [noise(i) for i in range(80)])
    fake = save(root / "fake", [flat(100 + i) for i in range(80)])
    run, result = train_detector(real, fake, name="det", runs_dir=root / "runs", image_size=16,
                                 steps=80, batch_size=32, width=8, val_fraction=0.3)  # fmt: skip
    assert result.value("auc") > 0.95
    return root / "runs", run.name


def by_name(results: list[dict]) -> dict[str, dict]:
    return {Path(r["path"]).name: r for r in results}


def kinds(result: dict) -> list[str]:
    return [e["kind"] for e in result["evidence"]]


def test_planted_images_get_the_right_evidence(cli: Cli, tmp_path: Path, detector_run, monkeypatch):
    runs, det = detector_run
    store = ProvenanceStore(default_db_path(runs))
    files = tmp_path / "files"
    files.mkdir()
    # (1) a served genforge output: structured, 64 px, recorded in the provenance store
    yy, xx = np.mgrid[0:64, 0:64]
    arr = ((np.sin(xx / 5.0) * np.cos(yy / 7.0) + 1) * 120 + 10).astype(np.uint8)[:, :, None]
    png = encode_png(arr, {"run": "some-ddpm", "seed": 3}, "0badcafe")
    store.add("0badcafe", who="t", run="some-ddpm", modality="image", params={"seed": 3},
              content=png.content, phash_hex=png.phash, watermarked=png.watermarked, path="x")  # fmt: skip
    (files / "output.png").write_bytes(png.content)
    # (2) the same output re-encoded as JPEG (new bytes, no PNG chunk)
    Image.open(io.BytesIO(png.content)).save(files / "output-copy.jpg", quality=70)
    # (3) a real image, (4) a generated image of a family the store never saw
    Image.fromarray(noise(999)).save(files / "real.png")
    Image.fromarray(flat(999)).save(files / "other-family.png")
    # (5) a near-copy of a work on the opt-out list
    Image.fromarray(arr[:, :, 0]).resize((48, 48)).save(tmp_path / "their-work.png")
    monkeypatch.setenv("GENFORGE_OPTOUT", str(tmp_path / "optout.txt"))
    cli.ok("optout", "add", tmp_path / "their-work.png")

    out = cli.ok("detect", files, "--detector", det, "--runs-dir", runs, "--json").stdout
    r = by_name(json.loads(out))
    assert set(r) == {"output.png", "output-copy.jpg", "real.png", "other-family.png"}
    assert r["output.png"]["verdict"] == "generated" and kinds(r["output.png"])[0] == "sha256"
    assert r["output.png"]["score"] == 1.0
    copy = r["output-copy.jpg"]
    assert copy["verdict"] == "generated" and kinds(copy)[0] == "phash"
    assert copy["evidence"][0]["output"] == "0badcafe" and 0.99 < copy["score"] < 1
    assert "opt-out" in kinds(copy) and "opt-out" in kinds(r["output.png"])
    assert r["real.png"]["verdict"] == "real" and kinds(r["real.png"]) == ["detector"]
    other = r["other-family.png"]
    assert other["verdict"] == "generated" and kinds(other) == ["detector"]
    rates = other["evidence"][0]["error_rates"]
    assert {"fpr", "fpr_ci", "threshold", "auc"} <= set(rates) and rates["fpr_ci"][0] <= rates[
        "fpr"
    ]
    assert other["score"] > rates["threshold"] > r["real.png"]["score"]
    # without a detector the real image and the other family are unknown: no marks either way
    r = by_name(json.loads(cli.ok("detect", files, "--runs-dir", runs, "--json").stdout))
    assert r["real.png"]["verdict"] == r["other-family.png"]["verdict"] == "unknown"
    assert r["output.png"]["verdict"] == "generated"
    # the table names each verdict and its evidence
    table = cli.ok("detect", files, "--detector", det, "--runs-dir", runs).stdout
    assert "sha256" in table and "phash" in table and "opt-out" in table


def test_a_sample_png_is_a_claim_and_text_without_models_is_unknown(
    cli: Cli, tmp_path: Path, dcgan_run
):
    cli.ok(
        "sample", dcgan_run, "--n", "1", "--out-dir", tmp_path / "s", "--runs-dir", dcgan_run.parent
    )
    sample = next((tmp_path / "s").glob("*.png"))
    (tmp_path / "note.txt").write_text("A note a person wrote by hand.")
    r = by_name(json.loads(cli.ok("detect", sample, tmp_path / "note.txt", "--json").stdout))
    claim = r[sample.name]
    assert claim["verdict"] == "generated" and kinds(claim) == ["png-metadata"]
    assert claim["score"] is None and "claim" in claim["evidence"][0]["detail"]
    assert r["note.txt"]["verdict"] == "unknown" and r["note.txt"]["evidence"] == []


def test_bad_input_is_one_line_and_the_other_files_are_judged(cli: Cli, tmp_path: Path):
    good = tmp_path / "good.png"
    Image.fromarray(noise(1)).save(good)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = cli("detect", good, broken, tmp_path / "missing.png", "--json")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken.png" in lines[0] and "1 more" in lines[0]
    r = by_name(json.loads(result.stdout))
    assert r["good.png"]["verdict"] == "unknown" and "error" not in r["good.png"]
    assert "readable image" in r["broken.png"]["error"]
    assert "No such file" in r["missing.png"]["error"]
    (tmp_path / "empty").mkdir()
    assert "empty folder" in cli.fails("detect", tmp_path / "empty")
