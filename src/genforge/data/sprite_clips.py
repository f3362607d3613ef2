"""The `sprite-clips` embedded video set: the character sprites of data/sprites.py animated.

Each clip is one sprite (random attributes and nuisance, as in the `sprites` image set) doing one
of three motions, its label:

  blink   round eyes, shut for one frame every 4 (phase random); the sprite stands still
  walk    the sprite steps sideways 4 px (of 64) per frame with a 1 px bob, direction random
  nod     the sprite bobs up and down by up to 3 px, a 4-frame cycle (phase random)

Sprites are drawn at 64x64 and box-filtered down to the clip size; the background colour
fills what a moving sprite uncovers. Seeded: the same seed gives the same clips.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from genforge.data.sprites import ATTRIBUTES, SPRITE_SIZE, draw_sprite

MOTIONS = ("blink", "walk", "nod")
CLIPS_PER_MOTION = 200


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """(H, W, 3) moved by (dx, dy) pixels, the uncovered part filled with the corner colour
    (the sprite's background)."""
    h, w = image.shape[:2]
    out = np.empty_like(image)
    out[:] = image[0, 0]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = image[ys, xs]
    return out


def sprite_frames(motion: str, frames: int, rng: np.random.Generator) -> np.ndarray:
    """One clip of `motion`: uint8 (T, 64, 64, 3)."""
    attrs = {a: str(rng.choice(v)) for a, v in ATTRIBUTES.items()}
    if motion == "blink" or attrs["eyes"] == "closed":
        attrs["eyes"] = "round"  # a blink needs eyes that open wide enough to see it
    nuisance = int(rng.integers(2**31))
    phase = int(rng.integers(4))

    def draw(**change: str) -> np.ndarray:  # the same sprite (same nuisance) every frame
        return np.asarray(draw_sprite({**attrs, **change}, np.random.default_rng(nuisance))[0])

    still = draw()
    if motion == "blink":
        shut = draw(eyes="closed")
        return np.stack([shut if (t + phase) % 4 == 0 else still for t in range(frames)])
    if motion == "walk":
        step = 4 * (1 if rng.integers(2) else -1)
        start = -step * frames // 2
        return np.stack([shifted(still, start + step * t, -(t % 2)) for t in range(frames)])
    bob = (0, -2, -3, -2)
    return np.stack([shifted(still, 0, bob[(t + phase) % 4]) for t in range(frames)])


def sprite_clips(
    frames: int, size: int, channels: int, per_motion: int = CLIPS_PER_MOTION, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(clips (N, C, T, S, S) float32 in [-1, 1], labels (N,) indices into MOTIONS)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(MOTIONS)), per_motion)
    clips = np.empty((len(labels), channels, frames, size, size), np.float32)
    for n, k in enumerate(labels):
        for t, f in enumerate(sprite_frames(MOTIONS[k], frames, rng)):
            im = Image.fromarray(f)
            if size != SPRITE_SIZE:
                im = im.resize((size, size), Image.Resampling.BOX)
            arr = np.asarray(im.convert("L"))[:, :, None] if channels == 1 else np.asarray(im)
            clips[n, :, t] = arr.transpose(2, 0, 1) / 127.5 - 1.0
    return clips, labels
