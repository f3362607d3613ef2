"""Auth, rate limits, CORS and the bind check."""

from __future__ import annotations

import pytest

from genforge.core.errors import GenforgeError
from genforge.serve import Settings, create_app
from genforge.serve.auth import KeyStore


@pytest.fixture
def keys(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    return store, store.create("alice")


def test_keys_are_stored_hashed(keys):
    store, secret = keys
    text = store.path.read_text()
    assert secret not in text and "alice" in text
    assert store.verify(secret) == "alice"
    assert store.verify(secret + "x") is None
    with pytest.raises(GenforgeError, match="exists"):
        store.create("alice")
    with pytest.raises(GenforgeError, match="invalid key name"):
        store.create("../bob")


def test_every_v1_endpoint_needs_the_key(make_client, keys):
    store, secret = keys
    c = make_client(keys_path=store.path)
    assert c.get("/v1/info").status_code == 401
    assert c.get("/v1/info").headers["www-authenticate"] == "Bearer"
    assert c.get("/v1/runs", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert c.get("/v1/runs", headers={"Authorization": f"Basic {secret}"}).status_code == 401
    ok = {"Authorization": f"Bearer {secret}"}
    assert c.get("/v1/info", headers=ok).json()["auth"] is True
    for method, path in [("get", "/v1/runs"), ("get", "/v1/datasets"), ("get", "/v1/outputs"),
                         ("post", "/v1/generate"), ("post", "/v1/runs"), ("get", "/v1/runs/dc/events"),
                         ("post", "/v1/watermark/detect"), ("delete", "/v1/runs/dc"),
                         ("get", "/v1/runs/dc/card")]:  # fmt: skip
        # a JSON Content-Type: a POST without one is refused (415) before its key is checked
        r = getattr(c, method)(path, headers={"Content-Type": "application/json"})
        assert r.status_code == 401, path
    # the UI's static files and the OpenAPI page load without a key (they hold no data)
    assert c.get("/").status_code == 200
    assert c.get("/docs").status_code == 200
    store.revoke("alice")
    assert c.get("/v1/info", headers=ok).status_code == 401


def test_generate_records_the_key_name(make_client, keys):
    store, secret = keys
    c = make_client(keys_path=store.path)
    h = {"Authorization": f"Bearer {secret}"}
    out = c.post("/v1/generate", json={"run": "dc", "n": 1, "seed": 3}, headers=h).json()
    rec = c.get(f"/v1/outputs/{out['outputs'][0]['id']}", headers=h).json()
    assert rec["who"] == "alice"


def test_non_loopback_bind_needs_keys(runs_dir, keys):
    with pytest.raises(GenforgeError, match="refusing to serve on 0.0.0.0 without API keys"):
        create_app(Settings(runs_dir=runs_dir, host="0.0.0.0", start_worker=False))
    store, _ = keys
    create_app(
        Settings(runs_dir=runs_dir, host="0.0.0.0", keys_path=store.path, start_worker=False)
    )
    create_app(Settings(runs_dir=runs_dir, host="::1", start_worker=False))


def test_rate_limit_per_caller(make_client):
    c = make_client(rate_limit_per_min=1, rate_burst=3)  # refills once a minute
    codes = [c.get("/v1/info").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = c.get("/v1/info")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_cors_off_unless_configured(make_client):
    pre = {"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}
    c = make_client()
    assert (
        "access-control-allow-origin"
        not in c.get("/v1/info", headers={"Origin": "http://x"}).headers
    )
    assert c.options("/v1/info", headers=pre).status_code != 200
    c2 = make_client(cors_origins=("http://app.example",))
    r = c2.get("/v1/info", headers={"Origin": "http://app.example"})
    assert r.headers["access-control-allow-origin"] == "http://app.example"
    assert (
        "access-control-allow-origin"
        not in c2.get("/v1/info", headers={"Origin": "http://evil.example"}).headers
    )


def test_cli_serve_refuses_public_bind_without_keys(tmp_path):
    from typer.testing import CliRunner

    from genforge.cli.main import app

    r = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--runs-dir", str(tmp_path)])
    assert r.exit_code == 1 and "without API keys" in r.output


def test_cli_keys_create_revoke(tmp_path):
    from typer.testing import CliRunner

    from genforge.cli.main import app

    runner = CliRunner()
    r = runner.invoke(app, ["keys", "create", "--name", "alice", "--runs-dir", str(tmp_path)])
    assert r.exit_code == 0
    secret = r.output.strip().splitlines()[-1]
    store = KeyStore(tmp_path / ".serve" / "keys.json")
    assert store.verify(secret) == "alice"
    assert (
        runner.invoke(app, ["keys", "revoke", "alice", "--runs-dir", str(tmp_path)]).exit_code == 0
    )
    assert store.verify(secret) is None
    r = runner.invoke(app, ["keys", "revoke", "alice", "--runs-dir", str(tmp_path)])
    assert r.exit_code == 1 and "no key 'alice'" in r.output
