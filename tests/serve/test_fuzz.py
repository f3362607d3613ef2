"""Fuzzing every operation of the OpenAPI schema: no request makes a 5xx.

Two passes, each required to cover exactly the schema's operations (a new endpoint is fuzzed
without anyone listing it here):
- schemathesis draws requests from the schema (property-based, hypothesis);
- hostile values a schema-driven generator does not produce: NaN, Infinity and 1e999 as JSON
  numbers (Python's JSON reader takes them), NUL bytes in paths, queries, JSON strings, form
  fields and file names, deep nesting (JSON bodies and uploaded .jsonl lines), junk uploads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from genforge.serve import Settings, create_app

BASE = "http://127.0.0.1:8000"
CSRF = {"X-Genforge-CSRF": "1"}  # what the web UI sends: the guard lets the request through
DEEP = "[" * 50_000 + "]" * 50_000  # deeper than Python's recursion limit, well under 1 MiB
HOSTILE_JSON = ("NaN", "Infinity", "-Infinity", "1e999", '"a\\u0000b"', DEEP, '{"a": ' + DEEP + "}")
HOSTILE_QUERY = ("NaN", "Infinity", "-Infinity", "1e999", "a%00b", "%00", quote(DEEP[:5000]))
HOSTILE_FILES = (
    ("deep.jsonl", ('{"a": ' + DEEP + "}\n").encode()),
    ("a\0b.txt", b"text\0with NUL"),
    ("n.csv", b"a,b\nNaN,Infinity\n1e999,-Infinity\n"),
    (
        "wide.csv",
        (",".join(f"c{i}" for i in range(20_000)) + "\n" + "1," * 19_999 + "1\n").encode(),
    ),
    ("z.zip", b"PK\x03\x04" + b"\0" * 200),
    ("x.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100),
)
# plausible values by name, so that hostile values reach past the first check
GOOD = {"run": "dc", "model": "dcgan", "data": "digits", "name": "fuzzed", "text": "hello",
        "oid": "0123456789abcdef", "path": "README.md"}  # fmt: skip


@pytest.fixture
def app(runs_dir):
    return create_app(Settings(runs_dir=runs_dir, start_worker=False, rate_limit_per_min=10**6,
                               rate_burst=10**6, max_n=2))  # fmt: skip


def schema_operations(app) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, item in app.openapi()["paths"].items() for m in item}


def test_schemathesis_fuzzes_every_operation_without_server_errors(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ran = set()
    for result in schema.get_all_operations():
        op = result.ok()

        @given(case=op.as_strategy())
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)  # fmt: skip
        def fuzz(case):
            if case.method == "DELETE":  # keep the fixture runs for the other operations
                case.path_parameters = {k: "does-not-exist" for k in case.path_parameters or {}}
            case.headers = {**(case.headers or {}), **CSRF}
            case.call_and_validate(checks=[not_a_server_error])

        fuzz()
        ran.add((op.method.upper(), op.path))
    assert ran == schema_operations(app)


def hostile_requests(spec: dict, method: str, path: str, op: dict) -> Iterator[dict]:
    """Keyword arguments of `TestClient.request`, each with one hostile value in one place."""
    params = op.get("parameters", [])
    values = {p["name"]: "does-not-exist" if method == "DELETE" else GOOD.get(p["name"], "x")
              for p in params if p["in"] == "path"}  # fmt: skip

    def url(override: dict[str, str] | None = None, query: str = "") -> str:
        out = path
        for k, v in {**values, **(override or {})}.items():
            out = out.replace("{" + k + "}", v)
        return out + (f"?{query}" if query else "")

    yield {"url": url()}
    for p in params:
        if p["in"] == "path":
            for bad in ("a%00b", "%00", "a%00.png"):
                yield {"url": url({p["name"]: bad})}
        elif p["in"] == "query":
            for bad in HOSTILE_QUERY:
                yield {"url": url(query=f"{p['name']}={bad}")}
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        props = resolve(spec, content["application/json"]["schema"]).get("properties", {})
        base = {k: GOOD[k] for k in props if k in GOOD and k != "path"}
        for name in props:
            for bad in HOSTILE_JSON:
                body = json.dumps({k: v for k, v in base.items() if k != name})[:-1]
                raw = (body + (", " if len(body) > 1 else "") + f'"{name}": {bad}}}').encode()
                yield {
                    "url": url(),
                    "content": raw,
                    "headers": {"Content-Type": "application/json"},
                }
        for bad in HOSTILE_JSON:
            yield {"url": url(), "content": bad.encode(),
                   "headers": {"Content-Type": "application/json"}}  # fmt: skip
    if "multipart/form-data" in content:
        props = resolve(spec, content["multipart/form-data"]["schema"]).get("properties", {})
        files = [k for k, v in props.items() if v.get("format") == "binary"
                 or v.get("contentMediaType") == "application/octet-stream"]  # fmt: skip
        fields = [k for k in props if k not in files]
        for i, (filename, data) in enumerate(HOSTILE_FILES):
            yield {"url": url(), "headers": CSRF, "data": {k: f"fuzz{i}" for k in fields},
                   "files": {k: (filename, data) for k in files}}  # fmt: skip
        for k in fields:
            yield {"url": url(), "headers": CSRF, "data": {k: "a\0b"},
                   "files": {f: ("a.txt", b"hello") for f in files}}  # fmt: skip


def resolve(spec: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def test_hostile_values_on_every_operation_make_no_server_error(app):
    spec = app.openapi()
    ran, failures = set(), []
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as client:
        for path, item in spec["paths"].items():
            for method, op in item.items():
                for kw in hostile_requests(spec, method.upper(), path, op):
                    headers = {**CSRF, **kw.pop("headers", {})}
                    r = client.request(method.upper(), kw.pop("url"), headers=headers, **kw)
                    if r.status_code >= 500:
                        failures.append(f"{method.upper()} {path}: {r.status_code} {r.text[:200]}")
                    else:
                        detail = r.json().get("detail") if r.status_code >= 400 else None
                        assert detail is None or "\n" not in json.dumps(detail)
                ran.add((method.upper(), path))
    assert not failures, "\n".join(failures)
    assert ran == schema_operations(app)
