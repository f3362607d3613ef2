"""Audio sources: folders (mixed rates, stereo, broken and short files), embedded sets."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genforge.core.errors import GenforgeError
from genforge.data.audio import (
    NOTES,
    inspect_audio,
    is_audio_source,
    load_audio,
    resample,
    synth_spoken_digits,
    synth_tones,
)


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


def sine(hz: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(round(seconds * rate)) / rate)).astype(
        np.float32
    )


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    """low/: 3 WAVs at 22.05 kHz stereo; high/: 2 FLACs at 16 kHz, 1 short OGG, 1 broken WAV."""
    root = tmp_path / "clips"
    (root / "low").mkdir(parents=True)
    (root / "high").mkdir()
    for i in range(3):
        x = sine(220 * (i + 1), 1.0, 22050)
        sf.write(root / "low" / f"l{i}.wav", np.stack([x, x], 1), 22050)
    for i in range(2):
        sf.write(root / "high" / f"h{i}.flac", sine(1000, 1.0, 16000), 16000)
    sf.write(root / "high" / "short.ogg", sine(1000, 0.3, 16000), 16000)
    (root / "high" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (root / "high" / "readme.txt").write_text("not audio")
    return root


def test_folder_is_resampled_mixed_down_padded_and_reported(clips: Path):
    ds = load_audio(str(clips), sample_rate=8000, seconds=0.5)
    assert ds.images.shape == (6, 1, 4000)
    assert ds.class_names == ["high", "low"] and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    r = ds.report
    assert r.sample_rates == {"22050": 3, "16000": 3} and r.resampled == 6
    assert r.channels == {"2": 3, "1": 3}
    assert [s.path for s in r.skipped] == ["high/broken.wav", "high/readme.txt"]
    assert r.skipped[0].reason.startswith("unreadable")
    assert r.short == [("high/short.ogg", 0.3)]
    assert ds.images.abs().max() <= 0.99
    rms = ds.images[:2].pow(2).mean(-1).sqrt()  # -20 dBFS loudness target
    assert np.allclose(rms.numpy(), 0.1, atol=0.01)
    assert abs(dominant_hz(ds.images[3, 0].numpy(), 8000) - 220) < 5  # pitch survives resampling
    assert ds.images[2, 0, 2600:].abs().max() == 0  # the 0.3 s clip is padded with silence


def test_inspect_lists_everything_without_resampling(clips: Path):
    r = inspect_audio(str(clips))
    assert r.num_files == 8 and r.num_clips == 6 and r.sample_rate is None
    assert r.durations["min"] == pytest.approx(0.3) and r.durations["max"] == pytest.approx(1.0)
    assert is_audio_source(str(clips)) and is_audio_source("tones")
    assert not is_audio_source(str(clips / "nope"))


def test_resample_keeps_pitch():
    y = resample(sine(1000, 0.5, 44100), 44100, 16000)
    assert len(y) == 8000 and abs(dominant_hz(y, 16000) - 1000) < 3


def test_tones_have_the_pitch_of_their_label():
    waves, labels, names = synth_tones(8000, 0.5, per_class=3, seed=0)
    assert names == list(NOTES) and len(waves) == 24
    for k, name in enumerate(names):  # each class starts with a single note (then a triad)
        assert labels[3 * k] == k
        assert abs(dominant_hz(waves[3 * k], 8000) - NOTES[name]) < 12


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed "
                    "(apt-get install espeak-ng); the spoken-digits path needs it")  # fmt: skip
def test_spoken_digits_are_distinct_words():
    waves, labels, names = synth_spoken_digits(8000, 1.0, ("en-us",), (160,), (50,))
    assert len(waves) == 10 and labels == list(range(10)) and names[7] == "7"
    x = np.stack(waves)
    assert (np.abs(x).max(1) > 0.1).all()  # speech, not silence
    assert np.abs(x[1] - x[2]).mean() > 0.01  # different words


def test_spoken_digits_say_clearly_when_espeak_is_missing(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GenforgeError, match="needs espeak-ng, which is not installed; install"):
        load_audio("spoken-digits")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_rate": 500}, "sample rate must be 1000..96000"),
        ({"seconds": 0}, "clip length must be above 0"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(GenforgeError, match=message):
        load_audio("tones", **kwargs)


def test_unreadable_folder_is_one_line(tmp_path: Path):
    (tmp_path / "a.wav").write_bytes(b"garbage")
    with pytest.raises(GenforgeError, match=r"no readable audio clip .*: 1 unreadable") as e:
        load_audio(str(tmp_path))
    assert "\n" not in str(e.value)
    with pytest.raises(GenforgeError, match="no such folder"):
        load_audio(str(tmp_path / "missing"))
