"""Ratings over REST: PUT /v1/outputs/{id}/rating, GET it back, a run's feedback with filters,
one rating per API key, and ratings that survive a kill -9 of the server."""

from __future__ import annotations

import signal

import httpx

from genforge.serve.auth import KeyStore


def _outputs(c, n=3, headers=None):
    r = c.post("/v1/generate", json={"run": "dc", "n": n, "seed": 5}, headers=headers or {})
    assert r.status_code == 200, r.text
    return [o["id"] for o in r.json()["outputs"]]


def test_rating_round_trip_and_replace(client):
    a, b, c3 = _outputs(client)
    r = client.put(f"/v1/outputs/{a}/rating",
                   json={"thumb": "up", "score": 5, "tags": ["sharp", "sharp", "digit"],
                         "note": "<b>clean</b>"})  # fmt: skip
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["rater"] == "local" and got["run"] == "dc" and got["tags"] == ["digit", "sharp"]
    assert got["note"] == "<b>clean</b>"  # stored as given; the page escapes it
    assert client.put(f"/v1/outputs/{b}/rating", json={"thumb": "down"}).status_code == 200
    assert client.put(f"/v1/outputs/{c3}/rating", json={"score": 2}).status_code == 200
    # rating again replaces the rater's rating, it does not add one
    assert client.put(f"/v1/outputs/{a}/rating", json={"score": 4}).status_code == 200
    mine = client.get(f"/v1/outputs/{a}/rating").json()
    assert len(mine) == 1 and mine[0]["score"] == 4 and mine[0]["thumb"] is None
    fb = client.get("/v1/runs/dc/feedback").json()
    assert fb["total"] == 3 and fb["summary"]["up"] == 0 and fb["summary"]["down"] == 1
    assert fb["summary"]["approved"] == 1 and fb["summary"]["rejected"] == 2
    assert [
        i["output_id"] for i in client.get("/v1/runs/dc/feedback?max_score=2").json()["items"]
    ] == [c3]
    assert [
        i["output_id"] for i in client.get("/v1/runs/dc/feedback?thumb=down").json()["items"]
    ] == [b]
    assert client.get("/v1/runs/dc/feedback?tag=digit").json()["total"] == 0  # replaced
    assert client.get("/v1/runs/cg/feedback").json()["total"] == 0


def test_bad_ratings_are_refused(client):
    (a,) = _outputs(client, n=1)
    assert client.put("/v1/outputs/deadbeef/rating", json={"thumb": "up"}).status_code == 404
    assert client.get("/v1/outputs/deadbeef/rating").status_code == 404
    for body in ({}, {"thumb": "sideways"}, {"score": 6}, {"score": 0}, {"tags": [""]},
                 {"note": "x" * 2001}, {"thumb": "up", "extra": 1}):  # fmt: skip
        r = client.put(f"/v1/outputs/{a}/rating", json=body)
        assert r.status_code == 422, (body, r.text)
    assert client.get(f"/v1/outputs/{a}/rating").json() == []


def test_ratings_are_per_key_with_agreement(make_client, tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    ann, bob = store.create("ann"), store.create("bob")
    c = make_client(keys_path=store.path)
    ha, hb = ({"Authorization": f"Bearer {k}"} for k in (ann, bob))
    ids = _outputs(c, n=4, headers=ha)
    for oid, (va, vb) in zip(
        ids, [("up", "up"), ("down", "down"), ("up", "down"), ("up", "up")], strict=True
    ):
        assert c.put(f"/v1/outputs/{oid}/rating", json={"thumb": va}, headers=ha).status_code == 200
        assert c.put(f"/v1/outputs/{oid}/rating", json={"thumb": vb}, headers=hb).status_code == 200
    assert c.put(f"/v1/outputs/{ids[0]}/rating", json={"thumb": "up"}).status_code == 401
    fb = c.get("/v1/runs/dc/feedback", headers=ha).json()
    assert fb["total"] == 8 and fb["summary"]["raters"] == ["ann", "bob"]
    assert fb["summary"]["agreement"]["pairs_agreeing"] == 0.75
    # 3 of 4 outputs have a majority (the split one says nothing)
    assert fb["summary"]["approved"] == 2 and fb["summary"]["rejected"] == 1
    only_bob = c.get("/v1/runs/dc/feedback?rater=bob&thumb=down", headers=hb).json()
    assert {i["output_id"] for i in only_bob["items"]} == {ids[1], ids[2]}


def test_ratings_survive_kill_9(runs_dir, free_port, start_server):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(runs_dir, port)
    try:
        gen = httpx.post(f"{base}/v1/generate", json={"run": "dc", "n": 2, "seed": 3}, timeout=60)
        a, b = (o["id"] for o in gen.json()["outputs"])
        for oid, body in ((a, {"thumb": "up", "tags": ["keep"]}), (b, {"score": 1})):
            r = httpx.put(f"{base}/v1/outputs/{oid}/rating", json=body, timeout=10)
            assert r.status_code == 200, r.text
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        server = start_server(runs_dir, port)
        fb = httpx.get(f"{base}/v1/runs/dc/feedback", timeout=10).json()
        got = {i["output_id"]: (i["thumb"], i["score"], i["tags"]) for i in fb["items"]}
        assert got == {a: ("up", None, ["keep"]), b: (None, 1, [])}
    finally:
        server.kill()
        server.wait(timeout=30)


def test_generate_through_the_learned_gate(client, runs_dir, tmp_path):
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    from genforge.core.run import Run
    from genforge.evaluate.learned_gate import fit_gate
    from genforge.safety.feedback import FeedbackStore, Rating

    r = client.post("/v1/generate", json={"run": "dc", "n": 1, "best_of": 2, "gate": "learned"})
    assert r.status_code == 400 and "genforge gate fit dc" in r.json()["detail"]
    store = FeedbackStore(runs_dir / ".serve" / "genforge.sqlite")
    digits = load_digits()
    for j, i in enumerate(np.flatnonzero(digits.target <= 1)[:24]):
        path = tmp_path / f"d{j}.png"
        Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8), "L").resize((16, 16)).save(
            path
        )
        oid = store.provenance.new_id()
        store.provenance.add(oid, who="local", run="dc", modality="image", params={},
                             content=path.read_bytes(), phash_hex=None, watermarked=False,
                             path=str(path))  # fmt: skip
        store.rate(oid, "local", Rating(thumb="up" if digits.target[i] == 0 else "down"))
    fit_gate(Run(runs_dir / "dc"), store)
    r = client.post("/v1/generate", json={"run": "dc", "n": 2, "best_of": 3, "gate": "learned"})
    assert r.status_code == 200, r.text
    assert {o["params"]["gate"] for o in r.json()["outputs"]} == {"learned"}
    r = client.post("/v1/generate", json={"run": "dc", "n": 1, "best_of": 2, "gate": "both"})
    assert r.json()["outputs"][0]["params"]["gate"] == "realism,confidence,manifold,learned"
    r = client.post("/v1/generate", json={"run": "dc", "n": 1, "gate": "both"})
    assert r.status_code == 400 and "give best_of too" in r.json()["detail"]


def test_review_batch_over_rest(client):
    r = client.post("/v1/runs/dc/review", json={"n": 5, "seed": 1})
    assert r.status_code == 200, r.text
    batch = r.json()
    assert batch["gate"] == "auto" and len(batch["items"]) == 5
    doubts = [abs(o["params"]["score"] - 0.5) for o in batch["items"]]
    assert doubts == sorted(doubts)
    first = batch["items"][0]["id"]
    assert client.get(f"/v1/outputs/{first}/content").status_code == 200
    assert client.put(f"/v1/outputs/{first}/rating", json={"thumb": "up"}).status_code == 200
    assert client.post("/v1/runs/nope/review", json={}).status_code == 404
    assert client.post("/v1/runs/dc/review", json={"n": 0}).status_code == 422
