"""espeak-ng, the formant speech synthesiser (a Debian package, not a Python one), as a
function: text -> waveform. Used by the `spoken-digits` set and `genforge generate speech`."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from genforge.core.errors import GenforgeError

INSTALL_HINT = (
    "install it with: apt-get install espeak-ng (Debian/Ubuntu) or brew install espeak-ng"
)


def espeak_path() -> str | None:
    """The espeak-ng executable, or None when it is not installed."""
    return shutil.which("espeak-ng")


def require_espeak(what: str) -> str:
    exe = espeak_path()
    if exe is None:
        raise GenforgeError(f"{what} needs espeak-ng, which is not installed; {INSTALL_HINT}")
    return exe


def synthesise(
    text: str, voice: str = "en", rate: int = 160, pitch: int = 50
) -> tuple[np.ndarray, int]:
    """Speak `text`: (float32 mono waveform in [-1, 1], sample rate).

    Args:
        text: what to say.
        voice: an espeak-ng voice, optionally with a variant ("en-us", "en+f3").
        rate: words per minute (80..450).
        pitch: 0..99 (50 is the voice's normal pitch).
    """
    import soundfile as sf

    exe = require_espeak("speech synthesis")
    if not text.strip():
        raise GenforgeError("nothing to say: the text is empty")
    if not 80 <= rate <= 450:
        raise GenforgeError(f"rate must be 80..450 words per minute, got {rate}")
    if not 0 <= pitch <= 99:
        raise GenforgeError(f"pitch must be 0..99, got {pitch}")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        proc = subprocess.run(
            [exe, "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(wav), "--", text],
            capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0 or not wav.exists() or wav.stat().st_size <= 44:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise GenforgeError(
                f"espeak-ng could not speak with voice {voice!r}"
                + (f": {detail[0].rstrip('.')}" if detail else "")
                + "; list voices with: espeak-ng --voices"
            )
        x, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    return x.mean(1), int(sr)
