"""Issue 24, finding 2: other websites must not act on a local server (cross-site requests,
DNS rebinding), while API clients (curl, scripts with a key) keep working.

tests/serve/test_e2e_csrf.py makes the same attacks from a real browser."""

from __future__ import annotations

import functools
import io
import zipfile

import pytest

from genforge.serve.auth import KeyStore

BASE = "http://127.0.0.1:8000"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def make(make_client):
    """make(**settings) -> a TestClient that a browser on this machine would be (Host 127.0.0.1)."""
    return functools.partial(make_client, base_url=BASE)


@pytest.fixture
def folder(tmp_path, png_bytes, monkeypatch):
    monkeypatch.chdir(tmp_path)  # folders under the server's working directory may register
    f = tmp_path / "cats"
    f.mkdir()
    (f / "a.png").write_bytes(png_bytes())
    return f


def a_zip(png: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.png", png)
    return buf.getvalue()


def names(c) -> set[str]:
    return {d["name"] for d in c.get("/v1/datasets").json()}


def test_unknown_host_is_refused_on_a_loopback_server(make, keys_store):
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 reaches the
    server with `Host: evil.example:8000`."""
    c = make()
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.nip.io:8000", "localhost:9999",
                 "127.0.0.1:8000@evil.example", ""):  # fmt: skip
        for path in ("/v1/info", "/", "/v1/datasets"):
            r = c.get(path, headers={"Host": host})
            assert r.status_code == 400, (host, path, r.status_code)
            assert "Host" in r.json()["detail"] and "--allow-host" in r.json()["detail"]
    for host in ("127.0.0.1:8000", "localhost:8000", "LOCALHOST:8000", "[::1]:8000"):
        assert c.get("/v1/info", headers={"Host": host}).status_code == 200, host
    extra = make(allowed_hosts=("genforge.lan", "box.lan:9000"))
    assert extra.get("/v1/info", headers={"Host": "genforge.lan:8000"}).status_code == 200
    assert extra.get("/v1/info", headers={"Host": "box.lan:9000"}).status_code == 200
    assert extra.get("/v1/info", headers={"Host": "box.lan:8000"}).status_code == 400
    # a server bound beyond loopback requires keys, which a rebinding page does not have
    store, secret = keys_store
    lan = make(host="0.0.0.0", keys_path=store.path)
    r = lan.get("/v1/info", headers={"Host": "box.lan:8000", "Authorization": f"Bearer {secret}"})
    assert r.status_code == 200


@pytest.fixture
def keys_store(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    return store, store.create("alice")


def test_cross_origin_state_changes_are_refused(make, folder):
    c = make()
    body = {"name": "cats", "path": str(folder)}
    for hdr in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                {"Origin": "http://127.0.0.1:8001"}, {"Origin": "http://localhost:8000.evil.io"},
                {"Referer": "http://evil.example/page.html"}):  # fmt: skip
        r = c.post("/v1/datasets", json=body, headers=hdr)
        assert r.status_code == 403 and "origin" in r.json()["detail"], (hdr, r.text)
        assert c.delete("/v1/datasets/digits", headers=hdr).status_code == 403
        assert c.post("/v1/runs/dc/cancel", headers={**hdr, **JSON}).status_code == 403
    assert "cats" not in names(c)
    # the server's own pages (whatever name of loopback they were loaded from) may
    for i, own in enumerate((BASE, "http://localhost:8000")):
        r = c.post("/v1/datasets", json={**body, "name": f"c{i}"}, headers={"Origin": own})
        assert r.status_code == 201, r.text
    r = c.post("/v1/datasets", json=body, headers={"Referer": f"{BASE}/#datasets"})
    assert r.status_code == 201


def test_simple_cross_site_requests_are_refused(make, folder, png_bytes):
    """What a page can send without a CORS preflight: a form post (urlencoded, multipart,
    text/plain) or a no-cors fetch (no Content-Type at all for a Blob body)."""
    c = make()
    raw = f'{{"name": "cats", "path": "{folder}"}}'.encode()
    for ctype in (None, "text/plain", "application/x-www-form-urlencoded"):
        headers = {"Content-Type": ctype} if ctype else {}
        r = c.post("/v1/datasets", content=raw, headers=headers)
        assert r.status_code == 415 and "application/json" in r.json()["detail"], ctype
    assert c.post("/v1/runs/dc/cancel").status_code == 415  # no body, no Content-Type
    r = c.post("/v1/datasets/upload", data={"name": "up"},
               files={"file": ("d.zip", a_zip(png_bytes()))})  # fmt: skip
    assert r.status_code == 403 and "X-Genforge-CSRF" in r.json()["detail"]
    assert names(c).isdisjoint({"cats", "up"})
    # what the web UI sends
    assert c.post("/v1/datasets", content=raw, headers=JSON).status_code == 201
    assert c.post("/v1/runs/dc/cancel", headers=JSON).status_code == 409  # no job: but heard
    r = c.post("/v1/datasets/upload", data={"name": "up"}, headers={"X-Genforge-CSRF": "1"},
               files={"file": ("d.zip", a_zip(png_bytes()))})  # fmt: skip
    assert r.status_code == 201, r.text


def test_api_clients_keep_working(make, keys_store, folder, png_bytes):
    """curl with a JSON Content-Type and no Origin; scripts with an API key (a header no page
    can send cross-origin without a preflight) need nothing else."""
    store, secret = keys_store
    c = make(keys_path=store.path)
    key = {"Authorization": f"Bearer {secret}"}
    r = c.post("/v1/datasets", json={"name": "cats", "path": str(folder)}, headers=key)
    assert r.status_code == 201
    r = c.post("/v1/datasets/upload", data={"name": "up"}, headers=key,
               files={"file": ("d.zip", a_zip(png_bytes()))})  # fmt: skip
    assert r.status_code == 201, r.text
    assert c.post("/v1/runs/dc/cancel", headers=key).status_code == 409
    assert c.delete("/v1/datasets/up", headers=key).status_code == 204
    keyless = make()
    r = keyless.post("/v1/generate", content=b'{"run": "dc", "seed": 1}', headers=JSON)
    assert r.status_code == 200
    assert keyless.delete("/v1/datasets/cats").status_code == 204  # no Content-Type needed


def test_cors_origins_are_trusted_and_may_send_the_csrf_header(make, folder):
    app_origin = "http://app.example"
    c = make(cors_origins=(app_origin,))
    r = c.post("/v1/datasets", json={"name": "cats", "path": str(folder)},
               headers={"Origin": app_origin})  # fmt: skip
    assert r.status_code == 201 and r.headers["access-control-allow-origin"] == app_origin
    pre = c.options("/v1/datasets/upload", headers={
        "Origin": app_origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-genforge-csrf, authorization"})  # fmt: skip
    assert pre.status_code == 200
    assert "x-genforge-csrf" in pre.headers["access-control-allow-headers"].lower()
    evil = c.options("/v1/datasets", headers={"Origin": "http://evil.example",
                                              "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert evil.status_code != 200
    assert c.post("/v1/datasets", json={"name": "x", "path": str(folder)},
                  headers={"Origin": "http://evil.example"}).status_code == 403  # fmt: skip
    other = make(allowed_origins=("https://genforge.example",))
    r = other.post("/v1/datasets", json={"name": "x", "path": str(folder)},
                   headers={"Origin": "https://genforge.example"})  # fmt: skip
    assert r.status_code == 201
