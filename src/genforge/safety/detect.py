"""Where did this file come from? Evidence from strongest to weakest:

sha256       the exact bytes genforge wrote
watermark    an output id decoded from the invisible watermark (>= 256 px), found in the store
             (tried at the image's size and, for shrunk copies, scaled back to 256/512 px)
png-metadata the `genforge` PNG chunk names an output id that the store knows (easy to forge
             or strip: reported as a claim)
phash        the nearest perceptual hash within `max_distance` bits (re-encoded, resized or
             slightly cropped copies of outputs too small to watermark)

A clip (MP4, WebM) is judged on its key frames, decoded: the first, middle and last frame are
read for the watermark every frame of a >= 256 px output carries, then matched by perceptual
hash (the server records the middle key frame's).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from genforge.core.errors import GenforgeError
from genforge.core.images import phash
from genforge.safety import watermark
from genforge.safety.provenance import ID_BYTES, ProvenanceStore, Record

Evidence = Literal["sha256", "watermark", "png-metadata", "phash"]
PHASH_MAX_DISTANCE = 8  # of 64 bits


@dataclass
class Detection:
    found: bool
    evidence: Evidence | None
    record: Record | None
    distance: int | None = None  # phash bits apart
    ties: int | None = None  # records at that distance (>1: ambiguous)

    @property
    def message(self) -> str:
        if not self.found or self.record is None:
            return "no genforge watermark"
        r = self.record
        extra = f", {self.distance}/64 bits apart" if self.distance is not None else ""
        return f"genforge output {r.id} of run {r.run} at {r.created} (evidence: {self.evidence}{extra})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "evidence": self.evidence,
            "message": self.message,
            "distance": self.distance,
            "ties": self.ties,
            "record": self.record.to_dict() if self.record else None,
        }


def _rgb(im: Image.Image) -> np.ndarray:
    arr = np.asarray(im.convert("L" if im.mode in ("L", "I;16", "1") else "RGB"))
    return arr[:, :, None] if arr.ndim == 2 else arr


MAX_CLIP_FRAMES = 1024  # a clip's frames read at most when looking for its key frames


def is_clip(content: bytes) -> bool:
    """MP4/MOV (an `ftyp` box first) or WebM/Matroska (the EBML magic) bytes."""
    return content[4:8] == b"ftyp" or content[:4] == b"\x1a\x45\xdf\xa3"


def key_frames(content: bytes) -> list[np.ndarray]:
    """The first, middle and last frames (uint8 (H, W, 3)) of a clip's first
    `MAX_CLIP_FRAMES` frames."""
    import av

    try:
        with av.open(io.BytesIO(content)) as c:
            frames = []
            for f in c.decode(video=0):
                frames.append(f.to_ndarray(format="rgb24"))
                if len(frames) >= MAX_CLIP_FRAMES:
                    break
    except (av.error.FFmpegError, ValueError, IndexError) as e:
        raise GenforgeError(f"not a readable clip: {e}") from None
    if not frames:
        raise GenforgeError("not a readable clip: no video frames")
    return [frames[i] for i in sorted({0, len(frames) // 2, len(frames) - 1})]


def detect(content: bytes, store: ProvenanceStore) -> Detection:
    """Identify `content` (image or clip bytes) against the provenance store."""
    rec = store.by_sha256(hashlib.sha256(content).hexdigest())
    if rec is not None:
        return Detection(True, "sha256", rec)
    if is_clip(content):
        return detect_frames(key_frames(content), store)
    try:
        im = Image.open(io.BytesIO(content))
        im.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise GenforgeError(f"not a readable image: {e}") from None
    arr = _rgb(im)
    for candidate in watermark_sizes(arr):
        for method in ("dwtDct",):
            oid = watermark.decode(candidate, ID_BYTES, method)
            if oid and (rec := store.get(oid)) is not None:
                return Detection(True, "watermark", rec)
    claimed = _png_claim(im)
    if claimed and (rec := store.get(claimed)) is not None:
        return Detection(True, "png-metadata", rec)
    h = phash(im)
    near = store.nearest_phash(h, PHASH_MAX_DISTANCE) if h else None
    if near is not None:
        rec, dist, ties = near
        return Detection(True, "phash", rec, dist, ties)
    return Detection(False, None, None)


def detect_frames(frames: list[np.ndarray], store: ProvenanceStore) -> Detection:
    """Identify a clip by its key frames (uint8 (H, W, 3)): the watermark in any of them, then
    the nearest perceptual hash, the middle frame's first."""
    for frame in frames:
        for candidate in watermark_sizes(frame):
            oid = watermark.decode(candidate, ID_BYTES, "dwtDct")
            if oid and (rec := store.get(oid)) is not None:
                return Detection(True, "watermark", rec)
    mid = len(frames) // 2
    best = None
    for frame in [frames[mid], *frames[:mid], *frames[mid + 1 :]]:  # the recorded hash's first
        h = phash(Image.fromarray(frame))
        near = store.nearest_phash(h, PHASH_MAX_DISTANCE) if h else None
        if near is not None and (best is None or near[1] < best[1]):
            best = near
    if best is not None:
        return Detection(True, "phash", best[0], best[1], best[2])
    return Detection(False, None, None)


def watermark_sizes(arr: np.ndarray):
    """The image itself, then rescaled to the watermark sizes outputs come in."""
    yield arr
    h, w = arr.shape[:2]
    for side in (256, 512):
        if (h, w) != (side, side) and max(h, w) <= side * 1.2:
            im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
            im = im.resize((side, round(side * h / w)), Image.Resampling.BICUBIC)
            out = np.asarray(im)
            yield out[:, :, None] if out.ndim == 2 else out


def _png_claim(im: Image.Image) -> str | None:
    raw = getattr(im, "text", {}).get("genforge") if hasattr(im, "text") else None
    if not raw:
        return None
    try:
        oid = json.loads(raw).get("id")
    except (ValueError, AttributeError):
        return None
    return oid if isinstance(oid, str) else None
