"""Datasheets, declared use and opt-outs end to end: `data inspect` shows or asks for a
datasheet, a run records each source's datasheet and content hash (kept on --resume), the model
card and `runs show` flag licences that forbid the declared use, opted-out files are skipped and
listed, and bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from .conftest import Cli, write_image_folder

TINY = ["--image-size", "8", "--steps", "2", "--batch-size", "8", "--set", "ngf=8",
        "--set", "ndf=8", "--set", "latent_dim=8"]  # fmt: skip


def structured_folder(root: Path, n: int = 12) -> Path:
    """Images with structure (blocks), so each has a perceptual hash of its own."""
    root.mkdir(parents=True)
    for i in range(n):
        blocks = np.random.default_rng(i).integers(0, 256, (4, 4), dtype=np.uint8)
        Image.fromarray(blocks.repeat(4, 0).repeat(4, 1)).save(root / f"img{i:02d}.png")
    return root


def config(run: Path) -> dict:
    return yaml.safe_load((run / "config.yaml").read_text())


def test_nc_source_in_a_commercial_run_is_flagged(cli: Cli, tmp_path: Path):
    data = write_image_folder(tmp_path / "scans", 12)
    (data / "datasheet.yaml").write_text(
        "source: scans from our lab\nlicense: CC-BY-NC-4.0\nconsent: yes\n"
        "contains_personal_data: false\n"
    )
    runs = tmp_path / "runs"
    cli.ok("train", "dcgan", "--data", data, "--name", "nc", "--runs-dir", runs,
           "--use", "commercial", *TINY)  # fmt: skip
    prov = config(runs / "nc")["provenance"]
    assert prov["use"] == "commercial"
    (src,) = prov["sources"]
    assert src["datasheet"]["license"] == "CC-BY-NC-4.0"
    assert src["content"]["files"] == 12  # the datasheet is not data

    shown = cli.ok("runs", "show", "nc", "--runs-dir", runs).output
    assert "licence conflict" in shown and "forbids commercial use" in shown
    card = (runs / "nc" / "README.md").read_text()
    assert "## Training data" in card and "CC-BY-NC-4.0" in card
    assert "forbids commercial use" in card

    # the same source for research: nothing to flag
    cli.ok("train", "dcgan", "--data", data, "--name", "ok", "--runs-dir", runs,
           "--use", "research", *TINY)  # fmt: skip
    assert "licence conflict" not in cli.ok("runs", "show", "ok", "--runs-dir", runs).output


def test_embedded_data_records_its_known_licence(cli: Cli, tmp_path: Path):
    runs = tmp_path / "runs"
    cli.ok("train", "dcgan", "--data", "digits", "--name", "d", "--runs-dir", runs, *TINY)
    (src,) = config(runs / "d")["provenance"]["sources"]
    assert src["datasheet"]["license"] == "CC-BY-4.0" and src["datasheet"]["path"] == "embedded"
    assert "CC-BY-4.0" in (runs / "d" / "README.md").read_text()


def test_opted_out_files_are_skipped_and_listed(cli: Cli, tmp_path: Path, monkeypatch):
    data = structured_folder(tmp_path / "imgs")
    # a re-encoded, resized copy of img03 is what the artist asked to remove
    copy = tmp_path / "theirs.jpg"
    Image.open(data / "img03.png").resize((40, 40)).convert("RGB").save(copy, quality=85)
    listfile = tmp_path / "optout.txt"
    monkeypatch.setenv("GENFORGE_OPTOUT", str(listfile))
    cli.ok("optout", "add", copy, data / "img07.png")
    listed = cli.ok("optout", "list").output
    assert "1 exact" not in listed and "2 exact, 2 perceptual" in listed and "theirs.jpg" in listed

    runs = tmp_path / "runs"
    cli.ok("train", "dcgan", "--data", data, "--name", "o", "--runs-dir", runs, *TINY)
    report = json.loads((runs / "o" / "data_report.json").read_text())
    reasons = {s["path"]: s["reason"] for s in report["skipped"]}
    assert "perceptually" in reasons["img03.png"] and "exact copy" in reasons["img07.png"]
    assert report["num_images"] == 10 and report["content"]["files"] == 10
    assert "opt-out list: 2" in (runs / "o" / "README.md").read_text()


def test_datasheets_survive_resume(cli: Cli, tmp_path: Path):
    data = write_image_folder(tmp_path / "scans", 12)
    (data / "datasheet.yaml").write_text("license: CC-BY-ND-4.0\n")
    runs = tmp_path / "runs"
    cli.ok("train", "dcgan", "--data", data, "--name", "r", "--runs-dir", runs,
           "--use", "research", *TINY)  # fmt: skip
    before = config(runs / "r")["provenance"]
    report_before = json.loads((runs / "r" / "data_report.json").read_text())
    (data / "datasheet.yaml").write_text("license: MIT\n")  # edited after the run started
    cli.ok("train", "--resume", "r", "--runs-dir", runs, "--steps", "3")
    after = config(runs / "r")
    assert after["provenance"] == before and after["train"]["steps"] == 3
    assert json.loads((runs / "r" / "data_report.json").read_text()) == report_before
    assert "forbids derivatives" in cli.ok("runs", "show", "r", "--runs-dir", runs).output
    msg = cli.fails("train", "--resume", "r", "--runs-dir", runs, "--steps", "4",
                    "--use", "commercial")  # fmt: skip
    assert "research" in msg


def test_data_inspect_shows_the_datasheet_or_warns(cli: Cli, tmp_path: Path):
    data = write_image_folder(tmp_path / "scans", 4)
    result = cli.ok("data", "inspect", data)
    assert "no datasheet" in result.stderr and "datasheet.yaml" in result.stderr
    (data / "datasheet.yaml").write_text("license: cc-by-4.0\nsource: lab\n")
    out = cli.ok("data", "inspect", data, "--json").stdout
    assert json.loads(out)["datasheet"]["license"] == "CC-BY-4.0"
    text = tmp_path / "notes.txt"
    text.write_text("some notes " * 50)
    (tmp_path / "notes.txt.datasheet.yaml").write_text("license: MIT\n")
    assert "MIT" in cli.ok("data", "inspect", text).output
    assert "PSF-2.0" in cli.ok("data", "inspect", "pydoc").output


def test_unknown_spdx_id_is_one_line(cli: Cli, tmp_path: Path):
    data = write_image_folder(tmp_path / "scans", 4)
    (data / "datasheet.yaml").write_text("license: CC-BY-MAYBE-4.0\n")
    for args in (
        ("data", "inspect", data),
        ("train", "dcgan", "--data", data, "--runs-dir", tmp_path / "runs", *TINY),
    ):
        msg = cli.fails(*args)
        assert "unknown SPDX licence id CC-BY-MAYBE-4.0" in msg
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert "unknown --use" in cli.fails("train", "dcgan", "--use", "military", *TINY)


def test_text_and_audio_sources_skip_opted_out_files(cli: Cli, tmp_path: Path, monkeypatch):
    from genforge.data.audio import load_audio
    from genforge.data.text import TextDataConfig, load_corpus

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"d{i}.txt").write_text(f"document number {i} " * 40)
    (corpus / "datasheet.yaml").write_text("license: CC0-1.0\n")
    monkeypatch.setenv("GENFORGE_OPTOUT", str(tmp_path / "optout.txt"))
    cli.ok("optout", "add", corpus / "d1.txt")
    c = load_corpus(TextDataConfig(source=str(corpus)))
    assert sorted(c.report.content and c.where) == ["d0.txt", "d2.txt"]
    assert ("d1.txt", "opted out (exact copy of a listed work)") in c.report.skipped
    assert c.report.content["files"] == 2

    import soundfile as sf

    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(3):
        t = np.arange(1600) / 16000
        sf.write(clips / f"c{i}.wav", np.sin(2 * np.pi * 220 * (i + 1) * t), 16000)
    cli.ok("optout", "add", clips / "c2.wav")
    ds = load_audio(str(clips), 16000, 0.1)
    assert ds.report.num_clips == 2 and ds.report.content["files"] == 2
    assert any(s.path == "c2.wav" and "opted out" in s.reason for s in ds.report.skipped)


def test_a_table_records_its_datasheet_and_hash(cli: Cli, tmp_path: Path):
    rng = np.random.default_rng(0)
    csv = tmp_path / "shop.csv"
    rows = ["amount,country"] + [f"{rng.normal(50, 10):.2f},{rng.choice(['DE', 'FR'])}"
                                 for _ in range(40)]  # fmt: skip
    csv.write_text("\n".join(rows) + "\n")
    (tmp_path / "shop.csv.datasheet.yaml").write_text("license: CC-BY-SA-4.0\nconsent: yes\n")
    runs = tmp_path / "runs"
    cli.ok("train", "copula", "--data", csv, "--name", "t", "--runs-dir", runs, "--steps", "2",
           "--use", "commercial")  # fmt: skip
    (src,) = config(runs / "t")["provenance"]["sources"]
    assert src["datasheet"]["license"] == "CC-BY-SA-4.0" and src["content"]["files"] == 1
    assert "licence conflict" not in cli.ok("runs", "show", "t", "--runs-dir", runs).output
