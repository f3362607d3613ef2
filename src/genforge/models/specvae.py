"""SpecVAE: a convolutional VAE on log-mel spectrograms, back to sound by Griffin-Lim.

A clip (1, L) becomes a `size` x `size` log-mel image (mel bands x frames, hop = L // (size-1)),
scaled to [-1, 1]; genforge's image VAE networks (models/vae.py) model it; sampling decodes a
spectrogram, undoes the mel filterbank (pseudo-inverse, clipped at 0) and recovers a phase by
Griffin-Lim. Griffin-Lim is the honest baseline vocoder: expect a metallic timbre.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.audio import griffin_lim, mel_filterbank, stft_magnitude
from genforge.core.errors import GenforgeError
from genforge.data.audio import AudioSpec
from genforge.data.dataset import ImageSpec
from genforge.models.audio import AudioModel
from genforge.models.vae import VAENet

LOG_LO, LOG_HI = -4.0, 2.0  # log10 mel magnitude range mapped to [-1, 1]


@dataclass
class SpecVAEConfig:
    size: int = 64  # mel bands = frames; a power of two (32, 64, 128)
    latent_dim: int = 64
    width: int = 32
    beta: float = 1.0
    griffin_lim_iters: int = 32
    conditional: bool = False


class SpecVAE(AudioModel):
    Config = SpecVAEConfig

    def __init__(self, config: SpecVAEConfig, spec: AudioSpec):
        super().__init__(config, spec)
        if config.size not in (16, 32, 64, 128):
            raise GenforgeError(f"SpecVAE size must be 16, 32, 64 or 128, got {config.size}")
        self.hop = max(1, spec.length // (config.size - 1))
        self.n_fft = (
            1 << max(2 * self.hop - 1, 2 * config.size - 1).bit_length()
        )  # >= 2 hops, >= size bins
        k = spec.num_classes if config.conditional else 0
        self.vae = VAENet(ImageSpec(1, config.size, k), config.width, config.latent_dim, k)
        self.register_buffer(
            "fb", mel_filterbank(spec.sample_rate, self.n_fft, config.size), persistent=False
        )

    def networks(self) -> dict[str, nn.Module]:
        return {"vae": self.vae}

    def sampling_network(self) -> str:
        return "vae"

    # -- waveform <-> spectrogram image ------------------------------------------------------
    def to_image(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, 1, L) -> (B, 1, size, size) log-mel magnitude in [-1, 1]."""
        mag = stft_magnitude(wave.float().flatten(1), self.n_fft, self.hop)  # (B, F, T)
        mel = self.fb.to(mag.device) @ mag  # (B, size, T)
        log = torch.log10(mel.clamp_min(10**LOG_LO))[..., : self.config.size]
        img = 2 * (log - LOG_LO) / (LOG_HI - LOG_LO) - 1
        return img.clamp(-1, 1).unsqueeze(1)

    def to_wave(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 1, size, size) in [-1, 1] -> (B, 1, L) by pseudo-inverse mel + Griffin-Lim."""
        log = (img.float().squeeze(1) + 1) / 2 * (LOG_HI - LOG_LO) + LOG_LO
        mel = 10**log - 10**LOG_LO  # (B, size, size); the floor maps back to silence
        frames = 1 + self.spec.length // self.hop
        mel = F.pad(mel, (0, max(0, frames - mel.shape[-1])))[..., :frames]
        mag = (torch.linalg.pinv(self.fb.to(mel.device)) @ mel).clamp_min(0)  # (B, F, T)
        wave = griffin_lim(mag.cpu(), self.n_fft, self.hop, self.spec.length,
                           self.config.griffin_lim_iters)  # fmt: skip
        peak = wave.abs().amax(1, keepdim=True).clamp_min(1e-8)
        rms = wave.pow(2).mean(1, keepdim=True).sqrt().clamp_min(1e-8)
        gain = torch.minimum(0.1 / rms, 0.99 / peak)  # -20 dBFS RMS, like the training clips
        return (wave * gain).unsqueeze(1).to(img.device)

    # -- training ------------------------------------------------------------------------------
    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor | None]],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        x, labels = next_batch()
        y = labels if self.conditional else None
        img = self.to_image(x)
        # (1) Maximise the ELBO of the spectrogram image
        out, mu, logvar = nets["vae"](img, y)
        recon = (F.mse_loss(torch.tanh(out.float()), img, reduction="none") / 2).flatten(1).sum(1)
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).float().sum(1)
        loss = (recon + self.config.beta * kl).mean()
        opts["vae"].zero_grad(set_to_none=True)
        accelerator.backward(loss)
        opts["vae"].step()
        return {"loss": loss.detach(), "recon": recon.mean().detach(), "kl": kl.mean().detach()}

    # -- sampling ------------------------------------------------------------------------------
    def generate_spectrogram(self, z, labels=None, net=None) -> torch.Tensor:
        y = labels if self.conditional else None
        return torch.tanh((net or self.vae).decoder(z, y))  # (n, 1, size, size)

    def generate(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        return self.to_wave(self.generate_spectrogram(z, labels, net))
