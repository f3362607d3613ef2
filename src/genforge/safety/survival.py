"""How well does an output stay identifiable after common edits? (`genforge bench watermark`)

Images: scikit-image's bundled photos at 256 and 512 px. Each gets a fresh id, embedded with
each method; then each edit is applied and we count (a) the watermark decoded to exactly the id,
(b) the full detector (watermark, then pHash lookup in a store holding every original)
naming the right output.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from genforge.core.images import phash
from genforge.safety import watermark
from genforge.safety.detect import detect
from genforge.safety.provenance import ID_BYTES, ProvenanceStore


def _photos() -> list[np.ndarray]:
    from skimage import data

    out = []
    for f in (data.astronaut, data.chelsea, data.coffee, data.rocket, data.camera, data.coins):
        arr = f()
        arr = np.stack([arr] * 3, -1) if arr.ndim == 2 else arr
        for side in (256, 512):
            out.append(
                np.asarray(Image.fromarray(arr).resize((side, side), Image.Resampling.LANCZOS))
            )
    return out


def _jpeg(arr: np.ndarray, q: int = 75) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=q)
    return buf.getvalue()


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _resize(arr: np.ndarray) -> bytes:
    h, w = arr.shape[:2]
    return _png(np.asarray(Image.fromarray(arr).resize((w // 2, h // 2), Image.Resampling.BICUBIC)))


def _crop(arr: np.ndarray) -> bytes:
    h, w = arr.shape[:2]
    dy, dx = round(h * 0.05), round(w * 0.05)  # keep the central 90% x 90%
    return _png(arr[dy : h - dy, dx : w - dx])


EDITS: dict[str, Callable[[np.ndarray], bytes]] = {
    "none (PNG)": _png,
    "JPEG q75": _jpeg,
    "resize 0.5x": _resize,
    "crop 10% (central 90%)": _crop,
}


def _upstream(method: str):
    """invisible-watermark as shipped (dwtDct without its DCT, swapped bands, U channel)."""
    from imwatermark import WatermarkDecoder, WatermarkEncoder

    def embed(arr: np.ndarray, oid: str) -> np.ndarray:
        enc = WatermarkEncoder()
        enc.set_watermark("bytes", bytes.fromhex(oid))
        return np.ascontiguousarray(
            enc.encode(np.ascontiguousarray(arr[:, :, ::-1]), method)[:, :, ::-1]
        )

    def decode(arr: np.ndarray) -> str | None:
        if not watermark.fits(arr):
            return None
        return (
            WatermarkDecoder("bytes", 8 * ID_BYTES)
            .decode(np.ascontiguousarray(arr[:, :, ::-1]), method)
            .hex()
        )

    return embed, decode


def _ours(method: str):
    return (lambda arr, oid: watermark.embed(arr, oid, method),
            lambda arr: watermark.decode(arr, ID_BYTES, method))  # fmt: skip


METHODS = {
    "dwtDct (fixed, genforge)": _ours("dwtDct"),
    "dwtDctSvd (fixed encode)": _ours("dwtDctSvd"),
    "dwtDct (upstream as shipped)": _upstream("dwtDct"),
}


def _decodes_to(content: bytes, oid: str, decode) -> bool:
    """Any of the sizes the detector tries (as is, scaled back to 256 / 512) gives `oid`."""
    from genforge.safety.detect import watermark_sizes

    arr = np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))
    return any(decode(a) == oid for a in watermark_sizes(arr))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


def survival() -> list[dict]:
    """Rows: method, edit, watermark id exact (k/n), detector right (k/n) with its evidence,
    mean PSNR of the watermarked images against the originals."""
    photos = _photos()
    rows = []
    for method, (embed, decode) in METHODS.items():
        with tempfile.TemporaryDirectory() as tmp:
            store = ProvenanceStore(Path(tmp) / "p.sqlite")
            marked = []
            for arr in photos:
                oid = store.new_id()
                m = embed(arr, oid)
                store.add(oid, who="bench", run="bench", modality="image", params={},
                          content=_png(m), phash_hex=phash(Image.fromarray(m)),
                          watermarked=True, path="")  # fmt: skip
                marked.append((oid, m))
            psnr = float(np.mean([_psnr(m, a) for (_, m), a in zip(marked, photos, strict=True)]))
            ours = method.startswith("dwtDct (fixed")
            for edit, fn in EDITS.items():
                wm_ok, det_ok, evidence = 0, 0, {}
                for oid, m in marked:
                    content = fn(m)
                    wm_ok += _decodes_to(content, oid, decode)
                    d = detect(content, store) if ours else None
                    if d is not None and d.found and d.record.id == oid:
                        det_ok += 1
                        evidence[d.evidence] = evidence.get(d.evidence, 0) + 1
                rows.append({"method": method, "edit": edit, "n": len(marked), "watermark": wm_ok,
                             "detector": det_ok if ours else None, "evidence": evidence,
                             "psnr": psnr})  # fmt: skip
    return rows
