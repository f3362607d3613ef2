"""/v1/generate, the outputs gallery, provenance and detection, and their limits."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
from PIL import Image

CSRF = {"X-Genforge-CSRF": "1"}  # what the web UI sends with an upload (else: 403)


def gen(client, **body):
    return client.post("/v1/generate", json={"run": "dc", **body})


def test_generate_base64_png_with_params(client):
    r = gen(client, n=2, seed=5, response="base64")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["modality"] == "image" and body["step"] == 2 and len(body["outputs"]) == 2
    o = body["outputs"][0]
    png = base64.b64decode(o["data_base64"])
    im = Image.open(io.BytesIO(png))
    assert im.size == (16, 16)
    chunk = json.loads(im.text["genforge"])
    assert chunk["id"] == o["id"] and chunk["seed"] == 5 and chunk["run"] == "dc"
    assert client.get(o["url"]).content == png
    assert body["outputs"][1]["data_base64"] != o["data_base64"]


def test_same_seed_same_images(client):
    a = gen(client, n=3, seed=11, response="base64").json()["outputs"]
    b = gen(client, n=3, seed=11, response="base64").json()["outputs"]
    c = gen(client, n=3, seed=12, response="base64").json()["outputs"]
    pix = lambda o: np.asarray(Image.open(io.BytesIO(base64.b64decode(o["data_base64"]))))  # noqa: E731
    assert all(np.array_equal(pix(x), pix(y)) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(pix(a[0]), pix(c[0]))
    assert gen(client, n=1).json()["outputs"][0]["params"]["seed"] is not None  # seed recorded


def test_conditional_label_and_truncation(client):
    r = client.post(
        "/v1/generate", json={"run": "cg", "n": 2, "seed": 1, "label": "7", "truncation": 0.5}
    )
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["params"]["label"] == "7"
    bad = client.post("/v1/generate", json={"run": "cg", "n": 1, "label": "cat"})
    assert bad.status_code == 400 and "unknown class" in bad.json()["detail"]
    assert gen(client, label=3).status_code == 400  # unconditional run


def test_generate_limits_and_errors(make_client):
    c = make_client(max_n=4, max_prompt_chars=10, max_steps=50)
    assert gen(c, n=5).status_code == 413
    assert gen(c, n=0).status_code == 422
    assert gen(c, prompt="x" * 11).status_code == 413
    assert gen(c, prompt="hello").status_code == 400  # image runs take no prompt
    assert gen(c, steps=51).status_code == 413
    assert gen(c, truncation=0).status_code == 422
    assert gen(c, seed=-1).status_code == 422
    assert gen(c, unknown=1).status_code == 422
    assert c.post("/v1/generate", json={"run": "nope"}).status_code == 404
    assert c.post("/v1/generate", json={"run": "../dc"}).status_code == 422


def test_gallery_search_and_records(client):
    gen(client, n=2, seed=21)
    client.post("/v1/generate", json={"run": "cg", "n": 1, "seed": 22, "label": 4})
    all_ = client.get("/v1/outputs").json()
    assert all_["total"] == 3
    assert client.get("/v1/outputs?run=cg").json()["total"] == 1
    assert client.get("/v1/outputs", params={"q": '"seed": 21'}).json()["total"] == 2
    rec = all_["items"][0]
    assert set(rec) >= {"id", "created", "who", "run", "params", "sha256", "phash", "watermarked"}
    assert client.get(f"/v1/outputs/{rec['id']}").json()["sha256"] == rec["sha256"]
    assert client.get("/v1/outputs/00000000").status_code == 404
    assert client.get("/v1/outputs/not-hex!").status_code == 422
    assert client.get("/v1/outputs?limit=0").status_code == 422


def test_detect_exact_metadata_phash_and_nothing(client, png_bytes):
    o = gen(client, n=1, seed=31, response="base64").json()["outputs"][0]
    png = base64.b64decode(o["data_base64"])

    def detect(data: bytes, name="x.png"):
        r = client.post("/v1/watermark/detect", headers=CSRF, files={"file": (name, data)})
        assert r.status_code == 200, r.text
        return r.json()

    d = detect(png)
    assert d["found"] and d["evidence"] == "sha256" and d["record"]["id"] == o["id"]
    assert d["record"]["params"]["seed"] == 31
    # re-saved PNG keeping the text chunk: the claimed id is in the store
    im = Image.open(io.BytesIO(png))
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("genforge", im.text["genforge"])
    buf = io.BytesIO()
    im.save(buf, format="PNG", pnginfo=info, compress_level=9)  # other bytes
    assert detect(buf.getvalue())["evidence"] == "png-metadata"
    # a JPEG copy without metadata (perceptual-hash matches are tested in tests/safety: this
    # 2-step model draws flat grey images, which carry no pHash)
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=90)
    assert detect(buf.getvalue(), "x.jpg")["found"] is False
    # an unrelated image
    d = detect(png_bytes(size=64, seed=99, mode="RGB"))
    assert d == {**d, "found": False, "message": "no genforge watermark", "record": None}
    bad = client.post(
        "/v1/watermark/detect", headers=CSRF, files={"file": ("x.png", b"not an image")}
    )
    assert bad.status_code == 400
    assert (
        client.post(
            "/v1/watermark/detect", headers=CSRF, files={"file": ("x.png", b"")}
        ).status_code
        == 400
    )


def test_detect_pixel_limit(make_client, png_bytes):
    c = make_client(max_pixels=32 * 32)
    r = c.post("/v1/watermark/detect", headers=CSRF, files={"file": ("x.png", png_bytes(size=40))})
    assert r.status_code == 413


def test_cli_watermark_detect(client, runs_dir, tmp_path, png_bytes):
    from typer.testing import CliRunner

    from genforge.cli.main import app

    o = gen(client, n=1, seed=41, response="base64").json()["outputs"][0]
    f = tmp_path / "out.png"
    f.write_bytes(base64.b64decode(o["data_base64"]))
    r = CliRunner().invoke(app, ["watermark", "detect", str(f), "--runs-dir", str(runs_dir)])
    assert (
        r.exit_code == 0
        and o["id"] in r.output
        and "run dc" in r.output
        and '"seed": 41' in r.output
    )
    other = tmp_path / "other.png"
    other.write_bytes(png_bytes(size=64, seed=5, mode="RGB"))
    r = CliRunner().invoke(app, ["watermark", "detect", str(other), "--runs-dir", str(runs_dir)])
    assert r.exit_code == 0 and r.output.strip() == "no genforge watermark"
    r = CliRunner().invoke(app, ["watermark", "detect", str(tmp_path / "missing.png")])
    assert r.exit_code == 1 and "no such file" in r.output
