from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from genforge.cli.main import app
from genforge.core.errors import GenforgeError
from genforge.recipes.medical import (
    MedicalConfig,
    Staged,
    choose_generator,
    roughness,
    sample_audited,
)

TINY_GAN = ["--generator", "cgan", "--set", "ngf=8", "--set", "ndf=8", "--set", "latent_dim=8"]
# an untrained generator's samples are unlike any phantom: keep them (the filter has its own test)
TINY = ["--image-size", "16", "--steps", "2", "--seeds", "2", "--classifier-steps", "2",
        "--quality-filter", "none"]  # fmt: skip


def cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def phantoms_out(tmp_path_factory) -> tuple[Path, Path, str]:
    """The recipe end to end on the embedded phantoms at a tiny size (a few seconds)."""
    root = tmp_path_factory.mktemp("medical")
    out, runs = root / "aug", root / "runs"
    code, text = cli("recipe", "medical-augment", "--data", "phantoms", "--out", out,
                     "--target-per-class", "7", "--real-per-class", "4", *TINY, *TINY_GAN,
                     "--name", "med", "--runs-dir", runs, "--pdf")  # fmt: skip
    assert code == 0, text
    return out, runs, text


def test_phantoms_end_to_end_manifest(phantoms_out):
    out, _runs, text = phantoms_out
    assert "(1/5)" in text and "(5/5)" in text and "report:" in text
    # the expected duration is said before the generator trains, from timed steps
    expect = re.search(r"expected duration on this machine: about [\d.]+ (s|min|h) \(cgan "
                       r"training \(2 steps\) ~[\d.]+ (s|min|h), sampling \(~\d+ draws\) .*, "
                       r"utility test \(6 classifiers\) ", text)  # fmt: skip
    assert expect and text.index(expect.group(0)) < text.index("(2/5) training cgan")
    rows = manifest(out)
    syn = [r for r in rows if r["synthetic"] == "yes"]
    real = [r for r in rows if r["synthetic"] == "no" and r["split"] == "train"]
    held = [r for r in rows if r["split"] == "heldout"]
    assert len(real) == 8 and {r["class"] for r in real} == {"healthy", "lesion"}
    assert len(syn) == 6 and sorted(r["class"] for r in syn) == ["healthy"] * 3 + ["lesion"] * 3
    assert len(held) == 250 and all(r["path"].startswith(".staging/real/") for r in held)
    for r in rows:  # every listed file exists
        assert (out / r["path"]).is_file(), r["path"]
    assert all(r["source_run"] == "med" and r["seed"] != "" and r["output_id"] for r in syn)
    # the output folder holds exactly the listed real and synthetic files per class
    listed = {r["path"] for r in rows if r["split"] == "train"}
    on_disk = {
        p.relative_to(out).as_posix() for c in ("healthy", "lesion") for p in (out / c).iterdir()
    }
    assert on_disk == listed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "cgan" and summary["synthetic_per_class"] == {
        "healthy": 3,
        "lesion": 3,
    }
    u = summary["utility"]["scores"]
    assert set(u) == {"real", "real+synthetic", "synthetic"}
    assert all(len(u[k]["accuracy"]["values"]) == 2 for k in u)


def test_every_synthetic_file_is_marked(phantoms_out):
    out, runs, _ = phantoms_out
    for path in sorted(out.glob("*/*.png")):
        with Image.open(path) as im:
            meta = json.loads(im.text["genforge"]) if "genforge" in im.text else None
        if path.name.startswith("real_"):
            assert meta is None, path  # real images carry pixels only
            continue
        assert path.name.startswith("synthetic_"), path
        assert (
            meta["synthetic"] is True
            and meta["run"] == "med"
            and meta["recipe"] == "medical-augment"
        )
        assert meta["label"] == path.parent.name and "seed" in meta and "id" in meta
    one = next(out.glob("lesion/synthetic_*.png"))
    code, text = cli("watermark", "detect", one, "--runs-dir", runs)
    assert code == 0 and "genforge output" in text and "med" in text, text
    marks = {r["mark"] for r in manifest(out) if r["synthetic"] == "yes"}
    assert all(m.startswith("filename+png-metadata+sha256") for m in marks), marks
    real = next(out.glob("lesion/real_*.png"))
    code, text = cli("watermark", "detect", real, "--runs-dir", runs)
    assert code == 0 and "no genforge watermark" in text, text


def test_run_is_left_behind_and_sampleable(phantoms_out):
    out, runs, _ = phantoms_out
    assert (runs / "med" / "config.yaml").exists() and (
        runs / "med" / "model" / "meta.json"
    ).exists()
    code, text = cli("sample", "med", "--n", "4", "--label", "lesion", "--runs-dir", runs,
                     "--out", out.parent / "s.png")  # fmt: skip
    assert code == 0, text
    assert (out.parent / "s.png").exists()
    # the Run's validation split is the held-out set, so its own evaluation can audit
    code, text = cli("eval", "med", "--n", "20", "--domain-steps", "5", "--no-utility",
                     "--runs-dir", runs)  # fmt: skip
    assert code == 0, text
    assert (runs / "med" / "report.html").exists()


def test_report_has_verdict_audit_grids_and_pdf(phantoms_out):
    out, _, _ = phantoms_out
    page = (out / "report.html").read_text()
    for part in ("Verdict", "Generator", "Samples per class", "Memorization audit",
                 "Downstream utility on held-out real images", "manifest.csv", "cgan was asked for"):  # fmt: skip
        assert part in page, part
    assert page.index("Verdict") < page.index("Memorization audit")
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


def _dicom_folder(root: Path) -> Path:
    from dicomkit import make_dicom

    rng = np.random.default_rng(0)
    data = root / "scans"
    (data / "a").mkdir(parents=True)
    (data / "b").mkdir()
    for i in range(4):
        make_dicom(
            data / "a" / f"Doe_Jane_{i}.dcm", rng.integers(0, 2048, (16, 16)).astype(np.uint16)
        )
        make_dicom(
            data / "b" / f"slice{i}",
            rng.integers(0, 2048, (16, 16)).astype(np.uint16),
            photometric="MONOCHROME1",
        )  # fmt: skip   (no extension: found by DICM)
    Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(data / "b" / "photo.png")
    (data / "a" / "broken.dcm").write_bytes(b"garbage" * 20)
    (data / "a" / "notes.txt").write_text("hello")
    return data


def test_dicom_folder_end_to_end_with_deid_table(tmp_path):
    data = _dicom_folder(tmp_path)
    out = tmp_path / "aug"
    code, text = cli("recipe", "medical-augment", "--data", data, "--out", out,
                     "--target-per-class", "4", *TINY, *TINY_GAN, "--runs-dir", tmp_path / "runs",
                     "--window", "40,400")  # fmt: skip
    assert code == 0, text
    page = (out / "report.html").read_text()
    assert "DICOM conversion and de-identification" in page
    for kw in ("PatientName", "PatientID", "InstitutionName", "StudyInstanceUID", "(private tags)"):
        assert kw in page, kw
    for value in ("Jane^", "MRN-0042", "General Hospital", "House^Gregory", "19700101"):
        assert value not in page, value  # the table names tags, never values
    assert "broken.dcm" in page and "notes.txt" in page  # skipped files are reported
    for png in out.rglob("*.png"):  # no identity in names or PNG metadata of any output
        assert "Doe" not in png.name
        assert "Doe" not in str(Image.open(png).info)
    rows = manifest(out)
    assert {r["class"] for r in rows} == {"a", "b"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"].startswith("medical-scans-cgan") and summary["dicom_files"] == 8
    kept = sum(r["synthetic"] == "yes" for r in rows)
    assert kept == sum(summary["synthetic_per_class"].values())
    assert summary["audit"]["drawn"] >= kept + summary["audit"]["flagged_dropped"] >= 1


def test_bad_input_one_line_errors(tmp_path):
    code, text = cli(
        "recipe", "medical-augment", "--data", tmp_path / "nope", "--out", tmp_path / "o"
    )
    assert code == 1 and text.startswith("error: no such folder") and text.count("\n") == 1
    one = tmp_path / "one"
    (one / "healthy").mkdir(parents=True)
    Image.new("L", (8, 8)).save(one / "healthy" / "x.png")
    code, text = cli("recipe", "medical-augment", "--data", one, "--out", tmp_path / "o")
    assert code == 1 and "at least two classes" in text and text.count("\n") == 1
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "f").write_text("x")
    code, text = cli("recipe", "medical-augment", "--out", busy)
    assert code == 1 and "not an empty folder" in text
    code, text = cli("recipe", "medical-augment", "--generator", "vae", "--out", tmp_path / "o2")
    assert code == 1 and "unknown generator" in text
    assert not (tmp_path / "o2").exists()
    code, text = cli("recipe", "medical-augment", "--real-per-class", "900", "--image-size", "16",
                     "--out", tmp_path / "o3")  # fmt: skip
    assert code == 1 and "--real-per-class 900" in text
    assert not (tmp_path / "o3").exists()  # a failed recipe leaves no half-made output


def test_generator_choice_by_data_size():
    small, why_small = choose_generator("auto", 50)
    big, why_big = choose_generator("auto", 5000)
    assert (small, big) == ("cddpm", "cgan")
    assert "50 training images" in why_small and "5000" in why_big
    assert choose_generator("cgan", 50)[0] == "cgan"
    with pytest.raises(GenforgeError, match="unknown generator"):
        choose_generator("gan", 50)  # type: ignore[arg-type]


class _CopyingPipe:
    """A 'generator' that returns training images (a memorizing model) for class 0, noise else
    (white images with `white`)."""

    def __init__(self, train: torch.Tensor, white: bool = False):
        self.train = train
        self.white = white

    def sample(self, n: int, seed: int = 0, label: int | None = None) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        if label == 0:
            return self.train[torch.randint(0, len(self.train), (n,), generator=g)]
        if self.white:
            return torch.ones(n, *self.train.shape[1:])
        return torch.rand(n, *self.train.shape[1:], generator=g) * 2 - 1


def _random_staged(tmp_path):
    """Two classes of 10 random 8×8 training and 10 held-out images."""
    g = torch.Generator().manual_seed(0)
    train = torch.rand(10, 1, 8, 8, generator=g) * 2 - 1
    test = torch.rand(10, 1, 8, 8, generator=g) * 2 - 1
    return Staged(["a", "b"], tmp_path, 0.5, train, torch.arange(10) % 2, test,
                  torch.arange(10) % 2, [], [], {}, [], 0, {})  # fmt: skip


def test_near_copies_are_dropped_and_counted(tmp_path):
    staged = _random_staged(tmp_path)
    train = staged.train_x
    cfg = MedicalConfig(audit_rounds=3, quality_filter="implausible")
    syn = sample_audited(_CopyingPipe(train), staged, {0: 5, 1: 5}, cfg, log=lambda m: None)
    # class 0 only ever yields copies: all dropped, 3 rounds tried, none kept
    assert int((syn.labels == 0).sum()) == 0 and int((syn.labels == 1).sum()) == 5
    # redraws are sized by the keep rate, so a last round may leave unused good samples
    assert syn.flagged + syn.implausible <= syn.drawn - 5 and syn.flagged >= 5 + 3 * 2
    assert syn.closest[0][2] < 0.01 and syn.closest[0][3] is True  # a copy, up to 8-bit rounding


def test_written_synthetic_files_are_found_after_reencoding(tmp_path):
    """A synthetic file re-encoded and resized (new bytes, metadata gone) is still identified
    by its perceptual hash; the manifest says which marks each file has."""
    from genforge.data.embedded import load_embedded
    from genforge.recipes.medical import Synthetic, write_dataset

    data = load_embedded("phantoms", 32, seed=3)
    x, y = data.images[:4], data.labels[:4]
    staged = Staged(["healthy", "lesion"], tmp_path, 0.5, x, y, x, y, [], [], {}, [], 0, {})
    syn = Synthetic(x, y, [(7, i) for i in range(4)], 4, 0, 0, 1, {}, [])

    class FakeRun:
        name = "phantom-run"

    out, runs = tmp_path / "aug", tmp_path / "runs"
    rows, marks = write_dataset(out, staged, syn, FakeRun(), {"model": "cgan"}, str(runs))
    assert marks == {"filename+png-metadata+sha256+phash": 4}
    path = out / rows[0]["path"]
    copy = tmp_path / "copy.png"
    Image.open(path).resize((64, 64), Image.Resampling.BICUBIC).save(copy)
    code, text = cli("watermark", "detect", copy, "--runs-dir", runs)
    assert code == 0 and "phantom-run" in text and "evidence: phash" in text, text


def test_implausible_samples_are_dropped_unless_asked_not_to(tmp_path):
    staged = _random_staged(tmp_path)
    train = staged.train_x
    pipe = _CopyingPipe(train, white=True)  # white images: farther than any held-out image
    cfg = MedicalConfig(quality_filter="implausible")
    syn = sample_audited(pipe, staged, {1: 4}, cfg, log=lambda m: None)
    assert len(syn.images) == 0 and syn.implausible == syn.drawn and syn.flagged == 0
    kept = sample_audited(
        pipe, staged, {1: 4}, MedicalConfig(quality_filter="none"), lambda m: None
    )
    assert len(kept.images) == 4 and kept.implausible == 0


def test_speckled_samples_are_implausible_even_at_an_ordinary_distance(tmp_path):
    """Flat training images at 0, .2, .4, .6 and held-out ones between them (nearest distance
    .1: near-copies below .05, implausible above .1). A sample at .2 with a ±.07 checkerboard is
    .07 from a training image, like a flat sample at .27, but far rougher than any real image."""

    def flat(levels: list[float]) -> torch.Tensor:
        return torch.tensor(levels).view(-1, 1, 1, 1).expand(-1, 1, 8, 8).clone()

    train = flat([0.0, 0.2, 0.4, 0.6] * 2)
    test = flat([0.1, 0.3, 0.5] * 2)
    staged = Staged(["a", "b"], tmp_path, 0.5, train, torch.arange(8) % 2, test,
                    torch.arange(6) % 2, [], [], {}, [], 0, {})  # fmt: skip
    checker = (torch.arange(8).view(8, 1) + torch.arange(8).view(1, 8)) % 2 * 0.14 - 0.07

    class SpeckledPipe:  # flat .27, speckled .2, flat .27, ...
        def sample(self, n: int, seed: int = 0, label: int | None = None) -> torch.Tensor:
            x = flat([0.27] * n)
            x[1::2] = 0.2 + checker
            return x

    cfg = MedicalConfig(quality_filter="implausible", audit_rounds=1)
    syn = sample_audited(SpeckledPipe(), staged, {0: 6}, cfg, lambda m: None)
    assert syn.flagged == 0 and syn.implausible == 3 and len(syn.images) == 3
    assert torch.allclose(syn.images, flat([0.27] * 3), atol=1 / 127.5)  # the flat ones
    assert float(roughness(syn.images).max()) < 0.02 < float(roughness(0.2 + checker[None, None]))
    none = sample_audited(SpeckledPipe(), staged, {0: 6}, MedicalConfig(quality_filter="none",
                          audit_rounds=1), lambda m: None)  # fmt: skip
    assert len(none.images) == 6


def _two_tone_staged(tmp_path):
    """Class 0 dark, class 1 bright 8×8 images (10 training and 10 held-out each)."""
    g = torch.Generator().manual_seed(0)

    def images(level: float) -> torch.Tensor:
        return (level + 0.1 * torch.randn(10, 1, 8, 8, generator=g)).clamp(-1, 1)

    train = torch.cat([images(-0.5), images(0.5)])
    test = torch.cat([images(-0.5), images(0.5)])
    y = torch.arange(20) // 10
    return Staged(["dark", "bright"], tmp_path, 0.5, train, y, test, y, [], [], {}, [], 0, {})


class _OffLabelPipe:
    """Every other sample shows the other class (bright, dark, bright, ...) whatever is asked."""

    def sample(self, n: int, seed: int = 0, label: int | None = None) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        level = torch.where(torch.arange(n) % 2 == 0, 0.5, -0.5).view(n, 1, 1, 1)
        return (level + 0.05 * torch.randn(n, 1, 8, 8, generator=g)).clamp(-1, 1)


def test_the_label_filter_drops_samples_that_do_not_show_their_class(tmp_path):
    staged = _two_tone_staged(tmp_path)
    quiet = lambda m: None  # noqa: E731
    syn = sample_audited(_OffLabelPipe(), staged, {1: 6}, MedicalConfig(classifier_steps=60), quiet)
    bright = syn.images.mean((1, 2, 3)) > 0
    assert len(syn.images) == 6 and bool(bright.all())  # redrawn until 6 bright ones
    assert syn.off_label >= 3 and syn.flagged == 0 and syn.implausible == 0
    plain = MedicalConfig(classifier_steps=60, quality_filter="implausible")
    kept = sample_audited(_OffLabelPipe(), staged, {1: 6}, plain, quiet)
    assert kept.off_label == 0 and int((kept.images.mean((1, 2, 3)) < 0).sum()) == 3


def test_a_run_trained_on_these_images_is_reused_and_any_other_refused(phantoms_out, tmp_path):
    _out, runs, _ = phantoms_out
    same = ["--data", "phantoms", "--target-per-class", "7", "--real-per-class", "4",
            "--image-size", "16", "--seeds", "2", "--classifier-steps", "2",
            "--quality-filter", "none", "--run", "med", "--runs-dir", runs]  # fmt: skip
    code, text = cli("recipe", "medical-augment", "--out", tmp_path / "again", *same)
    assert code == 0, text
    assert "reusing cgan run med" in text and "(5/5)" in text
    summary = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert summary["run"] == "med" and "train_s" not in summary["timings_s"]
    syn = [r for r in manifest(tmp_path / "again") if r["synthetic"] == "yes"]
    assert len(syn) == 6 and {r["source_run"] for r in syn} == {"med"}
    assert "reused with --run" in (tmp_path / "again" / "report.html").read_text()
    # another split (seed 1): the run saw some of this split's held-out images
    code, text = cli("recipe", "medical-augment", "--out", tmp_path / "other", *same, "--seed", "1")
    assert code != 0 and "did not train on exactly this recipe's training images" in text, text
    code, text = cli("recipe", "medical-augment", "--out", tmp_path / "x", *same, "--steps", "5")
    assert code != 0 and "--run reuses a trained generator" in text, text


def test_heldout_images_are_exactly_the_runs_validation_split(phantoms_out):
    from genforge.core.run import resolve_run
    from genforge.data.images import decode_image
    from genforge.evaluate.image import real_images

    out, runs, _ = phantoms_out
    rows = manifest(out)
    held = [out / r["path"] for r in rows if r["split"] == "heldout"]
    real = real_images(resolve_run("med", runs))
    assert torch.equal(torch.stack([decode_image(p, 16, 1) for p in held]), real.val)
    assert len(real.train) == 8  # 4 per class: the generator saw exactly the listed real files


def test_the_classifier_asked_for_is_the_one_trained(tmp_path, monkeypatch):
    import genforge.evaluate.utility as utility

    used: list[str] = []
    for name, trainer in list(utility.CLASSIFIERS.items()):

        def spy(x, y, steps, seed, name=name, trainer=trainer):
            used.append(name)
            return trainer(x, y, steps, seed)

        monkeypatch.setitem(utility.CLASSIFIERS, name, spy)
    for classifier in ("domain", "pooled"):
        used.clear()
        code, text = cli("recipe", "medical-augment", "--data", "phantoms",
                         "--out", tmp_path / classifier, "--target-per-class", "5",
                         "--real-per-class", "3", *TINY, *TINY_GAN, "--classifier", classifier,
                         "--runs-dir", tmp_path / "runs")  # fmt: skip
        assert code == 0, text
        assert used and set(used) == {classifier}
