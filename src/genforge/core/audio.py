"""Audio helpers every package may use: WAV writing, mel spectrograms, Griffin-Lim, and the
spectrogram grid PNG. torch-only signal processing (no torchaudio, no librosa)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genforge.core.io import write_bytes


def wav_bytes(wave: np.ndarray | torch.Tensor, sample_rate: int) -> bytes:
    """A mono float waveform in [-1, 1] -> the bytes of a 16-bit PCM WAV file."""
    import soundfile as sf

    x = wave.detach().float().cpu().numpy() if isinstance(wave, torch.Tensor) else wave
    x = np.clip(np.asarray(x, dtype=np.float32).reshape(-1), -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, x, sample_rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def write_wav(path: str | Path, wave: np.ndarray | torch.Tensor, sample_rate: int) -> Path:
    """A mono float waveform in [-1, 1] -> 16-bit PCM WAV, written atomically."""
    write_bytes(path, wav_bytes(wave, sample_rate))
    return Path(path)


# ---------------------------------------------------------------------------------------
# Mel spectrograms (HTK mel scale, Slaney-style triangular filters)
# ---------------------------------------------------------------------------------------


def _hz_to_mel(f: torch.Tensor | float) -> Any:
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f) / 700.0)


def _mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10 ** (m / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """Triangular mel filters (n_mels, n_fft // 2 + 1) from 0 Hz to Nyquist."""
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mels = torch.linspace(0.0, float(_hz_to_mel(sample_rate / 2.0)), n_mels + 2)
    hz = _mel_to_hz(mels)
    lower, center, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (freqs[None] - lower) / (center - lower).clamp_min(1e-6)
    down = (upper - freqs[None]) / (upper - center).clamp_min(1e-6)
    return torch.clamp(torch.minimum(up, down), min=0.0)


def stft_magnitude(wave: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(B, L) -> magnitudes (B, n_fft // 2 + 1, frames), Hann window, centred frames."""
    window = torch.hann_window(n_fft, device=wave.device)
    spec = torch.stft(wave, n_fft, hop, window=window, center=True, return_complex=True)
    return spec.abs()


def log_mel(wave: torch.Tensor, sample_rate: int, n_fft: int, hop: int, n_mels: int):
    """(B, L) -> log10 mel power (B, n_mels, frames), floored at 1e-5 (-100 dB)."""
    fb = mel_filterbank(sample_rate, n_fft, n_mels).to(wave.device)
    power = stft_magnitude(wave, n_fft, hop) ** 2
    return torch.log10(torch.clamp(fb @ power, min=1e-10)).clamp(min=-10.0) / 2  # log10 |.|


def griffin_lim(
    magnitude: torch.Tensor, n_fft: int, hop: int, length: int, iters: int = 32, seed: int = 0
) -> torch.Tensor:
    """Magnitudes (B, F, T) -> waveform (B, length) by Griffin-Lim phase retrieval (Griffin &
    Lim 1984) with momentum 0.99 (Perraudin et al. 2013, the "fast" variant)."""
    window = torch.hann_window(n_fft, device=magnitude.device)
    g = torch.Generator().manual_seed(seed)
    angles = torch.exp(2j * math.pi * torch.rand(magnitude.shape, generator=g)).to(magnitude.device)
    prev = torch.zeros_like(angles)
    wave = None
    for _ in range(iters):
        wave = torch.istft(magnitude * angles, n_fft, hop, window=window, length=length)
        rebuilt = torch.stft(wave, n_fft, hop, window=window, center=True, return_complex=True)
        angles_new = rebuilt - 0.99 * prev
        prev = rebuilt
        angles = angles_new / angles_new.abs().clamp_min(1e-8)
    return torch.istft(magnitude * angles, n_fft, hop, window=window, length=length)


# ---------------------------------------------------------------------------------------
# Spectrogram grid PNG
# ---------------------------------------------------------------------------------------


def spectrogram_grid(
    waves: torch.Tensor,
    sample_rate: int,
    titles: list[str] | None = None,
    ncol: int = 4,
) -> bytes:
    """PNG bytes: one log-mel spectrogram per clip (B, 1, L) or (B, L), with time/frequency axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = waves.reshape(waves.shape[0], -1).float().cpu()
    n_fft = 512 if sample_rate >= 12000 else 256
    spec = log_mel(w, sample_rate, n_fft, n_fft // 4, 64)
    n = len(w)
    ncol = min(ncol, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3 * ncol, 2.2 * nrow), squeeze=False)
    seconds = w.shape[1] / sample_rate
    vmax = float(spec.max())  # shown: the loudest 80 dB of the grid
    top = float(_hz_to_mel(sample_rate / 2.0))
    marks = [f for f in (100, 250, 500, 1000, 2000, 4000, 8000, 16000) if f < sample_rate / 2]
    ticks = [64 * float(_hz_to_mel(float(f))) / top for f in marks]
    labels = [f"{f // 1000}k" if f >= 1000 else str(f) for f in marks]
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        ax.imshow(spec[i].numpy(), origin="lower", aspect="auto", cmap="magma", vmin=vmax - 4, vmax=vmax,
                  extent=(0, seconds, 0, 64))  # fmt: skip
        ax.set_yticks(ticks, labels)  # mel bands, labelled with their frequency
        ax.set_title(titles[i] if titles else f"#{i}", fontsize=8)
        ax.tick_params(labelsize=6)
        if i % ncol == 0:
            ax.set_ylabel("Hz (mel scale)", fontsize=7)
        if i // ncol == nrow - 1:
            ax.set_xlabel("s", fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def save_spectrogram_grid(
    path: str | Path, waves: torch.Tensor, sample_rate: int, titles=None, params=None
) -> Path:
    """Write the grid PNG with generation parameters in a text chunk, like every genforge PNG."""
    from PIL import Image, PngImagePlugin

    img = Image.open(io.BytesIO(spectrogram_grid(waves, sample_rate, titles)))
    info = PngImagePlugin.PngInfo()
    if params:
        info.add_text("genforge", json.dumps(params, sort_keys=True))
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info)
    write_bytes(path, buf.getvalue())
    return Path(path)
