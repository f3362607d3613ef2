"""Inference glue for a trained audio Run: sample clips, write WAVs and a spectrogram grid."""

from __future__ import annotations

from pathlib import Path

import torch

from genforge.core.audio import save_spectrogram_grid, write_wav
from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.data.audio import AudioSpec
from genforge.generate.pipeline import load_run_model


class AudioPipeline:
    """A loaded audio Run.

    Args:
        run: the Run (or its name/path).
        device: "auto", "cpu", "cuda".
        use_ema: sample with the EMA weights when present.
    """

    def __init__(self, run: Run | str | Path, device: str = "auto", use_ema: bool = True):
        loaded = load_run_model(run, "audio", AudioSpec, device, use_ema)
        self.run, self.model_name, self.spec = loaded.run, loaded.model_name, loaded.spec
        self.model, self.device = loaded.model, loaded.device

    @property
    def sample_rate(self) -> int:
        return self.spec.sample_rate

    @property
    def seconds(self) -> float:
        return self.spec.seconds

    def labels_for(self, n: int, label: int | str | None) -> torch.Tensor | None:
        names = list(self.spec.class_names)
        if label is not None and not self.model.conditional:
            raise GenforgeError(
                f"--label needs a conditional model; run '{self.run.name}' is unconditional"
            )
        if label is None:
            return torch.arange(n) % self.spec.num_classes if self.model.conditional else None
        if str(label) in names:
            return torch.full((n,), names.index(str(label)))
        if str(label).isdigit() and int(label) < len(names):
            return torch.full((n,), int(label))
        raise GenforgeError(
            f"unknown class {label!r}; run '{self.run.name}' knows {', '.join(names)}"
        )

    @torch.no_grad()
    def sample(
        self, n: int, seed: int = 0, label: int | str | None = None, batch_size: int = 64,
        repeat: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
        """(waveforms (n * repeat, 1, L) in [-1, 1] on the CPU, their labels or None); with
        `repeat` each of the n labels is drawn `repeat` times in a row (best-of candidates)."""
        if n < 1:
            raise GenforgeError(f"--n must be at least 1, got {n}")
        g = torch.Generator().manual_seed(seed)
        z = self.model.latent(n * repeat, generator=g)
        labels = self.labels_for(n, label)
        if labels is not None:
            labels = labels.repeat_interleave(repeat)
        out = []
        for i in range(0, n * repeat, batch_size):
            y = labels[i : i + batch_size].to(self.device) if labels is not None else None
            out.append(self.model.generate(z[i : i + batch_size].to(self.device), y).float().cpu())
        return torch.cat(out), labels


def write_clips(
    pipe: AudioPipeline,
    n: int,
    out_dir: Path,
    seed: int = 0,
    label: int | str | None = None,
    grid: Path | None = None,
) -> tuple[list[Path], Path]:
    """`n` WAV files (the run's rate and length) into `out_dir` and a spectrogram grid PNG
    (default `out_dir/spectrograms.png`, at most 16 clips)."""
    waves, labels = pipe.sample(n, seed, label)
    params = {"run": pipe.run.name, "seed": seed, "kind": "sample", "n": n}
    return save_clips(pipe, waves, labels, out_dir, params, grid)


def save_clips(
    pipe: AudioPipeline,
    waves: torch.Tensor,
    labels: torch.Tensor | None,
    out_dir: Path,
    params: dict,
    grid: Path | None = None,
) -> tuple[list[Path], Path]:
    """Clips (n, 1, L) as WAV files into `out_dir`, and a spectrogram grid PNG of the first 16
    carrying `params` (default `out_dir/spectrograms.png`)."""
    names = list(pipe.spec.class_names)
    paths = []
    for i, w in enumerate(waves):
        tag = f"-{names[int(labels[i])]}" if labels is not None else ""
        paths.append(write_wav(out_dir / f"clip-{i:04d}{tag}.wav", w, pipe.sample_rate))
    titles = [names[int(y)] for y in labels[:16]] if labels is not None else None
    grid = grid or out_dir / "spectrograms.png"
    save_spectrogram_grid(grid, waves[:16], pipe.sample_rate, titles, params)
    return paths, grid
