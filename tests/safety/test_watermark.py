"""The fixed dwtDct really uses its DCT, round-trips an id, and keeps the picture intact."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from genforge.safety import watermark


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.asarray(Image.fromarray(data.astronaut()).resize((256, 256)))


def psnr(a, b) -> float:
    return 10 * np.log10(255**2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


@pytest.mark.parametrize("method", ["dwtDct", "dwtDctSvd"])
def test_round_trip_rgb_and_gray(photo, method):
    for img in (photo, photo[:, :, :1]):
        marked = watermark.embed(img, "deadbeef", method)
        assert marked.shape == img.shape and marked.dtype == np.uint8
        assert watermark.decode(marked, 4, method) == "deadbeef"
        assert psnr(marked, img) > 38  # invisible
        assert watermark.decode(img, 4, method) != "deadbeef"


def test_dwtdct_quantises_a_dct_coefficient_not_a_raw_one(photo):
    """Upstream's dwtDct skips cv2.dct. Ours: after embedding, the largest AC coefficient of
    each 4x4 block's DCT (in the Haar LL band of luma) sits at the bit's quantisation level."""
    import cv2
    import pywt

    oid = "a5"
    marked = watermark.embed(photo, oid, "dwtDct")
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(oid), np.uint8))
    y = cv2.cvtColor(np.ascontiguousarray(marked[:, :, ::-1]), cv2.COLOR_BGR2YUV)[:, :, 0]
    ll, _ = pywt.dwt2(y.astype(np.float64), "haar")
    hits, n = 0, 0
    for k, (i, j) in enumerate((i, j) for i in range(0, 128, 4) for j in range(0, 128, 4)):
        d = cv2.dct(np.ascontiguousarray(ll[i : i + 4, j : j + 4]))
        v = np.abs(d.flatten()[1:]).max()
        hits += int((v % watermark.SCALE["dwtDct"] > 18) == bool(bits[k % 8]))
        n += 1
    assert hits / n > 0.9  # rounding to uint8 moves a few blocks; the bits survive by majority


def test_small_images_are_not_marked():
    small = np.zeros((128, 128, 3), np.uint8)
    assert not watermark.fits(small)
    assert watermark.decode(small, 4) is None
    with pytest.raises(ValueError):
        watermark.embed(small, "deadbeef")
