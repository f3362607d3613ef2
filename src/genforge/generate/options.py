"""What the sampling commands ask for, with their defaults held once: `SampleOptions` (`genforge
sample RUN`, read by each modality's writer, the "sample" handler of its entry in
genforge.data.modalities) and `PromptOptions` (`genforge generate image`, whichever provider
draws). The commands pass on only the options a user gave.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from genforge.core.errors import GenforgeError


@dataclass
class SampleOptions:
    """What `genforge sample` was asked for; each modality's writer reads what applies to it."""

    n: int | None = None  # None: COUNTS of what is drawn
    seed: int = 0
    label: str | None = None
    truncation: float | None = None
    grid: Path | None = None
    out_dir: Path | None = None
    nrow: int | None = None
    interpolate: int | None = None
    frames: int = 60
    fps: int = 20
    out: Path | None = None
    sampler: str | None = None
    steps: int | None = None
    guidance: float | None = None
    eta: float | None = None
    best_of: int | None = None  # quality gate (on when best_of or min_score is given)
    min_score: float | None = None
    gate: str | None = None  # auto | learned | both (None: auto)
    max_clipping: float | None = None  # audio gate limits (None: evaluate/audio_gate defaults)
    max_silence: float | None = None
    min_snr: float | None = None
    min_dcr: float | None = None  # table gate limit (None: exact copies only)
    checkpoint: str = "last"
    device: str = "auto"
    ema: bool = True
    lora_scale: float | None = None  # diffusion runs fine-tuned with LoRA (None: as trained)

    # --n when not given, by what is drawn
    COUNTS: ClassVar[dict[str, int]] = {"images": 64, "walks": 1, "rows": 1000, "clips": 8}

    # options that apply to one modality's runs only
    ONLY: ClassVar[dict[str, str]] = {"max_clipping": "audio", "max_silence": "audio",
                                      "min_snr": "audio", "min_dcr": "table",
                                      "lora_scale": "image"}  # fmt: skip

    def count(self, what: str) -> int:
        """--n, else the default count of `what` (a key of COUNTS)."""
        return self.COUNTS[what] if self.n is None else self.n

    def check_for(self, modality: str) -> None:
        """Refuse an option given for a modality it does not apply to (never ignore it)."""
        for name, only in self.ONLY.items():
            if getattr(self, name) is not None and modality != only:
                raise GenforgeError(
                    f"--{name.replace('_', '-')} applies to {only} runs, not {modality} runs"
                )

    def gated(self) -> bool:
        """Whether a quality gate was asked for (any of its options given)."""
        return any(getattr(self, k) is not None
                   for k in ("best_of", "min_score", "gate", *self.ONLY))  # fmt: skip


@dataclass
class PromptOptions:
    """What `genforge generate image` was asked for, beyond the prompt and the model."""

    n: int = 8
    seed: int = 0
    guidance: float | None = None
    steps: int | None = None
    strength: float = 0.6  # image-to-image: how much to change
