"""Runs: validation, files, deletion, and real training jobs (create, watch, cancel, resume)."""

from __future__ import annotations

import json
import time

JSON = {"Content-Type": "application/json"}  # what a script sends (a POST without it: 415)


def test_list_and_show_runs(client):
    runs = {r["name"]: r for r in client.get("/v1/runs").json()}
    assert (
        runs["dc"]["state"] == "completed"
        and runs["dc"]["step"] == runs["dc"]["checkpoint_step"] == 2
    )
    assert runs["cg"]["conditional"] and runs["cg"]["class_names"][:2] == ["0", "1"]
    assert not runs["dc"]["conditional"] and runs["dc"]["class_names"] == []
    assert "samples/latest.png" in runs["dc"]["files"]
    assert client.get("/v1/runs/nope").status_code == 404
    assert client.get("/v1/runs/a..b").status_code == 404
    assert client.get("/v1/runs/.hidden").status_code == 422
    assert client.get("/v1/runs/dc/metrics").json()[-1]["step"] == 2


def test_run_files_are_confined(client):
    assert client.get("/v1/runs/dc/files/samples/latest.png").content.startswith(b"\x89PNG")
    assert client.get("/v1/runs/dc/files/README.md").status_code == 200
    for bad in ["model/meta.json", "state/optim.safetensors", "samples/../model/meta.json",
                "samples/%2e%2e/%2e%2e/dc/config.yaml", "../cg/README.md", "/etc/passwd"]:  # fmt: skip
        assert client.get(f"/v1/runs/dc/files/{bad}").status_code in (404, 422), bad


def test_create_validation(make_client):
    c = make_client(max_steps=1000)
    ok = {"model": "dcgan", "data": "digits", "steps": 10}
    assert c.post("/v1/runs", json={**ok, "model": "nope"}).status_code == 400
    assert c.post("/v1/runs", json={**ok, "data": "nope"}).status_code == 400
    r = c.post("/v1/runs", json={**ok, "options": {"bogus": 1}})
    assert r.status_code == 400 and "bogus" in r.json()["detail"]
    assert c.post("/v1/runs", json={**ok, "steps": 1001}).status_code == 413
    assert c.post("/v1/runs", json={**ok, "steps": 0}).status_code == 422
    assert c.post("/v1/runs", json={**ok, "name": "../x"}).status_code == 422
    assert c.post("/v1/runs", json={**ok, "name": "dc"}).status_code == 409
    assert c.post("/v1/runs", json={**ok, "extra": 1}).status_code == 422


def test_queued_job_cancel_and_delete(client, runs_dir):
    # without a worker the job stays queued
    r = client.post("/v1/runs", json={"model": "dcgan", "data": "digits", "steps": 5})
    assert r.status_code == 201 and r.json()["state"] == "queued"
    name = r.json()["name"]
    assert name == "digits-dcgan"
    again = client.post("/v1/runs", json={"model": "dcgan", "data": "digits", "steps": 5}).json()
    assert again["name"] == "digits-dcgan-2"
    assert client.delete(f"/v1/runs/{name}").status_code == 409
    assert client.post(f"/v1/runs/{name}/cancel", headers=JSON).json()["state"] == "cancelled"
    assert client.post(f"/v1/runs/{name}/cancel", headers=JSON).status_code == 409
    assert client.delete(f"/v1/runs/{name}").status_code == 204
    assert client.get(f"/v1/runs/{name}").status_code == 404
    assert client.delete("/v1/runs/dc").status_code == 204
    assert not (runs_dir / "dc").exists()
    assert client.post("/v1/runs/cg/cancel", headers=JSON).status_code == 409
    assert client.post("/v1/runs/cg/resume", json={}).status_code == 400  # already at its steps
    assert client.post("/v1/runs/cg/resume", json={"steps": 10**9}).status_code == 413


def wait_for(client, name, pred, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.get(f"/v1/runs/{name}").json()
        if pred(info):
            return info
        time.sleep(0.2)
    raise AssertionError(f"timed out; last: {info}")


def test_train_watch_cancel_resume(make_client, runs_dir, tiny):
    c = make_client(start_worker=True, job_poll_s=0.1, sse_poll_s=0.1)
    opts = {**tiny, "image_size": 8, "checkpoint_every": 5, "log_every": 5, "sample_every": 10**6}
    r = c.post("/v1/runs", json={"model": "dcgan", "data": "digits", "name": "long",
                                 "steps": 100_000, "options": opts})  # fmt: skip
    assert r.status_code == 201, r.text
    wait_for(c, "long", lambda i: i["checkpoint_step"] >= 5)  # a checkpoint exists
    assert c.post("/v1/runs/long/cancel", headers=JSON).status_code == 200
    info = wait_for(c, "long", lambda i: i["state"] != "running")
    assert (
        info["state"] == "cancelled" and info["checkpoint_step"] >= 5
    )  # SIGTERM saved a checkpoint
    kept = info["checkpoint_step"]
    assert info["step"] == kept  # the last logged step is the checkpointed one
    # resume to a few steps more; the event stream follows it to the end
    r = c.post("/v1/runs/long/resume", json={"steps": kept + 3})
    assert r.status_code == 202 and r.json()["state"] in ("queued", "running")
    events = []
    with c.stream("GET", "/v1/runs/long/events") as s:
        for line in s.iter_lines():
            if line.startswith("event:"):
                events.append([line[7:], None])
            elif line.startswith("data:"):
                events[-1][1] = json.loads(line[5:])
    assert events[-1] == ["end", {"state": "completed"}]
    progress = [d for e, d in events if e == "progress"]
    assert progress[-1]["step"] == kept + 3
    assert any(m["step"] == kept + 3 for d in progress for m in d["metrics"])
    assert c.get("/v1/runs/long").json()["state"] == "completed"
    assert c.get("/v1/runs/nope/events").status_code == 404
