"""/v1/generate for text-to-text runs: the prompt is the text to translate, outputs carry
provenance and (on request) the text watermark; requests that cannot work are 400s."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from genforge.serve import Settings, create_app


@pytest.fixture(scope="module")
def pair_runs(tmp_path_factory) -> Path:
    """runs/mt: a micro seq2seq on the embedded CLDR names (2 steps), runs/gru: the baseline."""
    from genforge.train.launch import train

    runs = tmp_path_factory.mktemp("pairs") / "runs"
    tiny = {"steps": 2, "batch_size": 8, "vocab_size": 300}
    train("seq2seq", "country-names:en-de", name="mt", runs_dir=runs, size="micro", **tiny)
    train("gru-seq2seq", "country-names:en-de", name="gru", runs_dir=runs, hidden=16,
          emb_dim=8, **tiny)  # fmt: skip
    return runs


@pytest.fixture
def client(tmp_path, pair_runs):
    runs = tmp_path / "runs"
    shutil.copytree(pair_runs, runs)
    with TestClient(create_app(Settings(runs_dir=runs, start_worker=False))) as c:
        yield c


def test_translation_is_served_with_provenance_and_watermark(client):
    info = client.get("/v1/info").json()
    assert "prompt" in info["modalities"]["text-pair"]
    r = client.post("/v1/generate", json={"run": "mt", "prompt": "Germany", "max_new_tokens": 8})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["modality"] == "text-pair"
    out = body["outputs"][0]
    assert out["params"]["prompt"] == "Germany" and out["media_type"].startswith("text/plain")
    rec = client.get(f"/v1/outputs/{out['id']}").json()
    assert rec["run"] == "mt" and rec["sha256"] == hashlib.sha256(out["text"].encode()).hexdigest()
    wm = client.post("/v1/generate", json={"run": "mt", "prompt": "France", "watermark": True,
                                           "max_new_tokens": 8})  # fmt: skip
    assert wm.status_code == 200 and wm.json()["outputs"][0]["params"]["watermark"] is True
    sampled = {"run": "mt", "prompt": "Spain", "n": 2, "decoding": "sampling", "seed": 4,
               "max_new_tokens": 8}  # fmt: skip
    a = client.post("/v1/generate", json=sampled).json()["outputs"]
    b = client.post("/v1/generate", json=sampled).json()["outputs"]
    assert [o["text"] for o in a] == [o["text"] for o in b]  # same seed, same outputs


def test_requests_that_cannot_work_are_400s(client):
    def gen(**body):
        return client.post("/v1/generate", json={"run": "mt", **body})

    assert gen().status_code == 400  # nothing to translate
    assert gen(prompt="Italy", n=2, decoding="greedy").status_code == 400  # identical outputs
    several = gen(prompt="Italy", n=2, max_new_tokens=4)  # the web UI's default: sampling
    assert several.status_code == 200 and len(several.json()["outputs"]) == 2
    assert gen(prompt="Italy", temperature=0.5).status_code == 400
    r = client.post("/v1/generate", json={"run": "gru", "prompt": "Italy", "watermark": True})
    assert r.status_code == 400 and "without watermarks" in r.json()["detail"]
    ok = client.post("/v1/generate", json={"run": "gru", "prompt": "Italy", "max_new_tokens": 4})
    assert ok.status_code == 200, ok.text
