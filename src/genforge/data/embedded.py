"""Embedded image sets: built on the spot from data shipped with scikit-learn / scikit-image.

No network, deterministic given the seed. Every set returns float32 images in [-1, 1],
shape (N, C, H, W), so the smoke paths of every model run in seconds without a download.

  digits    1797 handwritten digits (sklearn `load_digits`, 8x8 upsampled), 10 classes
  phantoms  CT-like head phantoms in the spirit of Shepp-Logan, classes healthy / lesion
  photos    random RGB patches of the photographs bundled with scikit-image / scikit-learn
  sprites   procedurally drawn 64x64 character sprites with five attributes (data/sprites.py)
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from genforge.core.errors import GenforgeError, unknown_choice


@dataclass
class EmbeddedData:
    """A generated set before it is wrapped in an `ImageDataset`."""

    images: torch.Tensor  # (N, C, H, W) float32 in [-1, 1]
    labels: torch.Tensor | None  # (N,) int64; None when unlabeled
    class_names: list[str]  # [] when unlabeled
    original_sizes: dict[str, int]  # "WxH" of what the images were made from -> count
    original_modes: dict[str, int]  # PIL mode of the source -> count
    attributes: torch.Tensor | None = None  # (N, A) int64 attribute codes (multi-label sets)
    attribute_values: dict[str, list[str]] = field(default_factory=dict)  # name -> values


# ---------------------------------------------------------------------------- digits


def make_digits(image_size: int = 32, seed: int = 0) -> EmbeddedData:
    """scikit-learn's 1797 8x8 digits, upsampled; background -1, strokes towards +1.

    Args:
        image_size: 8, 16, 32 or 64 (bicubic upsampling from 8x8).
        seed: unused (the set is fixed); kept so every builder has the same signature.

    Returns:
        1797 images (1 channel), labels 0..9, class names "0".."9".
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy(digits.images).float()[:, None] / 16.0  # (1797, 1, 8, 8) in [0, 1]
    if image_size != 8:
        x = F.interpolate(x, size=(image_size, image_size), mode="bicubic", align_corners=False)
    x = (x * 2.0 - 1.0).clamp(-1.0, 1.0)  # bicubic overshoots a little around strokes
    n = len(x)
    return EmbeddedData(
        images=x.contiguous(),
        labels=torch.from_numpy(digits.target).long(),
        class_names=[str(d) for d in range(10)],
        original_sizes={"8x8": n},
        original_modes={"L": n},
    )


# ---------------------------------------------------------------------------- phantoms

PHANTOM_CLASSES = ["healthy", "lesion"]


def _add_ellipses(
    density: np.ndarray, coords: np.ndarray, e: dict[str, np.ndarray], values: np.ndarray
) -> None:
    """Add `values[k]` inside each rotated ellipse k of `e` to `density` (n, n), in place.

    `coords` (n,) are the pixel centres in [-1, 1]; only each ellipse's bounding box is touched.
    """
    for cy, cx, ry, rx, angle, value in zip(
        e["cy"], e["cx"], e["ry"], e["rx"], e["angle"], values, strict=True
    ):
        reach = max(rx, ry)
        ys = slice(*np.searchsorted(coords, [cy - reach, cy + reach]))
        xs = slice(*np.searchsorted(coords, [cx - reach, cx + reach]))
        dy, dx = coords[ys, None] - cy, coords[None, xs] - cx  # (h, 1), (1, w)
        u = dx * np.cos(angle) + dy * np.sin(angle)  # coordinates along the ellipse's axes
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        density[ys, xs] += value * ((u / rx) ** 2 + (v / ry) ** 2 <= 1.0)


def make_phantom(image_size: int, rng: np.random.Generator, lesion: bool) -> np.ndarray:
    """One head phantom (H, W) float32 in [-1, 1].

    Additive ellipses as in Shepp & Logan (1974): skull (+1.0), brain (-0.8, so tissue sits at
    0.2), two tilted ventricles, a few small random structures. A lesion is one extra small
    round blob inside the brain, bright or dark. The lesion is drawn from `rng` whether or not
    it is painted, so two generators in the same state give the same head with and without it.

    Args:
        image_size: output side in pixels (rendered at 2x, then averaged for smooth edges).
        rng: numpy Generator; consumed by exactly the same amount for both classes.
        lesion: paint the lesion blob.

    Returns:
        The phantom, background -1, skull +1, light Gaussian noise.
    """
    n = 2 * image_size  # rendered at 2x, averaged down at the end
    coords = (np.arange(n) + 0.5) / n * 2.0 - 1.0  # pixel centres in [-1, 1]; y down, x right

    # Head: outer skull ellipse; every inner feature lives in head-relative coordinates.
    hy, hx = rng.normal(0.0, 0.02, size=2)
    ry = rng.uniform(0.82, 0.92)
    rx = ry * rng.uniform(0.70, 0.80)
    tilt = rng.normal(0.0, 0.08)
    scale = (rx + ry) / 2
    cos_t, sin_t = np.cos(tilt), np.sin(tilt)

    def ellipses(u, v, ax, ay, angle) -> dict[str, np.ndarray]:
        """Ellipses centred at head-relative (u, v) in [-1, 1]; they follow the head's tilt."""
        px, py = np.asarray(u) * rx, np.asarray(v) * ry  # offsets from the head centre
        return {
            "cy": hy + px * sin_t + py * cos_t,
            "cx": hx + px * cos_t - py * sin_t,
            "rx": np.asarray(ax),
            "ry": np.asarray(ay),
            "angle": np.asarray(angle) + tilt,
        }

    parts: list[tuple[dict[str, np.ndarray], np.ndarray]] = []  # (ellipses, intensities)
    # Skull (+1) and brain (-0.8 inside it, so tissue is at 0.2).
    parts.append((ellipses([0.0], [0.0], [rx], [ry], [0.0]), np.array([1.0])))
    inner = rng.uniform(0.88, 0.93)  # skull thickness
    parts.append((ellipses([0.0], [0.02], [rx * inner], [ry * inner], [0.0]), np.array([-0.8])))

    # Ventricles: two dark ellipses tilted by about ±18 degrees, as in Shepp-Logan.
    side = np.array([1.0, -1.0])
    u, v = side * 0.28 + rng.normal(0.0, 0.03, 2), rng.normal(0.0, 0.04, 2)
    ax = scale * np.array([0.11, 0.16]) * rng.uniform(0.8, 1.2, 2)
    ay = scale * np.array([0.31, 0.41]) * rng.uniform(0.8, 1.2, 2)
    angle = side * np.deg2rad(-18.0 + rng.normal(0.0, 5.0, 2))
    parts.append((ellipses(u, v, ax, ay, angle), -rng.uniform(0.12, 0.2, 2)))

    # Small structures: 3..6 faint ellipses anywhere inside the brain.
    k = int(rng.integers(3, 7))
    r, phi = 0.65 * np.sqrt(rng.uniform(0, 1, k)), rng.uniform(0, 2 * np.pi, k)
    ax, ay = scale * rng.uniform(0.04, 0.14, k), scale * rng.uniform(0.04, 0.14, k)
    angle = rng.uniform(0, np.pi, k)
    intensity = rng.choice([-1.0, 1.0], k) * rng.uniform(0.03, 0.10, k)
    parts.append((ellipses(r * np.cos(phi), r * np.sin(phi), ax, ay, angle), intensity))

    # Lesion: one round blob, bright (+0.25..0.45) or dark (down to the ventricle level).
    r, phi = 0.55 * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
    radius = scale * rng.uniform(0.08, 0.14)
    bright = rng.uniform() < 0.5
    strength = rng.uniform(0.25, 0.45) if bright else -rng.uniform(0.18, 0.2)
    if lesion:
        blob = ellipses([r * np.cos(phi)], [r * np.sin(phi)], [radius], [radius], [0.0])
        parts.append((blob, np.array([strength])))

    density = np.zeros((n, n))
    for e, intensity in parts:
        _add_ellipses(density, coords, e, intensity)
    density = density.reshape(image_size, 2, image_size, 2).mean(axis=(1, 3))  # 2x2 average
    density += rng.normal(0.0, 0.02, density.shape)  # light acquisition noise
    return (np.clip(density, 0.0, 1.0) * 2.0 - 1.0).astype(np.float32)


def make_phantoms(image_size: int = 64, seed: int = 0, num_images: int = 1000) -> EmbeddedData:
    """Balanced set of head phantoms, classes "healthy" (0) and "lesion" (1).

    Args:
        image_size: 16, 32, 64 or 128.
        seed: seeds the numpy Generator; same seed, same images.
        num_images: total count, half of each class (healthy gets the extra one if odd).

    Returns:
        (num_images, 1, H, W) images in [-1, 1] with labels, in shuffled order.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_images) % 2)  # balanced, shuffled
    images = np.stack([make_phantom(image_size, rng, bool(y)) for y in labels])
    return EmbeddedData(
        images=torch.from_numpy(images)[:, None],  # (N, 1, H, W)
        labels=torch.from_numpy(labels).long(),
        class_names=list(PHANTOM_CLASSES),
        original_sizes={f"{image_size}x{image_size}": num_images},
        original_modes={"F": num_images},
    )


# ---------------------------------------------------------------------------- photos


def _sklearn_sample(index: int) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_images

        return load_sample_images().images[index]

    return load


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return load


# RGB photographs that ship inside the installed packages (no pooch download).
PHOTO_SOURCES: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "chelsea": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "rocket": _skimage("rocket"),
    "immunohistochemistry": _skimage("immunohistochemistry"),
    "china": _sklearn_sample(0),
    "flower": _sklearn_sample(1),
}


@functools.cache
def _photo(name: str) -> Image.Image:
    return Image.fromarray(PHOTO_SOURCES[name]()).convert("RGB")


def make_photos(image_size: int = 32, seed: int = 0, num_images: int = 2000) -> EmbeddedData:
    """Random square patches of bundled RGB photographs, unlabeled.

    Each patch picks a photo, a side between max(image_size, short side / 10) and half the
    short side (log-uniform, so fine texture and larger objects both appear), a random position,
    and is resized (Lanczos) to image_size.

    Args:
        image_size: 8 .. 256.
        seed: seeds the numpy Generator; same seed, same patches.
        num_images: number of patches.

    Returns:
        (num_images, 3, H, W) images in [-1, 1], no labels.
    """
    rng = np.random.default_rng(seed)
    names = sorted(PHOTO_SOURCES)
    images = np.empty((num_images, image_size, image_size, 3), dtype=np.uint8)
    sources: Counter[str] = Counter()
    for i in range(num_images):
        photo = _photo(names[rng.integers(len(names))])
        w, h = photo.size
        short = min(w, h)
        lo = min(short, max(image_size, short / 10))
        hi = max(lo, short / 2)
        side = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        left, top = rng.uniform(0, w - side), rng.uniform(0, h - side)
        box = (left, top, left + side, top + side)
        images[i] = np.asarray(
            photo.resize((image_size, image_size), Image.Resampling.LANCZOS, box=box)
        )
        sources[f"{w}x{h}"] += 1
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (N, 3, H, W)
    return EmbeddedData(
        images=x.contiguous(),
        labels=None,
        class_names=[],
        original_sizes=dict(sources.most_common(10)),
        original_modes={"RGB": num_images},
    )


# ---------------------------------------------------------------------------- sprites


def make_sprites(image_size: int = 64, seed: int = 0, num_images: int = 4000) -> EmbeddedData:
    """Character sprites drawn at 64x64 (data/sprites.py), with five categorical attributes.

    Args:
        image_size: 16, 32, 64 (as drawn) or 128; other sizes are box-filtered / nearest-scaled.
        seed: seeds the numpy Generator; same seed, same sprites.
        num_images: number of sprites (attributes uniform and independent).

    Returns:
        (num_images, 3, H, W) images in [-1, 1], no class labels, attribute codes (N, 5).
    """
    from genforge.data.sprites import ATTRIBUTES, SPRITE_SIZE, make_sprite_arrays

    arrays, codes = make_sprite_arrays(num_images, seed)
    x = torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (N, 3, 64, 64)
    if image_size < SPRITE_SIZE:
        x = F.avg_pool2d(x, SPRITE_SIZE // image_size)
    elif image_size > SPRITE_SIZE:
        x = F.interpolate(x, scale_factor=image_size // SPRITE_SIZE, mode="nearest")
    return EmbeddedData(
        images=x.contiguous(),
        labels=None,
        class_names=[],
        original_sizes={f"{SPRITE_SIZE}x{SPRITE_SIZE}": num_images},
        original_modes={"RGB": num_images},
        attributes=torch.from_numpy(codes).long(),
        attribute_values={k: list(v) for k, v in ATTRIBUTES.items()},
    )


# ---------------------------------------------------------------------------- table


@dataclass(frozen=True)
class EmbeddedSpec:
    """How to build one embedded set and which sizes it supports."""

    build: Callable[[int, int], EmbeddedData]  # (image_size, seed) -> data
    default_size: int
    sizes: tuple[int, ...]
    channels: int
    description: str


EMBEDDED: dict[str, EmbeddedSpec] = {
    "digits": EmbeddedSpec(
        make_digits, 32, (8, 16, 32, 64), 1, "1797 handwritten digits, 10 classes (sklearn)"
    ),
    "phantoms": EmbeddedSpec(
        make_phantoms, 64, (16, 32, 64, 128), 1, "1000 CT-like head phantoms, healthy / lesion"
    ),
    "photos": EmbeddedSpec(
        make_photos, 32, (8, 16, 32, 64, 128, 256), 3, "2000 RGB patches of bundled photographs"
    ),
    "sprites": EmbeddedSpec(
        make_sprites,
        64,
        (16, 32, 64, 128),
        3,
        "4000 character sprites; attributes hair, eyes, smile, skin, accessory",
    ),
}


def load_embedded(name: str, image_size: int | None = None, seed: int = 0) -> EmbeddedData:
    """Build the embedded set `name` at `image_size` (its default when None).

    Raises:
        GenforgeError: unknown name, or a size this set does not support.
    """
    if name not in EMBEDDED:
        raise unknown_choice("embedded dataset", name, EMBEDDED)
    spec = EMBEDDED[name]
    size = spec.default_size if image_size is None else image_size
    if size not in spec.sizes:
        raise GenforgeError(
            f"image size {size} is not supported by '{name}'; "
            f"use one of {', '.join(map(str, spec.sizes))}"
        )
    return spec.build(size, seed)
