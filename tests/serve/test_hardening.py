"""Issue 24: hostile requests must not stall the server, fill its disk, reach outside its
folders or make it answer 500. Each test reproduces one finding (it failed before the fix)."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
import threading
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from genforge.serve import Settings, create_app
from genforge.serve.auth import KeyStore

BASE = "http://127.0.0.1:8000"  # what a browser on this machine sends (Host 127.0.0.1:8000)
CSRF = {"X-Genforge-CSRF": "1"}  # what the web UI sends with every state-changing request
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def make(make_client):
    """make(**settings) -> a TestClient that shows 500s as responses (not as exceptions)."""
    return functools.partial(make_client, base_url=BASE, raise_server_exceptions=False)


def upload(c, name: str, filename: str, data: bytes, headers=CSRF):
    return c.post("/v1/datasets/upload", data={"name": name}, files={"file": (filename, data)},
                  headers=headers)  # fmt: skip


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def one_line(r: httpx.Response) -> str:
    detail = r.json()["detail"]
    text = detail if isinstance(detail, str) else json.dumps(detail)
    assert "\n" not in text and len(text) < 2000, text
    return text


# -- finding 1: truncation ------------------------------------------------------------------


def test_truncation_takes_the_library_range(make):
    """`truncation: 1e-300` (twice: the second used to find the server stalled) is refused at
    the schema, and both ends of TRUNCATION_RANGE are taken."""
    from genforge.generate.pipeline import TRUNCATION_RANGE

    c = make()
    lo, hi = TRUNCATION_RANGE
    for _ in range(2):
        t0 = time.monotonic()
        r = c.post("/v1/generate", json={"run": "dc", "truncation": 1e-300, "seed": 1})
        assert r.status_code == 422, r.text
        assert time.monotonic() - t0 < 5
    for bad in (lo / 2, hi * 1.5, 0, -1):
        assert c.post("/v1/generate", json={"run": "dc", "truncation": bad}).status_code == 422
    for ok in (lo, hi):
        r = c.post("/v1/generate", json={"run": "dc", "truncation": ok, "seed": 1})
        assert r.status_code == 200, r.text
        assert r.json()["outputs"][0]["params"]["truncation"] == ok
    schema = c.get("/openapi.json").json()["components"]["schemas"]["GenerateRequest"]
    bounds = schema["properties"]["truncation"]["anyOf"][0]
    assert (bounds["minimum"], bounds["maximum"]) == (lo, hi)


# -- finding 3: zip bombs made of members just under the old ratio threshold -----------------


def datasets_on_disk(runs_dir: Path) -> list[Path]:
    folder = runs_dir / ".serve" / "datasets"
    return sorted(folder.rglob("*")) if folder.exists() else []


def test_zip_of_one_mib_zero_members_is_refused_and_leaves_nothing(make, runs_dir):
    """100 members of exactly 1 MiB of zeros (a ~100 KB zip) used to pass the ratio check
    (it started above 1 MiB) and leave 100 MiB on disk after the dataset failed."""
    c = make()
    bomb = zip_of({f"{i}.png": b"\0" * 2**20 for i in range(100)})
    assert len(bomb) < 200_000
    r = upload(c, "bomb", "b.zip", bomb)
    assert r.status_code == 413 and "zip bomb" in one_line(r)
    small = zip_of({"a.png": b"\0" * 2**16})  # the ratio check applies whatever the size
    assert upload(c, "small", "s.zip", small).status_code == 413
    assert datasets_on_disk(runs_dir) == []
    assert c.get("/v1/datasets/bomb").status_code == 404


def test_failed_upload_leaves_nothing_on_disk(make, runs_dir, png_bytes, monkeypatch):
    c = make()
    import os

    junk = zip_of({f"{i}.png": os.urandom(50_000) for i in range(3)})  # images in name only
    r = upload(c, "junk", "j.zip", junk)
    assert r.status_code == 400 and "no readable image" in one_line(r)
    assert datasets_on_disk(runs_dir) == []
    # a failure after the extraction (here: the database refuses the row) removes the files
    svc = c.app.state.services

    def refuse(*a, **kw):
        from genforge.core.errors import GenforgeError

        raise GenforgeError("database is busy")

    monkeypatch.setattr(svc.datasets, "add", refuse)
    assert upload(c, "late", "ok.zip", zip_of({"a.png": png_bytes()})).status_code == 400
    assert upload(c, "late2", "ok.txt", b"some text").status_code == 400
    assert datasets_on_disk(runs_dir) == []


def test_uploaded_datasets_share_one_quota(make, png_bytes):
    """The server's uploaded datasets together stay under max_datasets_mb."""
    c = make(max_datasets_mb=1)
    big = zip_of({"a.png": png_bytes(size=500, mode="RGB")})  # ~750 KB of noise
    assert upload(c, "first", "a.zip", big).status_code == 201
    r = upload(c, "second", "b.zip", zip_of({"b.png": png_bytes(size=500, seed=1, mode="RGB")}))
    assert r.status_code == 413 and "--max-datasets-mb" in one_line(r)
    assert upload(c, "text", "t.txt", b"x" * 600_000).status_code == 413
    assert c.delete("/v1/datasets/first").status_code == 204
    assert upload(c, "second", "b.zip", big).status_code == 201


# -- finding 4: the first best_of request builds the scorer off the event loop ---------------


def test_info_answers_while_the_first_best_of_request_builds_its_scorer(runs_dir, monkeypatch):
    import genforge.evaluate.gate as gate

    real = gate.QualityScorer
    started, finished = threading.Event(), threading.Event()

    def slow_scorer(*a, **kw):
        started.set()
        time.sleep(1.5)  # what reading the data and loading the feature network takes
        try:
            return real(*a, **kw)
        finally:
            finished.set()

    monkeypatch.setattr(gate, "QualityScorer", slow_scorer)
    app = create_app(Settings(runs_dir=runs_dir, start_worker=False))

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as ac:
            assert (await ac.get("/v1/info")).status_code == 200
            gen = asyncio.create_task(
                ac.post("/v1/generate", json={"run": "dc", "best_of": 2, "seed": 1}, timeout=120)
            )
            for _ in range(2000):  # the scorer's build has begun (in whatever thread)
                if started.is_set():
                    break
                await asyncio.sleep(0.005)
            t0 = time.monotonic()
            r = await ac.get("/v1/info")
            took = time.monotonic() - t0
            busy = not finished.is_set()  # the build was still running when /info answered
            out = await gen
            return r.status_code, took, busy, out

    code, took, busy, out = asyncio.run(scenario())
    assert out.status_code == 200, out.text
    assert code == 200 and busy and took < 0.1, (took, busy)


# -- finding 5: registering server folders ---------------------------------------------------


def test_register_refuses_folders_outside_the_working_directory(make, runs_dir, tmp_path,
                                                                 monkeypatch, png_bytes):  # fmt: skip
    monkeypatch.chdir(tmp_path)  # runs_dir is tmp_path/runs: the state is tmp_path/runs/.serve
    c = make(keys_path=None)
    inside = tmp_path / "photos"
    inside.mkdir()
    (inside / "a.png").write_bytes(png_bytes())
    state = runs_dir / ".serve"
    (state / "datasets").mkdir(parents=True, exist_ok=True)
    for bad in ("/etc", "/root", "/", str(state), str(state / "datasets"), str(tmp_path),
                f"{inside}/../runs/.serve"):  # fmt: skip
        r = c.post("/v1/datasets", json={"name": "x", "path": bad})
        assert r.status_code == 403, (bad, r.text)
        assert "working directory" in one_line(r) or "state folder" in one_line(r)
    r = c.post("/v1/datasets", json={"name": "x", "path": "/etc"})
    assert str(tmp_path) in one_line(r) and "--data-root" in one_line(r)
    assert c.post("/v1/datasets", json={"name": "ok", "path": str(inside)}).status_code == 201
    assert [d["name"] for d in c.get("/v1/datasets").json() if d["kind"] == "folder"] == ["ok"]


# -- finding 6: 500s -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/v1/generate", b'{"run": "dc", "guidance": NaN}'),
        ("/v1/generate", b'{"run": "dc", "truncation": Infinity}'),
        ("/v1/generate", b'{"run": "dc", "top_p": -Infinity}'),
        ("/v1/runs", b'{"model": "dcgan", "data": "digits", "options": {"lr": NaN}}'),
        ("/v1/runs", b'{"model": "dcgan", "data": "digits", "options": {"lr": [Infinity]}}'),
    ],
)
def test_nan_and_infinity_are_refused_in_one_line(make, path, raw):
    c = make()
    r = c.post(path, content=raw, headers=JSON)
    assert r.status_code == 422, r.text
    assert "finite" in one_line(r)
    assert all(run["state"] != "queued" for run in c.get("/v1/runs").json())  # none queued


def test_nul_bytes_are_refused_in_one_line(make):
    c = make()
    for url in ("/v1/runs/dc/files/a%00b", "/v1/runs/dc/files/samples/a%00.png",
                "/v1/outputs?q=a%00b", "/v1/runs/a%00b", "/a%00b"):  # fmt: skip
        r = c.get(url)
        assert 400 <= r.status_code < 500, (url, r.status_code)
        one_line(r)
    r = c.post("/v1/datasets", json={"name": "x", "path": "/tmp/a\0b"})
    assert 400 <= r.status_code < 500 and one_line(r)
    r = c.post("/v1/generate", json={"run": "dc\0", "n": 1})
    assert r.status_code == 422
    r = upload(c, "nul", "a\0b.txt", b"hello")
    assert r.status_code < 500, r.text


def test_deeply_nested_json_is_refused_in_one_line(make):
    c = make()
    deep = b"[" * 100_000 + b"]" * 100_000
    jsonl = b'{"a": ' + deep + b"}\n"
    r = upload(c, "deep", "d.jsonl", jsonl)
    assert r.status_code == 400 and "nest" in one_line(r)
    r = c.post("/v1/generate", content=b'{"run": ' + deep + b"}", headers=JSON)
    assert 400 <= r.status_code < 500 and one_line(r)


# -- finding 7: keys, failed keys, body limits, wide CSVs ------------------------------------


def test_first_key_turns_auth_on_without_a_restart(runs_dir, free_port, start_server):
    """`genforge serve` without keys, then `genforge keys create`: the next request needs it."""
    from typer.testing import CliRunner

    from genforge.cli.main import app

    port = free_port()
    server = start_server(runs_dir, port)
    base = f"http://127.0.0.1:{port}"
    try:
        assert httpx.get(f"{base}/v1/info").json()["auth"] is False
        r = CliRunner().invoke(
            app, ["keys", "create", "--name", "ann", "--runs-dir", str(runs_dir)]
        )
        assert r.exit_code == 0, r.output
        secret = r.output.strip().splitlines()[-1]
        assert httpx.get(f"{base}/v1/info").status_code == 401
        ok = httpx.get(f"{base}/v1/info", headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200 and ok.json()["auth"] is True
    finally:
        server.terminate()
        server.wait(timeout=60)


@pytest.fixture
def keys(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    return store, store.create("alice")


def test_wrong_keys_are_rate_limited_per_address(make, keys):
    store, secret = keys
    c = make(keys_path=store.path)
    codes = [c.get("/v1/info", headers={"Authorization": f"Bearer gf_guess{i}"}).status_code
             for i in range(30)]  # fmt: skip
    assert codes[0] == 401 and codes[-1] == 429, codes
    r = c.get("/v1/info", headers={"Authorization": "Bearer gf_guess"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "wrong API keys" in one_line(r)
    # while the address is blocked, even the right key waits (guessing learns nothing)
    assert c.get("/v1/info", headers={"Authorization": f"Bearer {secret}"}).status_code == 429


def test_corrupt_keys_file_is_not_shown_to_clients(make, keys, caplog):
    store, secret = keys
    c = make(keys_path=store.path)
    store.path.write_text("{not json")
    with caplog.at_level(logging.ERROR):
        r = c.get("/v1/info", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 500 and r.json() == {"detail": "server misconfigured"}
    assert str(store.path) not in r.text
    assert str(store.path) in caplog.text


def test_chunked_body_over_the_limit_is_413(make):
    c = make(max_upload_mb=1)

    def chunks():
        for _ in range(40):
            yield b" " * 2**16  # 2.5 MiB, no Content-Length

    r = c.post("/v1/generate", content=chunks(), headers=JSON)
    assert r.status_code == 413, r.text
    r = c.post("/v1/datasets/upload", content=chunks(),
               headers={**CSRF, "Content-Type": "multipart/form-data; boundary=x"})  # fmt: skip
    assert r.status_code == 413, r.text


def test_json_bodies_are_capped_far_below_uploads(make):
    """Eight concurrent 60 MiB JSON bodies used to be read whole (64 MiB was the only limit)."""
    c = make()
    big = json.dumps({"run": "dc", "prompt": "x" * (2 * 2**20)}).encode()
    r = c.post("/v1/generate", content=big, headers=JSON)
    assert r.status_code == 413 and "--max-json-kb" in one_line(r)
    s = c.app.state.services.settings
    assert s.max_json_kb * 2**10 <= 2**20 < s.max_upload_mb * 2**20
    assert c.get("/v1/info").json()["limits"]["max_json_kb"] == s.max_json_kb
    # an upload of the same size is still taken
    text = ("word " * (2 * 2**20 // 5)).encode()
    assert upload(c, "long", "long.txt", text).status_code == 201


def test_wide_csv_is_refused_and_previews_are_capped(make):
    c = make()
    wide = ",".join(f"c{i}" for i in range(10_001)) + "\n" + ",".join("1" * 10_001) + "\n"
    r = upload(c, "wide", "w.csv", wide.encode())
    assert r.status_code == 413 and "10000 columns" in one_line(r)
    cols = 5000
    ok = ",".join(f"c{i}" for i in range(cols)) + "\n"
    ok += "".join(",".join(str(j) for j in range(cols)) + "\n" for _ in range(10))
    r = upload(c, "ok", "ok.csv", ok.encode())
    assert r.status_code == 201, r.text
    got = c.get("/v1/datasets/ok")
    rep = got.json()["report"]
    assert rep["columns_total"] == cols and rep["rows"] == 10
    shown = len(rep["columns"])
    assert shown <= 50 and rep["columns_left_out"] == cols - shown
    assert all(len(row) == shown for row in rep["preview"])
    assert len(got.content) < 20_000


def test_upload_paths_are_the_multipart_operations(make):
    """BodyLimit gives uploads max_upload_mb and every other body max_json_kb, by path."""
    from genforge.serve.app import UPLOAD_PATHS

    spec = make().app.openapi()
    multipart = {path for path, item in spec["paths"].items() for op in item.values()
                 if "multipart/form-data" in op.get("requestBody", {}).get("content", {})}  # fmt: skip
    assert set(UPLOAD_PATHS) == multipart


def test_async_endpoints_are_the_audited_ones():
    """An `async def` endpoint runs on the event loop: anything blocking in it (a model load,
    the best-of scorer's build, a file read) stalls every other request. These were read for
    that; a new one must be too (or be a plain `def`, which FastAPI runs in a thread)."""
    import inspect

    from fastapi.routing import APIRoute

    from genforge.serve.app import ROUTERS

    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 20
    found = {r.endpoint.__qualname__ for r in routes if inspect.iscoroutinefunction(r.endpoint)}
    assert found == {"generate", "run_events", "chat"}
