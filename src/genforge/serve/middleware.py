"""ASGI middleware of the app: who may send what (`RequestGuard`) and how much (`BodyLimit`).

Both are plain ASGI (no request objects, no body reads): they look at the scope's headers once
and answer a one-line JSON error, so the hot path pays a few dictionary lookups.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-Genforge-CSRF"  # the web UI sends it; pages of other origins cannot
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


async def send_error(send, status: int, detail: str, headers: Iterable = ()) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *headers]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def split_host(value: str, default_port: int) -> tuple[str, int] | None:
    """("name", port) of a Host header or an origin's netloc; None when malformed."""
    value = value.strip().lower()
    if not value or any(c in value for c in "@/\\?# "):
        return None
    if value.startswith("["):  # [v6] or [v6]:port
        name, _, rest = value.partition("]")
        name, port = name + "]", rest.removeprefix(":")
        if rest and not rest.startswith(":"):
            return None
    else:
        name, _, port = value.partition(":")
    if not port:
        return name, default_port
    return (name, int(port)) if port.isdigit() and int(port) < 65536 else None


def origin_of(url: str) -> str | None:
    """scheme://host[:port] of a URL (Origin or Referer), lower case; None when it has none."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def normal_origin(origin: str) -> str:
    """An origin with its default port spelled out (http://x == http://x:80)."""
    scheme, _, netloc = origin.lower().partition("://")
    hp = split_host(netloc, 443 if scheme == "https" else 80)
    return f"{scheme}://{hp[0]}:{hp[1]}" if hp else origin.lower()


class RequestGuard:
    """ASGI middleware: refuse what a browser would send on behalf of another website.

    - Host: a loopback server (`loopback`) answers only 127.0.0.1, localhost, [::1] and the
      address it listens on, at its port, plus `extra_hosts` ("name": any port, "name:port"):
      a DNS-rebound name (evil.example resolving to 127.0.0.1) gets 400.
    - Origin: a state-changing request (POST, PUT, PATCH, DELETE) with an Origin (else a
      Referer) that is neither the server's own origin (scheme://Host) nor in `origins` gets
      403 ("null" included).
    - Simple requests: a POST that carries neither an Authorization nor an X-Genforge-CSRF
      header must be `Content-Type: application/json` (415), and a multipart upload needs one
      of those headers (403). Pages of other origins cannot send any of them without a CORS
      preflight, which the server refuses them; form posts and no-cors fetches therefore stop
      here even when a browser sends no Origin.
    - A NUL byte in the URL's path or query gets 400 (no handler sees one).
    """

    def __init__(self, app, *, loopback: bool, port: int, extra_hosts: Iterable[str] = (),
                 origins: Iterable[str] = ()):  # fmt: skip
        self.app, self.loopback, self.port = app, loopback, port
        parsed = [hp for hp in (split_host(h, -1) for h in extra_hosts) if hp is not None]
        self.extra_any = {name for name, p in parsed if p == -1}  # "name": any port
        self.extra_exact = {hp for hp in parsed if hp[1] != -1}
        self.origins = {normal_origin(o) for o in origins}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self.check(scope, headers)
        if problem is not None:
            return await send_error(send, *problem)
        return await self.app(scope, receive, send)

    def check(self, scope, headers: dict[str, str]) -> tuple[int, str] | None:
        if "\0" in scope["path"] or b"%00" in scope.get("query_string", b"").lower():
            return 400, "NUL byte in the URL"
        listening, port = self.listening(scope)
        host = headers.get("host", "")
        if self.loopback and not self.host_ok(host, listening, port):
            return 400, (f"unknown Host header {host[:100]!r}: this server answers "
                         f"127.0.0.1:{port}, localhost:{port} and [::1]:{port} (name others "
                         "with --allow-host)")  # fmt: skip
        method = scope["method"]
        if method not in STATE_CHANGING:
            return None
        claimed = headers.get("origin")
        if claimed is None and "referer" in headers:
            claimed = origin_of(headers["referer"]) or "null"
        if claimed is not None and not self.origin_ok(claimed, scope, host):
            return 403, (f"cross-origin request refused: origin {claimed[:100]!r} is not this "
                         "server's (allow one with --allow-origin or --cors-origin)")  # fmt: skip
        if method != "POST" or "authorization" in headers or CSRF_HEADER.lower() in headers:
            return None
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype.startswith("multipart/"):
            return 403, (f"uploads need the header {CSRF_HEADER}: 1 (or an API key): a web "
                         "page of another site cannot send it")  # fmt: skip
        if ctype != "application/json" and not ctype.endswith("+json"):
            return 415, ("send Content-Type: application/json (a request without it could be "
                         f"a form of another website; or send {CSRF_HEADER}: 1)")  # fmt: skip
        return None

    def listening(self, scope) -> tuple[str | None, int]:
        """The address and port this server listens on (what uvicorn says, else Settings)."""
        server = scope.get("server") or (None, None)
        return server[0], server[1] or self.port

    def host_ok(self, host: str, listening: str | None, port: int) -> bool:
        hp = split_host(host, 80)
        if hp is None:
            return False
        name, p = hp
        if name in self.extra_any or hp in self.extra_exact:
            return True
        return p == port and (name in LOOPBACK_NAMES or name == (listening or "").lower())

    def origin_ok(self, origin: str, scope, host: str) -> bool:
        if origin_of(origin) is None:  # "null", or not a URL
            return False
        origin = normal_origin(origin)
        own = normal_origin(f"{scope.get('scheme', 'http')}://{host}") if host else None
        if origin == own or origin in self.origins:
            return True
        # a loopback server's own pages under another of its loopback names (the UI opened at
        # localhost:PORT, the request sent to 127.0.0.1:PORT) are still this machine's
        hp = split_host(origin.partition("://")[2], 80)
        return (
            self.loopback
            and hp is not None
            and hp in {(name, self.listening(scope)[1]) for name in LOOPBACK_NAMES}
        )


class BodyLimit:
    """ASGI middleware: 413 for request bodies over the limit (declared or streamed, chunked
    included). Bodies of `upload_paths` may take `upload_bytes`, every other `json_bytes`."""

    def __init__(self, app, *, json_bytes: int, upload_bytes: int, upload_paths: Iterable[str]):
        self.app, self.json_bytes, self.upload_bytes = app, json_bytes, upload_bytes
        self.upload_paths = frozenset(upload_paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        upload = scope["path"] in self.upload_paths
        limit = self.upload_bytes if upload else self.json_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._reject(send, upload)
        seen, started, rejected = 0, False, False

        async def limited():
            nonlocal seen, started, rejected
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    # answer now: whatever the app makes of the broken body (a parser's 400)
                    # is dropped below
                    if not started:
                        started = rejected = True
                        await self._reject(send, upload)
                    raise _TooLarge
            return msg

        async def tracking_send(msg):
            nonlocal started
            if rejected:
                return
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        with contextlib.suppress(_TooLarge):  # answered already (413)
            await self.app(scope, limited, tracking_send)

    async def _reject(self, send, upload: bool):
        if upload:
            what = f"{self.upload_bytes / 2**20:g} MiB, this server's limit for uploads "
            what += "(--max-upload-mb)"
        else:
            what = f"{self.json_bytes / 2**10:g} KiB, this server's limit for JSON (--max-json-kb)"
        await send_error(send, 413, f"request body over {what}")


class _TooLarge(Exception):
    pass
