"""Writing samples to disk: grids, single files, latent walks, VAE codes.

Every PNG carries its generation parameters (run, step, seed, label, index) in text chunks.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.core.images import make_grid, save_png, to_uint8
from genforge.core.io import write_bytes
from genforge.generate.animate import write_animation
from genforge.generate.pipeline import ImagePipeline


def _params(pipe: ImagePipeline, **extra) -> dict:
    base = {"run": pipe.run.name, "model": pipe.model_name, "step": pipe.step}
    return {**base, **{k: v for k, v in extra.items() if v is not None}}


def write_samples(
    pipe: ImagePipeline,
    n: int,
    seed: int = 0,
    label: int | str | None = None,
    truncation: float | None = None,
    grid: str | Path | None = None,
    out_dir: str | Path | None = None,
    nrow: int | None = None,
) -> list[Path]:
    """Sample `n` images; write a grid PNG and/or one PNG per image. Returns written paths."""
    images = pipe.sample(n, seed=seed, label=label, truncation=truncation)
    labels = pipe.labels_for(n, label)
    params: dict = {"seed": seed, "n": n, "truncation": truncation}
    if label is not None:
        params["label"] = list(pipe.spec.class_names)[pipe.label_index(label)]
    return write_images(pipe, images, labels, params, grid, out_dir, nrow)


def write_images(
    pipe: ImagePipeline,
    images: torch.Tensor,
    labels: torch.Tensor | None,
    params: dict,
    grid: str | Path | None = None,
    out_dir: str | Path | None = None,
    nrow: int | None = None,
    scores: torch.Tensor | None = None,
) -> list[Path]:
    """Write sampled `images` as a grid PNG and/or one PNG each, with their parameters."""
    n = len(images)
    names = list(pipe.spec.class_names)
    common = _params(pipe, **params)
    written: list[Path] = []
    if grid is not None and n:
        if nrow is None and labels is not None and "label" not in params:
            nrow = min(pipe.spec.num_classes, n)  # one column per class
        written.append(save_png(grid, make_grid(images, nrow=nrow), {**common, "kind": "grid"}))
    if out_dir is not None:
        for i in range(n):
            extra: dict = {"index": i, "kind": "single"}
            if labels is not None:
                extra["label"] = names[int(labels[i])]
            if scores is not None:
                extra["score"] = round(float(scores[i]), 4)
            path = Path(out_dir) / f"{pipe.run.name}-s{params.get('seed', 0)}-{i:05d}.png"
            written.append(save_png(path, to_uint8(images[i]), {**common, **extra}))
    return written


def write_walk(
    pipe: ImagePipeline,
    out: str | Path,
    keyframes: int,
    frames: int,
    fps: int = 20,
    seed: int = 0,
    label: int | str | None = None,
    walks: int = 1,
    truncation: float | None = None,
) -> Path:
    """A looping latent walk as GIF or MP4; several walks are tiled side by side."""
    video = pipe.interpolate(
        keyframes, frames, seed=seed, label=label, walks=walks, truncation=truncation
    )
    tiles = [make_grid(video[f], padding=0 if walks == 1 else 2) for f in range(frames)]
    params = _params(pipe, seed=seed, keyframes=keyframes, frames=frames, walks=walks, label=label)
    return write_animation(out, tiles, fps=fps, params=params)


def encode_images(
    pipe: ImagePipeline,
    source: str,
    out: str | Path,
    recon_grid: str | Path | None = None,
) -> tuple[Path, int]:
    """Encode every image of `source` with a VAE run into an .npz (mu, logvar, labels, classes)."""
    from genforge.data import load_images

    out = Path(out)
    if out.suffix != ".npz":
        raise GenforgeError(f"--out must end in .npz, got {out.name}")
    data = load_images(source, pipe.spec.size, pipe.spec.channels)
    if data.images is None:
        raise GenforgeError(f"{source} is too large to encode in memory")
    labels = data.labels if pipe.model.conditional else None
    if pipe.model.conditional and data.labels is None:
        raise GenforgeError(
            f"run '{pipe.run.name}' is conditional; {source} has no class subfolders"
        )
    mu, logvar = pipe.encode(data.images, labels)
    arrays = {
        "mu": mu.numpy(),
        "logvar": logvar.numpy(),
        "labels": (data.labels.numpy() if data.labels is not None else np.full(len(mu), -1)),
        "class_names": np.array(data.class_names, dtype=str),
    }
    if data.files is not None:
        arrays["files"] = np.array([str(f) for f in data.files], dtype=str)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes(out, buf.getvalue())
    if recon_grid is not None:
        k = min(32, len(mu))
        recon = pipe.reconstruct(data.images[:k], labels[:k] if labels is not None else None)
        pairs = torch.stack([data.images[:k], recon], dim=1).flatten(0, 1)  # original, recon, ...
        save_png(
            recon_grid,
            make_grid(pairs, nrow=16),
            _params(pipe, kind="reconstructions", source=source),
        )
    return out, len(mu)


def write_class_grid(
    pipe: ImagePipeline, path: str | Path, per_class: int = 10, seed: int = 0
) -> Path:
    """One row per class, `per_class` samples each (row k = class k): the conditional check."""
    if not pipe.model.conditional:
        raise GenforgeError(
            f"a class grid needs a conditional run; '{pipe.run.name}' is {pipe.model_name}"
        )
    g = torch.Generator().manual_seed(seed)
    k = pipe.spec.num_classes
    z = torch.randn(k * per_class, pipe.model.latent_dim, generator=g)
    labels = torch.arange(k).repeat_interleave(per_class)  # (k * per_class,): 0,0,..,1,1,..
    images = pipe.generate(z, labels)
    params = _params(pipe, seed=seed, kind="class-grid", rows=",".join(pipe.spec.class_names))
    return save_png(path, make_grid(images, nrow=per_class), params)
