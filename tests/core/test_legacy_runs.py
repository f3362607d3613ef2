"""Runs written before the modality-table redesign still load and sample identically.

The fixture runs and their expected outputs were made at commit 934000d (see
tests/fixtures/legacy_runs/README.md); each test repeats the command that made an expected
output on a copy of the run and compares the content (pixels, rows, samples, text).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from typer.testing import CliRunner

import genforge
from genforge.cli.main import app

FIXTURES = Path(__file__).parents[1] / "fixtures" / "legacy_runs"
EXPECTED = FIXTURES / "expected"


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copies of the legacy runs (loading must not need to write into them, but a test may)."""
    folder = tmp_path / "legacy"
    shutil.copytree(FIXTURES / "v0", folder)
    monkeypatch.setenv("GENFORGE_RUNS", str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


def genforge_cli(*args: str | Path) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, f"{args}: {result.output}{result.exception!r}"
    return result.stdout


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.mark.parametrize(
    ("run", "extra", "expected"),
    [
        ("cgan", [], "cgan.png"),
        ("cgan", ["--label", "7"], "cgan-label7.png"),
        ("vae", [], "vae.png"),
        ("ddpm", [], "ddpm.png"),
    ],
)
def test_legacy_image_runs_sample_the_same_grid(runs, tmp_path, run, extra, expected):
    out = tmp_path / "grid.png"
    genforge_cli("sample", run, "--n", "4", "--seed", "3", *extra, "--grid", out)
    np.testing.assert_array_equal(pixels(out), pixels(EXPECTED / expected))


def test_legacy_text_to_image_run_draws_the_same_images(runs, tmp_path):
    out = tmp_path / "t2i.png"
    genforge_cli("generate", "image", "--model", "t2i", "--prompt", "a handwritten seven",
                 "--n", "2", "--seed", "3", "--out", out)  # fmt: skip
    np.testing.assert_array_equal(pixels(out), pixels(EXPECTED / "t2i.png"))


def test_legacy_text_run_decodes_the_same_text(runs):
    text = genforge_cli("generate", "text", "gpt", "--prompt", "The", "--max-new-tokens", "20",
                        "--seed", "1", "--do-sample")  # fmt: skip
    assert text == (EXPECTED / "gpt.txt").read_text(encoding="utf-8")


def test_legacy_table_run_samples_the_same_rows(runs, tmp_path):
    out = tmp_path / "rows.csv"
    genforge_cli("sample", "ctgan", "--n", "6", "--seed", "3", "--out", out)
    assert out.read_text() == (EXPECTED / "ctgan.csv").read_text()


def test_legacy_audio_run_samples_the_same_clips(runs, tmp_path):
    folder = tmp_path / "clips"
    genforge_cli("sample", "wavegan", "--n", "2", "--seed", "3", "--out-dir", folder)
    for want in sorted((EXPECTED / "wavegan").glob("*.wav")):
        got, rate = sf.read(folder / want.name, dtype="int16")
        ref, ref_rate = sf.read(want, dtype="int16")
        assert rate == ref_rate
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize(
    ("run", "pipeline"),
    [("cgan", "ImagePipeline"), ("vae", "ImagePipeline"), ("ddpm", "ImagePipeline"),
     ("t2i", "ImagePipeline"), ("gpt", "TextPipeline"), ("ctgan", "TablePipeline"),
     ("wavegan", "AudioPipeline")],
)  # fmt: skip
def test_legacy_runs_load_through_the_python_api(runs, run, pipeline):
    pipe = genforge.load(runs / run, device="cpu")
    assert type(pipe).__name__ == pipeline and pipe.run.name == run


def test_legacy_table_and_audio_runs_sample_through_the_python_api(runs):
    rows = genforge.load(runs / "ctgan", device="cpu").sample(6, seed=3)
    assert rows.to_csv(index=False) == (EXPECTED / "ctgan.csv").read_text()
    waves, _ = genforge.load(runs / "wavegan", device="cpu").sample(2, seed=3)
    ref, _ = sf.read(EXPECTED / "wavegan" / "clip-0000.wav", dtype="float32")
    assert tuple(waves.shape) == (2, 1, len(ref))
    np.testing.assert_allclose(waves[0, 0].numpy(), ref, atol=2 / 32768)  # 16-bit PCM
