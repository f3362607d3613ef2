"""POST /v1/detect: the object `genforge detect --json` prints, for one upload: a served
output is found by its bytes, a detector run scores with its measured error rates, bad input
is a one-line 400 and an unknown run a 404."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

CSRF = {"X-Genforge-CSRF": "1"}


def post(client, data: bytes, name: str = "x.png", **form):
    return client.post("/v1/detect", headers=CSRF, files={"file": (name, data)}, data=form)


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def detector_runs(runs_dir):
    """runs_dir with `det`, a tiny detector of run dc's samples against digits."""
    from genforge.api import train_detector

    train_detector("digits", runs_dir / "dc", samples=80, name="det", runs_dir=runs_dir,
                   image_size=16, steps=20, batch_size=16, width=8)  # fmt: skip
    return runs_dir


def test_detect_a_served_output_and_with_a_detector(make_client, detector_runs):
    client = make_client()
    o = client.post("/v1/generate", json={"run": "dc", "n": 1, "seed": 4, "response": "base64"})
    out = o.json()["outputs"][0]
    r = post(client, base64.b64decode(out["data_base64"]), "sample.png")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"path", "verdict", "score", "evidence"} and body["path"] == "sample.png"
    assert body["verdict"] == "generated" and body["evidence"][0]["kind"] == "sha256"
    assert body["evidence"][0]["output"] == out["id"]

    digit = ((load_digit() + 1) * 127.5).astype(np.uint8)
    r = post(client, png(digit), "digit.png", detector="det")
    assert r.status_code == 200, r.text
    ev = r.json()["evidence"]
    assert [e["kind"] for e in ev] == ["detector"] and ev[0]["run"] == "det"
    assert {"fpr", "fpr_ci", "threshold", "auc"} <= set(ev[0]["error_rates"])
    assert r.json()["verdict"] in ("real", "generated") and 0 <= r.json()["score"] <= 1


def load_digit() -> np.ndarray:
    from genforge.data import load_images

    return load_images("digits", 16).images[7, 0].numpy()


def test_detect_bad_input(client, png_bytes):
    r = post(client, b"\x89PNG\r\n\x1a\nbroken")
    assert r.status_code == 400 and "not a readable image" in r.json()["detail"]
    r = post(client, b"\xff\xfe\x00bin\x00ary", "blob.txt")
    assert r.status_code == 400 and "UTF-8" in r.json()["detail"]
    assert post(client, b"").status_code == 400
    assert post(client, png_bytes(), detector="nope").status_code == 404
    assert post(client, png_bytes(), detector="../etc").status_code == 422
    r = post(client, png_bytes(), detector="dc")  # a generator is not a detector
    assert r.status_code == 400 and "not a detector" in r.json()["detail"]
    r = post(client, b"a line a person wrote", "note.txt")
    assert r.status_code == 200 and r.json()["verdict"] == "unknown"
