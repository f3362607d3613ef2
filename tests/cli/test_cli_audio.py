"""`genforge data inspect` on audio folders, `genforge train/sample` for audio runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from .conftest import Cli

TINY = ["--sample-rate", "4000", "--seconds", "0.25", "--steps", "1", "--batch-size", "4",
        "--set", "model_size=4", "--set", "latent_dim=8", "--set", "n_critic=1"]  # fmt: skip


def test_inspect_train_sample_an_audio_folder(cli: Cli, tmp_path: Path):
    clips = tmp_path / "clips"
    clips.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        sf.write(
            clips / f"c{i}.wav", rng.normal(0, 0.1, 3000).astype(np.float32), 8000 + 8000 * (i % 2)
        )
    (clips / "bad.ogg").write_bytes(b"OggS garbage")
    out = cli.ok("data", "inspect", clips).stdout
    assert "6 clips kept of 7 files" in out and "mixed sample rates" in out and "bad.ogg" in out
    cli.ok("train", "wavegan", "--data", clips, "--name", "wg", *TINY)
    cli.ok("sample", "wg", "--n", "3", "--out-dir", tmp_path / "sounds")
    wavs = sorted((tmp_path / "sounds").glob("*.wav"))
    assert len(wavs) == 3 and sf.info(str(wavs[0])).frames == 1000
    assert (tmp_path / "sounds" / "spectrograms.png").exists()
    assert "unknown config key 'epochs' for wavegan" in cli.fails(
        "train", "wavegan", "--data", clips, "--epochs", "2"
    )


def test_generate_speech(cli: Cli, tmp_path: Path):
    import shutil

    import pytest

    assert "--out must end in .wav" in cli.fails(
        "generate", "speech", "--text", "hi", "--out", "a.mp3"
    )
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    out = cli.ok("generate", "speech", "--text", "Your order has shipped", "--voice", "en",
                 "--out", tmp_path / "msg.wav").stdout  # fmt: skip
    assert "espeak-ng, 22050 Hz" in out
    assert sf.info(str(tmp_path / "msg.wav")).duration > 0.5


def test_sample_through_the_audio_gate(cli: Cli, tmp_path: Path):
    cli.ok("train", "wavegan", "--data", "tones", "--name", "tn", *TINY)
    out = cli.ok("sample", "tn", "--n", "3", "--best-of", "2", "--min-score", "0", "--out-dir",
                 tmp_path / "gated").stdout  # fmt: skip
    assert "audio gate (confidence + clipping + silence + snr): kept " in out
    assert "drew 6 candidates to find them, and 6 of the 6 (100.0%) scored at least 0" in out
    kept = int(out.split("kept ")[1].split(" of 3 requested")[0])
    assert len(list((tmp_path / "gated").glob("*.wav"))) == kept
    # a limit no clip can meet: nothing is kept, and the reason is counted
    out = cli.ok("sample", "tn", "--n", "2", "--best-of", "2", "--min-snr", "200", "--out-dir",
                 tmp_path / "none").stdout  # fmt: skip
    assert "kept 0 of 2 requested" in out and "4 x noise" in out and "warning" in out
    assert not (tmp_path / "none").exists()
    assert "--max-clipping is a share in [0, 1]" in cli.fails("sample", "tn", "--max-clipping", "2")
    assert "--min-dcr applies to table runs, not audio runs" in cli.fails(
        "sample", "tn", "--min-dcr", "0.1"
    )
