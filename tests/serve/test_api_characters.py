"""/v1/generate on an attribute-conditional (attrgan) run: a dict of attribute values."""

from __future__ import annotations

import base64
import io
import json

from fastapi.testclient import TestClient
from PIL import Image

from genforge.serve import Settings, create_app


def test_generate_with_attributes_and_clear_errors(tmp_path):
    from genforge.train.launch import train

    train("attrgan", "sprites", name="ch", runs_dir=tmp_path, steps=2, image_size=16,
          batch_size=8, ngf=4, ndf=4, latent_dim=8)  # fmt: skip
    with TestClient(create_app(Settings(runs_dir=tmp_path, start_worker=False))) as client:
        controls = client.get("/v1/runs/ch/controls").json()["controls"]
        assert "attributes" in controls and "label" not in controls
        body = {"run": "ch", "n": 2, "seed": 3, "response": "base64"}
        r = client.post("/v1/generate", json={**body, "attributes": {"hair": "red"}})
        assert r.status_code == 200, r.text
        out = r.json()["outputs"]
        im = Image.open(io.BytesIO(base64.b64decode(out[0]["data_base64"])))
        assert im.size == (16, 16) and json.loads(im.text["genforge"])["attributes"] == {
            "hair": "red"
        }
        again = client.post("/v1/generate", json={**body, "attributes": {"hair": "red"}}).json()
        pixels = lambda o: Image.open(io.BytesIO(base64.b64decode(o["data_base64"]))).tobytes()  # noqa: E731
        assert pixels(again["outputs"][0]) == pixels(out[0])  # same seed, same character
        assert client.post("/v1/generate", json=body).status_code == 200  # all random
        bad = client.post("/v1/generate", json={**body, "attributes": {"hair": "green"}})
        assert bad.status_code == 400 and "valid: black, brown, blonde, red, blue" in bad.text
        assert client.post("/v1/generate", json={**body, "label": "3"}).status_code == 400
