"""Text to speech behind one interface: `SpeechProvider.speak(text) -> (waveform, rate)`.

- `EspeakProvider`: espeak-ng, the formant synthesiser (a system package). Robotic but honest,
  instant, offline, dozens of languages: the baseline.
- `LocalTTSProvider`: a pretrained text-to-waveform model saved in a local folder with
  Hugging Face `save_pretrained` (e.g. VITS / MMS-TTS: `VitsModel` + its tokenizer). Loaded
  from disk only; nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from genforge.core.audio import write_wav
from genforge.core.errors import GenforgeError


class SpeechProvider(Protocol):
    name: str

    def speak(self, text: str) -> tuple[np.ndarray, int]:
        """(float32 mono waveform in [-1, 1], sample rate)."""
        ...


@dataclass
class EspeakProvider:
    voice: str = "en"
    rate: int = 160  # words per minute
    pitch: int = 50  # 0..99
    name: str = "espeak-ng"

    def speak(self, text: str) -> tuple[np.ndarray, int]:
        from genforge.data.espeak import synthesise

        return synthesise(text, self.voice, self.rate, self.pitch)


class LocalTTSProvider:
    """A transformers text-to-waveform model (VITS and kin) from a local folder.

    Args:
        path: folder written by `model.save_pretrained` and `tokenizer.save_pretrained`.
        seed: VITS samples durations and noise; a seed makes the output repeatable.
        speaking_rate: >1 speaks faster (VITS `speaking_rate`), when the model has it.
    """

    name = "local-model"

    def __init__(self, path: str | Path, seed: int = 0, speaking_rate: float = 1.0):
        path = Path(path).expanduser()
        if not (path / "config.json").exists():
            raise GenforgeError(
                f"{path} is not a saved text-to-speech model (no config.json); give a folder "
                "written by save_pretrained, or leave --model out to use espeak-ng"
            )
        try:
            import transformers
        except ImportError:
            raise GenforgeError(
                "a local TTS model needs the transformers package: pip install transformers"
            ) from None
        import torch

        transformers.utils.logging.disable_progress_bar()
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                str(path), local_files_only=True
            )
            self.model = transformers.AutoModelForTextToWaveform.from_pretrained(
                str(path), local_files_only=True, use_safetensors=True
            ).eval()
        except (OSError, ValueError) as e:
            raise GenforgeError(
                f"cannot load a TTS model from {path}: {str(e).splitlines()[0]}"
            ) from None
        if hasattr(self.model.config, "speaking_rate"):
            self.model.config.speaking_rate = speaking_rate
        self.seed = seed
        self.torch = torch
        self.sample_rate = int(getattr(self.model.config, "sampling_rate", 16000))

    def speak(self, text: str) -> tuple[np.ndarray, int]:
        if not text.strip():
            raise GenforgeError("nothing to say: the text is empty")
        inputs = self.tokenizer(text, return_tensors="pt")
        if inputs["input_ids"].shape[-1] == 0:
            raise GenforgeError("the model's tokenizer turned the text into no tokens")
        self.torch.manual_seed(self.seed)
        with self.torch.no_grad():
            wave = self.model(**inputs).waveform[0].float().numpy()
        return np.clip(wave, -1, 1).astype(np.float32), self.sample_rate


def speech_provider(
    model: str | Path | None = None,
    voice: str = "en",
    rate: int = 160,
    pitch: int = 50,
    seed: int = 0,
) -> SpeechProvider:
    """espeak-ng when `model` is None, else the local model folder `model`."""
    if model is None:
        return EspeakProvider(voice, rate, pitch)
    return LocalTTSProvider(model, seed=seed, speaking_rate=rate / 160)


def speak_to_file(
    provider: SpeechProvider, text: str, out: str | Path = "speech.wav"
) -> tuple[Path, float, int]:
    """Speak `text` into the WAV `out`: (path, seconds, sample rate)."""
    out = Path(out)
    if out.suffix.lower() != ".wav":
        raise GenforgeError(f"speech is written as WAV; --out must end in .wav, got {out.name}")
    wave, sr = provider.speak(text)
    write_wav(out, wave, sr)
    return out, len(wave) / sr, sr
