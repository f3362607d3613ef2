"""Speech: espeak-ng and a local (tiny, random) VITS model behind one provider interface."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genforge.core.errors import GenforgeError
from genforge.generate.speech import (
    EspeakProvider,
    LocalTTSProvider,
    speak_to_file,
    speech_provider,
)
from hf_tiny import save_tiny_vits

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng); the speech baseline needs it",
)


@needs_espeak
def test_espeak_speaks_with_voice_rate_and_pitch(tmp_path: Path):
    slow, sr = EspeakProvider("en", rate=100).speak("Your order has shipped")
    fast, _ = EspeakProvider("en", rate=300).speak("Your order has shipped")
    assert sr == 22050 and len(slow) > 1.5 * len(fast) and np.abs(slow).max() > 0.1
    path, seconds, rate = speak_to_file(
        EspeakProvider("en-us", pitch=80), "hello", tmp_path / "m.wav"
    )
    info = sf.info(str(path))
    assert info.samplerate == rate == 22050 and info.duration == pytest.approx(seconds, abs=1e-3)
    with pytest.raises(GenforgeError, match="could not speak with voice 'xx-nope'"):
        EspeakProvider("xx-nope").speak("hi")
    with pytest.raises(GenforgeError, match="rate must be 80..450"):
        EspeakProvider(rate=20).speak("hi")


def test_espeak_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GenforgeError, match="needs espeak-ng, which is not installed; install it"):
        EspeakProvider().speak("hi")


@pytest.fixture(scope="module")
def tiny_vits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised, tiny VITS model and character tokenizer, saved like MMS-TTS."""
    pytest.importorskip("transformers", reason="local TTS models need transformers")
    return save_tiny_vits(tmp_path_factory.mktemp("tiny-vits"))


def test_local_model_speaks_through_the_same_interface(tiny_vits: Path, tmp_path: Path):
    provider = speech_provider(tiny_vits, seed=3)
    assert isinstance(provider, LocalTTSProvider)
    a, sr = provider.speak("hello there")
    b, _ = provider.speak("hello there")
    assert sr == 8000 and a.ndim == 1 and len(a) > 0 and np.array_equal(a, b)  # seeded
    path, _, rate = speak_to_file(provider, "hi", tmp_path / "x.wav")
    assert sf.info(str(path)).samplerate == rate == 8000
    assert (tiny_vits / "model.safetensors").exists()


def test_bad_model_folder(tmp_path: Path):
    with pytest.raises(GenforgeError, match="is not a saved text-to-speech model"):
        speech_provider(tmp_path)
