"""Invisible image watermarks carrying a short output id, on top of `invisible-watermark`.

Upstream `imwatermark` (0.2.x) has three defects we work around, read from its source:
  1. method "dwtDct" (`EmbedMaxDct.diffuse_dct_matrix`) never applies its DCT: it quantises
     the largest raw Haar-LL coefficient of each 4x4 block instead of a DCT coefficient;
  2. `encode` rebuilds the image with `idwt2((cA, (cV, cH, cD)))`, swapping the horizontal and
     vertical detail bands, which smears edges of the watermarked image;
  3. the float result is cast to uint8 without rounding or clipping (values wrap around).
`DwtDct` below quantises the largest AC coefficient of each block's real DCT (cv2.dct), and both
methods rebuild with the bands in order, rounded and clipped. Bits go into the luma (Y) channel:
chroma is halved by JPEG and absent from grayscale PNGs. The library refuses images under
256x256 pixels; those outputs are found by perceptual hash instead (see provenance.py).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

MIN_SIDE = 256
Method = Literal["dwtDct", "dwtDctSvd"]
SCALE = {"dwtDct": 36, "dwtDctSvd": 36}


def fits(arr: np.ndarray) -> bool:
    """Large enough to carry a watermark: both sides >= 256 px."""
    return min(arr.shape[0], arr.shape[1]) >= MIN_SIDE


def _classes():
    import cv2
    import pywt
    from imwatermark.dwtDctSvd import EmbedDwtDctSvd
    from imwatermark.maxDct import EmbedMaxDct

    class _Bands:
        """Encode with the detail bands in order and a rounded, clipped uint8 result."""

        def encode(self, bgr: np.ndarray) -> np.ndarray:
            row, col, _ = bgr.shape
            h4, w4 = row // 4 * 4, col // 4 * 4
            yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
            for channel in range(3):
                if self._scales[channel] <= 0:
                    continue
                ca, (ch, cv, cd) = pywt.dwt2(yuv[:h4, :w4, channel].astype(np.float64), "haar")
                self.encode_frame(ca, self._scales[channel])
                rebuilt = pywt.idwt2((ca, (ch, cv, cd)), "haar")
                yuv[:h4, :w4, channel] = np.clip(np.rint(rebuilt), 0, 255).astype(np.uint8)
            return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)

        def decode(self, bgr: np.ndarray) -> np.ndarray:
            row, col, _ = bgr.shape
            h4, w4 = row // 4 * 4, col // 4 * 4
            yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
            scores = [[] for _ in range(self._wmLen)]
            for channel in range(3):
                if self._scales[channel] <= 0:
                    continue
                ca, _ = pywt.dwt2(yuv[:h4, :w4, channel].astype(np.float64), "haar")
                scores = self.decode_frame(ca, self._scales[channel], scores)
            return np.array([np.mean(s) for s in scores]) > 0.5

    class DwtDct(_Bands, EmbedMaxDct):
        """dwtDct as described: quantise the largest AC coefficient of each block's DCT."""

        def diffuse_dct_matrix(self, block, wm_bit, scale):
            d = cv2.dct(np.ascontiguousarray(block))
            pos = int(np.argmax(np.abs(d.flatten()[1:]))) + 1
            i, j = divmod(pos, self._block)
            val = abs(d[i, j])
            q = (val // scale + 0.25 + 0.5 * wm_bit) * scale
            d[i, j] = q if d[i, j] >= 0 else -q
            return cv2.idct(d)

        def infer_dct_matrix(self, block, scale):
            d = cv2.dct(np.ascontiguousarray(block))
            pos = int(np.argmax(np.abs(d.flatten()[1:]))) + 1
            i, j = divmod(pos, self._block)
            return int((abs(d[i, j]) % scale) > 0.5 * scale)

    class DwtDctSvd(_Bands, EmbedDwtDctSvd):
        """The library's dwtDctSvd step (it does apply its DCT), with the fixed encode."""

    return {"dwtDct": DwtDct, "dwtDctSvd": DwtDctSvd}


def _to_bgr(arr: np.ndarray) -> np.ndarray:
    if arr.shape[2] == 1:
        return np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr[:, :, ::-1])


def _from_bgr(bgr: np.ndarray, channels: int) -> np.ndarray:
    if channels == 1:  # only Y changed and U = V = 128, so B = G = R
        return bgr[:, :, 1:2].copy()
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _bits(oid: str) -> list[int]:
    return [int(b) for b in np.unpackbits(np.frombuffer(bytes.fromhex(oid), np.uint8))]


def embed(arr: np.ndarray, oid: str, method: Method = "dwtDct") -> np.ndarray:
    """Hide the hex id `oid` in uint8 image (H, W, C), C in {1, 3}; returns a new array."""
    if not fits(arr):
        raise ValueError(f"watermarks need images of at least {MIN_SIDE}x{MIN_SIDE} px")
    bits = _bits(oid)
    cls = _classes()[method]
    coder = cls(bits, wmLen=len(bits), scales=[SCALE[method], 0, 0], block=4)
    return _from_bgr(coder.encode(_to_bgr(arr)), arr.shape[2])


def decode(arr: np.ndarray, n_bytes: int, method: Method = "dwtDct") -> str | None:
    """The hex id read from uint8 image (H, W, C), or None when it is too small to hold one."""
    if not fits(arr):
        return None
    cls = _classes()[method]
    coder = cls([], wmLen=8 * n_bytes, scales=[SCALE[method], 0, 0], block=4)
    bits = coder.decode(_to_bgr(arr))
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()
