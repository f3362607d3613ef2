"""Writing samples to disk: grids, single files, latent walks, VAE codes.

Every PNG carries its generation parameters (run, step, seed, label, index) in text chunks.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.core.images import make_grid, save_png, to_uint8
from genforge.core.io import write_bytes
from genforge.core.run import Run
from genforge.generate.animate import write_animation
from genforge.generate.pipeline import ImagePipeline
from genforge.models import get_entry


def open_pipeline(
    run: Run,
    device: str = "auto",
    use_ema: bool = True,
    sampler: str | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    checkpoint: str = "last",
    eta: float | None = None,
    lora_scale: float | None = None,
) -> ImagePipeline:
    """The pipeline for `run`: a DiffusionPipeline (with its sampler options) for diffusion
    runs, an ImagePipeline for GANs and VAEs (which take no sampler options)."""
    from genforge.models.diffusion import DDPM

    cfg = run.read_config()
    if get_entry(cfg["model"]).family.task == "translate":  # cyclegan, pix2pix
        raise GenforgeError(
            f"run '{run.name}' translates images rather than sampling them; use genforge translate"
        )
    if get_entry(cfg["model"]).family.task == "detect":  # models/detector.py
        raise GenforgeError(
            f"run '{run.name}' is a detector: it classifies images rather than sampling them; "
            f"use genforge detect FILE --detector {run.name}"
        )
    if issubclass(get_entry(cfg["model"]).family, DDPM):
        from genforge.generate.diffusion import DiffusionPipeline

        return DiffusionPipeline(
            run, device, use_ema, sampler or "ddim", steps, guidance, checkpoint, eta, lora_scale
        )
    given = [k for k, v in {"--sampler": sampler, "--steps": steps, "--guidance": guidance,
                            "--eta": eta, "--lora-scale": lora_scale}.items()
             if v is not None]  # fmt: skip
    if given:
        raise GenforgeError(
            f"{', '.join(given)} only apply to diffusion runs; run '{run.name}' is a {cfg['model']}"
        )
    return ImagePipeline(run, device=device, use_ema=use_ema, checkpoint=checkpoint)


def load_pipeline(run: Run, device: str = "auto") -> ImagePipeline:
    """What `genforge.load` returns for an image run: its ImagePipeline (EMA weights, the last
    checkpoint). `sample` draws with the model's own generator; for a diffusion run that is its
    preview DDIM (open_pipeline gives the samplers of `genforge sample`)."""
    return ImagePipeline(run, device=device)


def _params(pipe: ImagePipeline, **extra) -> dict:
    base = {"run": pipe.run.name, "model": pipe.model_name, "step": pipe.step}
    for key in ("sampler", "steps", "guidance", "eta", "lora_scale"):  # diffusion pipelines
        if getattr(pipe, key, None) is not None:
            base[key] = getattr(pipe, key)
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
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Sample `n` images; write a grid PNG and/or one PNG per image. Returns written paths.
    `progress(done, total)` after each sampled batch."""
    images = pipe.sample(n, seed=seed, label=label, truncation=truncation, progress=progress)
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


def write_restored(pipe: ImagePipeline, image: torch.Tensor, out: str | Path, params: dict) -> Path:
    """Write one restored image (1, C, H, W) as PNG with its parameters."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise GenforgeError(f"--out must end in .png, got {out.name}")
    return save_png(out, to_uint8(image[0]), _params(pipe, **params))


def write_prompt_samples(
    pipe: ImagePipeline,
    prompt: str,
    n: int,
    seed: int = 0,
    grid: str | Path | None = None,
    out_dir: str | Path | None = None,
) -> list[Path]:
    """Text-to-image: `n` images for `prompt` as a grid PNG and/or single PNGs."""
    images = pipe.sample_prompt(prompt, n, seed=seed)
    common = _params(pipe, prompt=prompt, seed=seed, n=n)
    written: list[Path] = []
    if grid is not None:
        written.append(save_png(grid, make_grid(images), {**common, "kind": "grid"}))
    if out_dir is not None:
        for i in range(n):
            path = Path(out_dir) / f"{pipe.run.name}-s{seed}-{i:05d}.png"
            written.append(save_png(path, to_uint8(images[i]), {**common, "index": i}))
    return written


def write_pil_images(
    images: list, params: dict, grid: str | Path | None = None, out_dir: str | Path | None = None
) -> list[Path]:
    """PIL images from a provider as a grid PNG and/or single PNGs, with `params` embedded."""
    tensors = [
        torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 127.5 - 1).permute(
            2, 0, 1
        )
        for im in images
    ]
    written: list[Path] = []
    if grid is not None:
        sizes = {tuple(t.shape) for t in tensors}
        if len(sizes) > 1:
            raise GenforgeError(
                f"the provider returned images of different sizes {sizes}; use --out-dir"
            )
        written.append(save_png(grid, make_grid(torch.stack(tensors)), {**params, "kind": "grid"}))
    if out_dir is not None:
        for i, t in enumerate(tensors):
            path = (
                Path(out_dir)
                / f"{params.get('provider', 'image')}-s{params.get('seed', 0)}-{i:05d}.png"
            )
            written.append(save_png(path, to_uint8(t), {**params, "index": i}))
    return written


def require_translator(pipe: ImagePipeline) -> None:
    if pipe.model.task != "translate":
        raise GenforgeError(
            f"translation needs a cyclegan or pix2pix run; run '{pipe.run.name}' is a {pipe.model_name}"
        )


def translate_image(
    pipe: ImagePipeline, image: torch.Tensor, direction: str = "a2b"
) -> torch.Tensor:
    """Translate one image (1, C, H, W) with a CycleGAN or pix2pix run; returns (1, C, H, W) on the CPU."""
    require_translator(pipe)
    pipe.check_images(image)
    with torch.no_grad():
        return pipe.model.translate(image.to(pipe.device), direction).float().cpu()
