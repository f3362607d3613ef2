"""What every audio model family provides: built from an `AudioSpec`, trained on waveforms
(B, 1, L) in [-1, 1], generating waveforms from latents (the same `latent`/`generate` calls as
image models, so the trainer's fixed-latent preview works unchanged)."""

from __future__ import annotations

from typing import Any

from genforge.data.audio import AudioSpec
from genforge.models.base import GenerativeModel


class AudioModel(GenerativeModel):
    """Base class of audio families: waveforms (B, 1, L) in [-1, 1] from latents."""

    labeled_items = "clips"

    def __init__(self, config: Any, spec: AudioSpec):
        super().__init__(config, spec)
