"""Inference glue for a trained image Run: load once, then sample, interpolate, encode.

The loop is written out here (STYLE.md point 2): latents are drawn on the CPU from a seeded
generator (so a seed means the same images on every device), mapped by the sampling network
(EMA weights when the run has them) in eval mode, batch by batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from genforge.core.checkpoint import load_ema, load_weights
from genforge.core.device import pick_device
from genforge.core.errors import GenforgeError
from genforge.core.run import Run, resolve_run
from genforge.models import ImageModel, ImageSpec, build_model, modality_of


@dataclass
class LoadedRun:
    """A Run's model rebuilt from its config and weights, on a device, in eval mode."""

    run: Run
    model_name: str
    spec: Any
    model: Any
    device: torch.device


def load_run_model(
    run: Run | str | Path, modality: str, spec_type: Any, device: str, use_ema: bool
) -> LoadedRun:
    """Open a `modality` run (a one-line error for another kind) with its EMA weights over
    the raw ones when `use_ema` and they exist."""
    run = run if isinstance(run, Run) else resolve_run(run)
    cfg = run.read_config()
    if modality_of(cfg).name != modality:
        article = "an" if modality[0] in "aeiou" else "a"
        raise GenforgeError(f"run '{run.name}' is not {article} {modality} model")
    spec = spec_type.from_dict(cfg["spec"])
    model = build_model(cfg["model"], spec, cfg["model_config"])
    ema = load_ema(run) if use_ema else None
    model.load_state_dict({**load_weights(run), **(ema or {})})
    dev = pick_device(device)
    model.to(dev).eval()
    return LoadedRun(run, cfg["model"], spec, model, dev)


# Truncation thresholds genforge accepts (CLI, Python API and REST): below 0.05 almost every
# draw lies outside (|z| < 0.05 has probability 0.04) and the samples collapse to the mean.
TRUNCATION_RANGE = (0.05, 10.0)
MAX_RESAMPLE_ROUNDS = 1000  # then clamp: at 0.05, 0.96 ** 1000 leaves no value in practice


def check_truncation(truncation: float | None) -> None:
    """A one-line error for a truncation outside TRUNCATION_RANGE (None: no truncation)."""
    lo, hi = TRUNCATION_RANGE
    if truncation is not None and not lo <= truncation <= hi:
        raise GenforgeError(f"truncation must be between {lo:g} and {hi:g}, got {truncation:g}")


def truncated_latent(
    n: int, dim: int, truncation: float | None, generator: torch.Generator
) -> torch.Tensor:
    """N(0, I) latents, resampled where |z| > truncation (the truncation trick, BigGAN).

    Resampling is bounded: after MAX_RESAMPLE_ROUNDS rounds any value still outside is clamped
    to the interval (StyleGAN-style), so no threshold can make the draw run forever."""
    z = torch.randn(n, dim, generator=generator)
    if truncation is None:
        return z
    check_truncation(truncation)
    for _ in range(MAX_RESAMPLE_ROUNDS):
        bad = z.abs() > truncation
        if not bad.any():
            return z
        z[bad] = torch.randn(int(bad.sum()), generator=generator)
    return z.clamp_(-truncation, truncation)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents a, b (D,) at fractions t (T,) -> (T, D)."""
    a_n, b_n = a / a.norm(), b / b.norm()
    omega = torch.arccos((a_n * b_n).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    t = t[:, None]
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


class ImagePipeline:
    """A loaded image Run.

    Args:
        run: the Run (or its name/path).
        device: "auto", "cpu", "cuda".
        use_ema: sample with the EMA weights when present.
    """

    def __init__(
        self,
        run: Run | str | Path,
        device: str = "auto",
        use_ema: bool = True,
        checkpoint: Literal["last", "best", "before-feedback"] = "last",
    ):
        self.run = run if isinstance(run, Run) else resolve_run(run)
        cfg = self.run.read_config()
        self.model_name: str = cfg["model"]
        self.spec = ImageSpec.from_dict(cfg["spec"])
        folder = None
        self.step = self.run.step
        if checkpoint == "best":
            folder = self.run.best_dir
            if not (folder / "best.json").exists():
                raise GenforgeError(
                    f"run '{self.run.name}' has no best checkpoint; train with --eval-every K "
                    "--keep-best fd"
                )
            self.step = json.loads((folder / "best.json").read_text())["step"]
        elif checkpoint == "before-feedback":
            folder = self.run.before_feedback_dir()
            self.step = json.loads((folder / "meta.json").read_text())["step"]
        elif checkpoint != "last":
            raise GenforgeError(
                f"checkpoint must be 'last', 'best' or 'before-feedback', got {checkpoint!r}"
            )
        self.model: ImageModel = build_model(
            self.model_name, self.spec, cfg["model_config"], model_dir=folder or self.run.model_dir
        )
        weights = load_weights(self.run, folder)
        ema = load_ema(self.run, folder) if use_ema else None
        self.model.load_state_dict({**weights, **(ema or {})})
        self.device = pick_device(device)
        self.model.to(self.device).eval()

    # -- conditions -------------------------------------------------------------------------
    def label_index(self, label: int | str | None) -> int | None:
        """Class name or index -> index, with a clear error for unconditional runs / bad labels."""
        if label is None:
            return None
        if not self.model.conditional:
            raise GenforgeError(
                f"--label needs a class-conditional model; run '{self.run.name}' is an "
                f"unconditional {self.model_name}"
            )
        names = list(self.spec.class_names)
        if str(label) in names:
            return names.index(str(label))
        known = f"run '{self.run.name}' knows {self.spec.num_classes} classes: {', '.join(names)}"
        if not str(label).lstrip("-").isdigit():
            raise GenforgeError(f"unknown class {str(label)!r}; {known}")
        if 0 <= int(label) < self.spec.num_classes:
            return int(label)
        raise GenforgeError(f"label {label!r} is out of range; {known}")

    def attribute_codes(
        self, z: torch.Tensor, wanted: dict[str, str] | None = None
    ) -> torch.Tensor:
        """Attribute-conditional runs (attrgan): codes (n, A) for latents z (n, D), the `wanted`
        {attribute: value} set, every other attribute random but fixed by each latent row.

        Raises:
            GenforgeError: the run has no attributes, or an unknown attribute or value (the
                message lists the valid ones).
        """
        from genforge.data.attributes import parse_condition

        values = self.spec.attribute_values
        if not values or self.model.task != "attributes":
            raise GenforgeError(
                f"attributes need an attribute-conditional run (attrgan); run '{self.run.name}' "
                f"is a {self.model_name}"
            )
        fixed = parse_condition(values, dict(wanted or {}))
        codes = self.model.random_codes(z).cpu()
        names = list(values)
        for name, k in fixed.items():
            codes[:, names.index(name)] = k
        return codes

    def labels_for(self, n: int, label: int | str | None = None) -> torch.Tensor | None:
        """Labels used by `sample`: all `label`, or classes cycled 0, 1, ... when none is given."""
        idx = self.label_index(label)
        if idx is not None:
            return torch.full((n,), idx, dtype=torch.long)
        if self.model.conditional:  # no label asked: cycle through the classes
            return torch.arange(n) % self.spec.num_classes
        return None

    # -- sampling ---------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        batch_size: int = 256,
        progress: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        """Latents (n, D) [+ labels (n,)] -> images (n, C, H, W) in [-1, 1] on the CPU;
        `progress(done, total)` after each batch."""
        out = []
        for i in range(0, z.size(0), batch_size):
            zb = z[i : i + batch_size].to(self.device)
            yb = labels[i : i + batch_size].to(self.device) if labels is not None else None
            out.append(self.model.generate(zb, yb).float().cpu())
            if progress is not None:
                progress(min(i + batch_size, z.size(0)), z.size(0))
        return torch.cat(out)

    def draw(
        self,
        n: int,
        generator: torch.Generator,
        label: int | str | None = None,
        truncation: float | None = None,
        attributes: dict[str, str] | None = None,
        repeat: int = 1,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The inputs `sample` draws from `generator`: latents (n * repeat, D) and their
        conditions, each of the n repeated `repeat` times in a row (best-of candidates).

        Conditions are the labels of `labels_for(n, label)` for class-conditional runs,
        attribute codes (n * repeat, A) for attribute runs (the `attributes` asked, the others
        random per latent), else None."""
        z = truncated_latent(n * repeat, self.model.latent_dim, truncation, generator)
        if self.spec.attributes:
            self.label_index(label)  # attribute runs take no class label
            return z, self.attribute_codes(z, attributes)
        y = self.labels_for(n, label)
        return z, (y.repeat_interleave(repeat) if y is not None else None)

    def sample(
        self,
        n: int,
        seed: int = 0,
        label: int | str | None = None,
        truncation: float | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        """Draw `n` images (n, C, H, W) in [-1, 1]; `labels_for(n, label)` gives their labels."""
        if n < 1:
            raise GenforgeError(f"--n must be at least 1, got {n}")
        z, y = self.draw(n, torch.Generator().manual_seed(seed), label, truncation)
        return self.generate(z, y, progress=progress)

    def interpolate(
        self,
        keyframes: int,
        frames: int,
        seed: int = 0,
        label: int | str | None = None,
        walks: int = 1,
        truncation: float | None = None,
    ) -> torch.Tensor:
        """A closed latent walk through `keyframes` random points: (frames, walks, C, H, W)."""
        if keyframes < 2:
            raise GenforgeError(f"--interpolate needs at least 2 keyframes, got {keyframes}")
        if frames < keyframes:
            raise GenforgeError(
                f"--frames ({frames}) must be at least the number of keyframes ({keyframes})"
            )
        g = torch.Generator().manual_seed(seed)
        idx = self.label_index(label)
        # split `frames` over the keyframes segments of the loop, last keyframe back to the first
        per = [frames // keyframes + (1 if i < frames % keyframes else 0) for i in range(keyframes)]
        walks_z = []
        for _ in range(walks):
            keys = truncated_latent(keyframes, self.model.latent_dim, truncation, g)
            path = [
                slerp(keys[i], keys[(i + 1) % keyframes], torch.arange(per[i]) / per[i])
                for i in range(keyframes)
            ]
            walks_z.append(torch.cat(path))  # (frames, D)
        z = torch.stack(walks_z, dim=1).reshape(frames * walks, -1)  # frame-major
        labels = None
        if self.model.conditional:
            classes = (
                torch.arange(walks) % self.spec.num_classes
                if idx is None
                else torch.full((walks,), idx)
            )
            labels = classes.repeat(frames)
        images = self.generate(z, labels)
        return images.view(frames, walks, *images.shape[1:])

    # -- VAE --------------------------------------------------------------------------------
    def _need_vae(self, what: str) -> None:
        if not self.model.encodes:
            raise GenforgeError(
                f"{what} needs a VAE run; run '{self.run.name}' is a {self.model_name}"
            )

    @torch.no_grad()
    def encode(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 256
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior (mu, logvar), each (n, latent_dim), of images (n, C, H, W) in [-1, 1]."""
        self._need_vae("encode")
        self.check_images(images)
        mus, logvars = [], []
        for i in range(0, images.size(0), batch_size):
            yb = labels[i : i + batch_size].to(self.device) if labels is not None else None
            mu, logvar = self.model.encode(images[i : i + batch_size].to(self.device), yb)
            mus.append(mu.float().cpu())
            logvars.append(logvar.float().cpu())
        return torch.cat(mus), torch.cat(logvars)

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self._need_vae("reconstruct")
        self.check_images(images)
        y = labels.to(self.device) if labels is not None else None
        return self.model.reconstruct(images.to(self.device), y).float().cpu()

    def check_images(self, images: torch.Tensor) -> None:
        want = (self.spec.channels, self.spec.size, self.spec.size)
        if tuple(images.shape[1:]) != want:
            raise GenforgeError(
                f"images of shape {tuple(images.shape[1:])} do not fit this model ({want})"
            )
