"""/v1/generate for text, table and audio runs, their provenance and detection, and
text/CSV dataset uploads. Tiny runs (2 training steps each) are trained once per session."""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from genforge.serve import Settings, create_app
from textkit import TINY_DATA, TINY_GPT, TINY_TRAIN, make_docs

CSRF = {"X-Genforge-CSRF": "1"}  # what the web UI sends with an upload (else: 403)


@pytest.fixture(scope="session")
def modal_runs(tmp_path_factory) -> Path:
    """runs/tx (gpt on a small text), runs/tb (copula on wine), runs/au (cwavegan on tones)."""
    from genforge.train.launch import train

    root = tmp_path_factory.mktemp("modal")
    corpus = root / "corpus.txt"
    corpus.write_text("\n\n".join(make_docs(30)), encoding="utf-8")
    runs = root / "runs"
    train("gpt", str(corpus), name="tx", runs_dir=runs,
          **{**TINY_DATA, **TINY_TRAIN, **TINY_GPT})  # fmt: skip
    train("copula", "wine", name="tb", runs_dir=runs, steps=2, batch_size=50)
    train("cwavegan", "tones", name="au", runs_dir=runs, sample_rate=4000, seconds=0.25,
          steps=2, batch_size=8, model_size=4, latent_dim=8, n_critic=1)  # fmt: skip
    return runs


@pytest.fixture
def make_modal(tmp_path, modal_runs):
    clients = []
    runs = tmp_path / "runs"
    shutil.copytree(modal_runs, runs)

    def make(**kw) -> TestClient:
        kw.setdefault("start_worker", False)
        c = TestClient(create_app(Settings(runs_dir=runs, **kw)))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def gen(c, **body):
    return c.post("/v1/generate", json=body)


def test_info_declares_each_modality_controls(make_modal):
    info = make_modal().get("/v1/info").json()
    assert set(info["modalities"]) >= {"image", "text", "table", "audio"}
    assert "prompt" in info["modalities"]["text"] and "top_p" in info["modalities"]["text"]
    assert info["modalities"]["table"] == ["n", "seed", "best_of", "gate"]
    assert "label" in info["modalities"]["audio"]


def test_text_generation_decodings_seeds_and_provenance(make_modal):
    c = make_modal()
    r = gen(c, run="tx", prompt="the model", max_new_tokens=8, seed=3)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["modality"] == "text" and len(body["outputs"]) == 1
    out = body["outputs"][0]
    assert out["params"]["decoding"] == "greedy" and out["params"]["prompt"] == "the model"
    assert out["media_type"].startswith("text/plain") and 1 <= out["params"]["new_tokens"] <= 8
    content = c.get(out["url"])
    assert content.status_code == 200 and content.text == out["text"]
    rec = c.get(f"/v1/outputs/{out['id']}").json()  # provenance: who, run, params, sha256
    assert rec["modality"] == "text" and rec["who"] == "local" and rec["run"] == "tx"
    assert rec["sha256"] == hashlib.sha256(out["text"].encode()).hexdigest()

    sampled = dict(run="tx", n=3, decoding="sampling", temperature=1.5, top_k=20, top_p=0.95,
                   max_new_tokens=12, seed=7)  # fmt: skip
    a = gen(c, **sampled).json()["outputs"]
    b = gen(c, **sampled).json()["outputs"]
    assert [o["text"] for o in a] == [o["text"] for o in b]  # same seed, same texts
    assert len({o["text"] for o in a}) > 1  # three different samples of one request
    beams = gen(c, run="tx", n=2, decoding="beams", num_beams=3, max_new_tokens=6).json()
    assert len(beams["outputs"]) == 2
    found = c.get("/v1/outputs", params={"run": "tx"}).json()
    assert found["total"] == 1 + 3 + 3 + 2


def test_text_limits_and_bad_options(make_modal):
    c = make_modal(max_n=4, max_new_tokens=16, max_prompt_chars=10)
    assert gen(c, run="tx", n=5, decoding="sampling").status_code == 413
    assert gen(c, run="tx", max_new_tokens=17).status_code == 413
    assert gen(c, run="tx", prompt="x" * 11).status_code == 413
    assert gen(c, run="tx", decoding="nucleus").status_code == 422
    assert gen(c, run="tx", temperature=0).status_code == 422
    assert gen(c, run="tx", top_p=1.5).status_code == 422
    r = gen(c, run="tx", temperature=0.7)  # greedy (n=1) takes no temperature
    assert r.status_code == 400 and "sampling" in r.json()["detail"]
    assert gen(c, run="tx", n=2, decoding="greedy").status_code == 400
    assert gen(c, run="tx", truncation=0.5).status_code == 400  # an image option
    r = gen(make_modal(), run="tx", prompt="the " * 20, max_new_tokens=30)  # context: 32 tokens
    assert r.status_code == 400 and "context" in r.json()["detail"]
    # image runs still refuse text options
    assert gen(c, run="tb", prompt="hi").status_code == 400
    assert gen(c, run="tb", max_new_tokens=3).status_code == 400


def test_text_watermark_detected_and_sha_lookup(make_modal):
    c = make_modal()
    wm = gen(c, run="tx", n=2, decoding="sampling", watermark=True, max_new_tokens=24, seed=1)
    outs = wm.json()["outputs"]
    assert all(o["watermarked"] and o["params"]["watermark"] for o in outs)
    exact = c.post("/v1/watermark/detect-text", json={"text": outs[0]["text"]}).json()
    assert exact["found"] and exact["evidence"] == "sha256"
    assert exact["record"]["id"] == outs[0]["id"]
    # not in the store: the run that wrote watermarked text is tested (z-score reported)
    r = c.post("/v1/watermark/detect-text", json={"text": "stones light " * 12})
    d = r.json()
    assert r.status_code == 200 and [t["run"] for t in d["tests"]] == ["tx"]
    assert d["tests"][0]["tokens_scored"] > 0
    r = c.post("/v1/watermark/detect-text", json={"text": "abc", "run": "tb"})
    assert r.status_code == 400  # not a text run
    assert c.post("/v1/watermark/detect-text", json={"text": ""}).status_code == 422
    # any exact file genforge wrote is found by its sha256 through the file endpoint too
    f = c.post(
        "/v1/watermark/detect", headers=CSRF, files={"file": ("x.txt", outs[1]["text"].encode())}
    )
    assert f.json()["evidence"] == "sha256" and f.json()["record"]["id"] == outs[1]["id"]


def test_table_rows_csv_and_limit(make_modal):
    c = make_modal(max_rows=50)
    r = gen(c, run="tb", n=12, seed=5)
    assert r.status_code == 200, r.text
    (out,) = r.json()["outputs"]
    assert out["media_type"] == "text/csv" and len(out["rows"]) == 12
    cols = out["params"]["columns"]
    assert len(cols) >= 10 and set(out["rows"][0]) == set(cols)
    csv = c.get(out["url"])
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].split(",") == cols and len(lines) == 13
    again = gen(c, run="tb", n=12, seed=5).json()["outputs"][0]
    assert again["rows"] == out["rows"] and again["id"] != out["id"]
    rec = c.get(f"/v1/outputs/{out['id']}").json()
    assert rec["sha256"] == hashlib.sha256(csv.content).hexdigest()
    assert gen(c, run="tb", n=51).status_code == 413  # the rows limit, not the images one
    assert gen(c, run="tb", n=20, label="x").status_code == 400
    det = c.post(
        "/v1/watermark/detect", headers=CSRF, files={"file": ("t.csv", csv.content)}
    ).json()
    assert det["evidence"] == "sha256" and det["record"]["id"] == out["id"]


def test_audio_clips_labels_spectrogram(make_modal):
    c = make_modal(max_n=4)
    r = gen(c, run="au", n=2, seed=2, label="A4", response="base64")
    assert r.status_code == 200, r.text
    outs = r.json()["outputs"]
    assert [o["params"]["class"] for o in outs] == ["A4", "A4"]
    wav = c.get(outs[0]["url"])
    assert wav.headers["content-type"] == "audio/wav"
    data, rate = sf.read(io.BytesIO(wav.content))
    assert rate == 4000 and len(data) == 1000 and abs(data).max() > 0
    import base64

    assert base64.b64decode(outs[0]["data_base64"]) == wav.content
    spec = c.get(outs[0]["spectrogram_url"])
    assert spec.status_code == 200 and spec.content.startswith(b"\x89PNG")
    # the clips `genforge sample` draws for this seed and label, to the bit
    from genforge.core.audio import wav_bytes
    from genforge.core.run import Run
    from genforge.generate.audio import AudioPipeline

    pipe = AudioPipeline(Run(c.app.state.services.settings.runs_dir / "au"), device="cpu")
    waves, _ = pipe.sample(2, seed=2, label="A4")
    assert [c.get(o["url"]).content for o in outs] == [wav_bytes(w, 4000) for w in waves]
    assert gen(c, run="au", label="Z9").status_code == 400
    assert gen(c, run="au", n=5).status_code == 413
    assert gen(c, run="au", prompt="x").status_code == 400
    img = c.get("/v1/outputs?q=A4").json()
    assert img["total"] == 2 and {i["modality"] for i in img["items"]} == {"audio"}


def test_auth_covers_new_endpoints(make_modal, tmp_path):
    from genforge.serve.auth import KeyStore

    keys = tmp_path / "keys.json"
    token = KeyStore(keys).create("alice")
    c = make_modal(keys_path=keys)
    assert gen(c, run="tb", n=2).status_code == 401
    assert c.post("/v1/watermark/detect-text", json={"text": "x"}).status_code == 401
    ok = c.post("/v1/generate", json={"run": "tb", "n": 2},
                headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert ok.status_code == 200
    rec = c.get(f"/v1/outputs/{ok.json()['outputs'][0]['id']}",
                headers={"Authorization": f"Bearer {token}"}).json()  # fmt: skip
    assert rec["who"] == "alice"


def upload(c, name, filename, data):
    return c.post(
        "/v1/datasets/upload", headers=CSRF, data={"name": name}, files={"file": (filename, data)}
    )


def test_text_and_csv_uploads_register_and_train(make_modal):
    c = make_modal()
    text = "\n\n".join(make_docs(20)).encode()
    r = upload(c, "notes", "notes.txt", text)
    assert r.status_code == 201, r.text
    info = c.get("/v1/datasets/notes").json()
    assert info["report"]["format"] == "txt" and info["report"]["feeds"] == "text"
    assert info["path"].endswith("data.txt")  # the client's file name never becomes a path
    assert c.get("/v1/datasets/notes/thumbnails.png").status_code == 404
    run = c.post("/v1/runs", json={"model": "gpt", "data": "notes", "steps": 2, "options": {
        "block_size": 32, "n_layer": 1, "n_head": 2, "n_embd": 16}})  # fmt: skip
    assert run.status_code == 201, run.text
    assert run.json()["modality"] == "text" and run.json()["state"] == "queued"

    jl = b'{"text": "a first document"}\n{"text": "a second one"}\n'
    assert upload(c, "tickets", "t.jsonl", jl).json()["report"]["records"] == 2
    table = b"a,b,kind\n1,2.5,x\n3,4.5,y\n"
    rep = upload(c, "shop", "shop.csv", table).json()["report"]
    assert rep["columns"] == ["a", "b", "kind"] and rep["rows"] == 2
    assert (
        c.post("/v1/runs", json={"model": "copula", "data": "shop", "steps": 2}).status_code == 201
    )

    assert upload(c, "bad", "x.jsonl", b'{"text": 1}\nnot json\n').status_code == 400
    assert upload(c, "bad", "x.csv", b"a,b\n1,2,3\n").status_code == 400
    assert upload(c, "bad", "x.txt", b"\xff\xfe\x00bad").status_code == 400  # not UTF-8
    assert upload(c, "bad", "x.txt", b"  \n").status_code == 400
    assert upload(c, "bad", "x.exe", b"MZ").status_code == 400
    assert upload(c, "../x", "x.txt", b"hello").status_code == 422
    assert upload(c, "notes", "x.txt", b"again").status_code == 400  # the name is taken
    big = make_modal(max_upload_mb=1)
    assert upload(big, "huge", "h.txt", b"a" * (2 * 2**20)).status_code == 413
    assert c.delete("/v1/datasets/notes").status_code == 204
    assert not Path(info["path"]).parent.exists()


def test_batched_audio_and_text_equal_unbatched(modal_runs):
    """Merged requests keep their own seeds: each result equals the request drawn alone."""
    import threading

    import torch

    from genforge.core.run import Run
    from genforge.generate.audio import AudioPipeline
    from genforge.serve.generation import Batcher, ModelCache
    from genforge.serve.handlers import Request, sample_texts

    cache = ModelCache()
    audio = cache.get(Run(modal_runs / "au"))
    text = cache.get(Run(modal_runs / "tx"))
    asks = [(audio, Request(n=1 + i % 2, seed=10 + i, label=[None, "A4"][i % 2])) for i in range(6)]
    asks += [(text, Request(n=2, seed=i, prompt="the", max_new_tokens=6, decoding="sampling"))
             for i in range(3)]  # fmt: skip
    batcher = Batcher(max_requests=64, max_wait_ms=200)
    results: list = [None] * len(asks)
    gate = threading.Barrier(len(asks))

    def ask(i):
        gate.wait()
        results[i] = batcher.submit(*asks[i]).result(timeout=60)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(asks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()
    assert max(batcher.batches) > 1, batcher.batches
    pipe = AudioPipeline(Run(modal_runs / "au"), device="cpu")
    for (loaded, req), got in zip(asks, results, strict=True):
        if loaded is audio:
            want, _ = pipe.sample(req.n, seed=req.seed, label=req.label)
            assert torch.allclose(torch.stack([c.wave for c in got]), want, atol=1e-5)
        else:
            alone = sample_texts(loaded.model, [req])[0]
            assert [g.text for g in got] == [g.text for g in alone]


def test_best_of_for_table_and_audio_runs(make_modal):
    """best_of keeps the best of each group of candidates by the run's gate, as its score."""
    import torch

    from genforge.core.audio import wav_bytes
    from genforge.core.run import Run
    from genforge.evaluate.audio_gate import AudioGate
    from genforge.generate.audio import AudioPipeline

    c = make_modal()
    (rows,) = gen(c, run="tb", n=5, seed=1, best_of=3).json()["outputs"]
    assert len(rows["rows"]) == 5 and rows["params"]["gate"] == "realism"
    assert len(rows["params"]["scores"]) == 5 and all(0 <= s <= 1 for s in rows["params"]["scores"])
    outs = gen(c, run="au", n=2, seed=3, best_of=3, label="A4").json()["outputs"]
    assert [o["params"]["gate"] for o in outs] == ["confidence,clipping,silence,snr"] * 2
    # the clips served are the best-scored of each three `AudioPipeline.sample` draws
    pipe = AudioPipeline(Run(c.app.state.services.settings.runs_dir / "au"), device="cpu")
    waves, labels = pipe.sample(2, seed=3, label="A4", repeat=3)
    scores = AudioGate(pipe).score(waves, labels).score.view(2, 3)
    best = [waves[3 * g + int(scores[g].argmax())] for g in range(2)]
    assert [c.get(o["url"]).content for o in outs] == [wav_bytes(w, 4000) for w in best]
    assert torch.allclose(scores.max(1).values, torch.tensor([o["params"]["score"] for o in outs]),
                          atol=1e-4)  # fmt: skip
    r = gen(c, run="au", n=1, gate="both")
    assert r.status_code == 400 and "give best_of too" in r.text
    r = gen(c, run="tb", n=1, best_of=2, gate="learned")
    assert r.status_code == 400 and "has no learned gate" in r.text
