"""Clips carry the output id in every frame when their frames are >= 256 px: it survives the
MP4 the server writes (H.264, crf 12), so one decoded frame, or the re-encoded clip, names the
output; smaller clips are found by their key frames' perceptual hashes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from genforge.core.images import phash
from genforge.core.video import decode_bytes, mp4_bytes
from genforge.safety import watermark
from genforge.safety.detect import detect, is_clip
from genforge.safety.marking import mark_frames
from genforge.safety.provenance import ProvenanceStore


def panning(photo: np.ndarray, frames: int = 8, side: int = 256) -> np.ndarray:
    """uint8 (T, side, side, 3): a window sliding 4 px per frame across a photo."""
    top = (photo.shape[0] - side) // 2
    return np.stack([photo[top : top + side, 4 * t : 4 * t + side] for t in range(frames)])


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return panning(np.asarray(Image.fromarray(data.chelsea()).resize((320, 272))))


def record(store: ProvenanceStore, frames: np.ndarray, oid: str, marked: bool) -> bytes:
    content = mp4_bytes(frames, 8.0, {"id": oid})
    store.add(oid, who="t", run="r", modality="video", params={}, content=content,
              phash_hex=phash(Image.fromarray(frames[len(frames) // 2])), watermarked=marked,
              path="x")  # fmt: skip
    return content


def test_every_frame_of_a_256_px_clip_carries_the_id_through_the_servers_mp4(clip):
    marked, done = mark_frames(clip, "c0ffee42")
    assert done and marked.shape == clip.shape
    back = decode_bytes(mp4_bytes(marked, 8.0))  # the server's encoder: H.264, crf 12
    assert back.shape == clip.shape
    assert [watermark.decode(f, 4) for f in back] == ["c0ffee42"] * len(clip)
    assert all(watermark.decode(f, 4) != "c0ffee42" for f in decode_bytes(mp4_bytes(clip, 8.0)))
    small = clip[:, :128, :128]
    assert mark_frames(small, "c0ffee42") == (small, False)  # under 256 px: unchanged


def test_a_flat_clip_cannot_hold_the_mark(clip):
    flat = np.zeros_like(clip)  # a bright square on black: what upscaled moving digits look like
    flat[:, 96:160, 96:160] = 230
    marked, done = mark_frames(flat, "c0ffee42")
    assert done  # embedded, but clipped at 0 and 255 it does not read back
    assert watermark.decode(marked[0], 4) != "c0ffee42"


def test_detect_names_the_output_from_a_reencoded_clip_or_one_frame(tmp_path, clip):
    store = ProvenanceStore(tmp_path / "db.sqlite")
    oid = store.new_id()
    marked, _ = mark_frames(clip, oid)
    served = record(store, marked, oid, marked=True)
    other = panning(np.asarray(Image.fromarray(data.astronaut()).resize((320, 272))))
    record(store, other, store.new_id(), marked=False)
    assert is_clip(served) and detect(served, store).evidence == "sha256"
    reencoded = mp4_bytes(decode_bytes(served), 8.0, {"comment": "a copy"})  # new bytes
    assert reencoded != served
    d = detect(reencoded, store)
    assert d.found and d.evidence == "watermark" and d.record.id == oid
    buf = io.BytesIO()  # one frame of the decoded clip, saved as a PNG
    Image.fromarray(decode_bytes(served)[5]).save(buf, format="PNG")
    d = detect(buf.getvalue(), store)
    assert d.found and d.evidence == "watermark" and d.record.id == oid


def test_small_clips_are_found_by_their_key_frames_hashes(tmp_path, clip):
    store = ProvenanceStore(tmp_path / "db.sqlite")
    oid = store.new_id()
    small = np.stack([np.asarray(Image.fromarray(f).resize((128, 128))) for f in clip])
    served = record(store, small, oid, marked=False)
    d = detect(mp4_bytes(decode_bytes(served), 8.0, {}), store)
    assert d.found and d.evidence == "phash" and d.record.id == oid
    assert not detect(mp4_bytes(np.zeros((4, 64, 64, 3), np.uint8) + 40, 8.0), store).found
    from genforge.core.errors import GenforgeError

    with pytest.raises(GenforgeError, match="not a readable clip"):
        detect(served[:64] + b"\x00" * 64, store)
