"""What every video model family provides: built from a `VideoSpec`, trained on clips
(B, C, T, H, W) in [-1, 1], generating clips from latents (the same `latent`/`generate` calls
as image and audio models, so the trainer's fixed-latent preview works unchanged)."""

from __future__ import annotations

from typing import Any

from genforge.core.errors import GenforgeError
from genforge.data.video import VideoSpec
from genforge.models.base import GenerativeModel


class VideoModel(GenerativeModel):
    """Base class of video families: clips (B, C, T, H, W) in [-1, 1] from latents."""

    labeled_items = "clips"
    supported_sizes = (8, 16, 32, 64, 128)
    # Families that can be given frames and fill in the rest (`genforge predict`, `interpolate`,
    # `restore`): `generate_given(z, labels, known, mask)` keeps the known frames exactly.
    fills_frames = False

    def __init__(self, config: Any, spec: VideoSpec):
        if spec.size not in self.supported_sizes:
            raise GenforgeError(
                f"clip size {spec.size} is not supported by {type(self).__name__}; use one of "
                f"{', '.join(map(str, self.supported_sizes))}"
            )
        super().__init__(config, spec)
