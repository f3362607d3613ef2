"""Modality name -> how the server loads a run and generates from it: the one table to extend.

A run's modality comes from its registry entry (`ModelEntry.modality`, "image" by default). A
handler loads a run once (the cache keeps it), samples a whole batch of requests in one
forward pass, and encodes each output (bytes + media type + perceptual hash + watermark).
Text, audio and table handlers plug in by adding a row to `MODALITIES`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genforge.core.errors import GenforgeError, unknown_choice
from genforge.core.run import Run


@dataclass
class Request:
    """One caller's ask, after validation (seed always set, so every output is re-runnable)."""

    n: int
    seed: int
    label: int | str | None = None
    truncation: float | None = None
    prompt: str | None = None
    steps: int | None = None


@dataclass
class Encoded:
    content: bytes
    media_type: str
    ext: str
    phash: str | None  # perceptual hash for lookup when no watermark fits
    watermarked: bool


@dataclass(frozen=True)
class Modality:
    """How to serve one modality.

    load(run, device) -> model; sample(model, requests) -> one list of raw outputs per
    request (one forward pass for all); encode(raw, params, output_id) -> Encoded.
    controls: the request fields the playground shows for this modality.
    """

    load: Callable[[Run, str], Any]
    sample: Callable[[Any, list[Request]], list[list[Any]]]
    encode: Callable[[Any, dict[str, Any], str], Encoded]
    controls: tuple[str, ...] = field(default=("n", "seed"))


# -- image ----------------------------------------------------------------------------------


def _load_image(run: Run, device: str):
    from genforge.generate.pipeline import ImagePipeline

    return ImagePipeline(run, device=device)


def sample_images(pipe, requests: list[Request]) -> list[list[np.ndarray]]:
    """Each request's latents come from its own seeded generator, exactly as
    `ImagePipeline.sample(n, seed, label, truncation)` draws them; then one forward pass."""
    from genforge.core.images import to_uint8
    from genforge.generate.pipeline import truncated_latent

    zs, ys = [], []
    for r in requests:
        g = torch.Generator().manual_seed(r.seed)
        zs.append(truncated_latent(r.n, pipe.model.latent_dim, r.truncation, g))
        ys.append(pipe.labels_for(r.n, r.label))
    z = torch.cat(zs)  # (sum n, D)
    y = torch.cat(ys) if ys[0] is not None else None
    images = pipe.generate(z, y)  # (sum n, C, H, W) in [-1, 1]
    out, i = [], 0
    for r in requests:
        out.append([to_uint8(images[j]) for j in range(i, i + r.n)])
        i += r.n
    return out


def encode_image(arr: np.ndarray, params: dict[str, Any], oid: str) -> Encoded:
    """uint8 (H, W, C) -> PNG with a `genforge` params chunk; >= 256 px also watermarked."""
    from PIL import PngImagePlugin

    from genforge.core.images import to_pil
    from genforge.safety import watermark
    from genforge.safety.provenance import phash

    marked = watermark.fits(arr)
    if marked:
        arr = watermark.embed(arr, oid)
    im = to_pil(arr)
    info = PngImagePlugin.PngInfo()
    import json

    info.add_text("genforge", json.dumps({**params, "id": oid}, sort_keys=True, default=str))
    buf = io.BytesIO()
    im.save(buf, format="PNG", pnginfo=info, compress_level=1)  # speed over bytes
    return Encoded(buf.getvalue(), "image/png", "png", phash(im), marked)


MODALITIES: dict[str, Modality] = {
    "image": Modality(
        _load_image, sample_images, encode_image, ("n", "seed", "label", "truncation")
    ),
}


def run_modality(run: Run) -> str:
    """The modality of a run: its model's registry entry says (image when the field is absent)."""
    from genforge.models import MODELS

    model = run.read_config().get("model")
    entry = MODELS.get(model)
    if entry is None:
        raise GenforgeError(f"run '{run.name}' uses model '{model}', which is not registered")
    return getattr(entry, "modality", "image")


def get_modality(name: str) -> Modality:
    if name not in MODALITIES:
        raise unknown_choice("modality (no generate handler)", name, MODALITIES)
    return MODALITIES[name]
