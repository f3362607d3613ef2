"""API keys (stored salted and hashed) and per-key rate limits.

The keys file is JSON: {"keys": [{"name", "salt", "hash", "created"}]}. A key is shown once, at
creation; only sha256(salt + key) is kept, so a leaked file does not leak keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from pathlib import Path

from genforge.core.errors import GenforgeError
from genforge.core.io import write_json
from genforge.core.run import runs_root

_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def default_keys_path(runs_dir: str | Path | None = None) -> Path:
    return runs_root(runs_dir) / ".serve" / "keys.json"


class KeysFileError(GenforgeError):
    """The keys file cannot be read (the CLI shows its path; the server logs it and tells
    clients only "server misconfigured")."""


def _digest(salt: str, key: str) -> str:
    return hashlib.sha256((salt + key).encode()).hexdigest()


class KeyStore:
    """The API keys file; `verify(token)` returns the key's name or None."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._cache: tuple[tuple[int, int, int], list[dict]] | None = None

    def _load(self) -> list[dict]:
        """The keys, parsed once per file version (every request verifies against them; a
        `genforge keys revoke` replaces the file, which changes its version at once)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return []
        version = (st.st_mtime_ns, st.st_size, st.st_ino)
        if self._cache is None or self._cache[0] != version:
            try:
                keys = list(json.loads(self.path.read_text())["keys"])
            except (ValueError, KeyError, TypeError):
                raise KeysFileError(f"{self.path} is not a genforge keys file") from None
            self._cache = (version, keys)
        return list(self._cache[1])

    def names(self) -> list[str]:
        return [k["name"] for k in self._load()]

    def __len__(self) -> int:
        return len(self._load())

    def create(self, name: str) -> str:
        """Add key `name` and return the secret (shown once)."""
        if not _KEY_NAME.match(name):
            raise GenforgeError(f"invalid key name '{name}': use letters, digits, '.', '_', '-'")
        keys = self._load()
        if any(k["name"] == name for k in keys):
            raise GenforgeError(f"key '{name}' exists; revoke it first")
        secret = "gf_" + secrets.token_urlsafe(24)
        salt = secrets.token_hex(16)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        keys.append({"name": name, "salt": salt, "hash": _digest(salt, secret), "created": now})
        write_json(self.path, {"keys": keys})
        self.path.chmod(0o600)
        return secret

    def revoke(self, name: str) -> None:
        keys = self._load()
        kept = [k for k in keys if k["name"] != name]
        if len(kept) == len(keys):
            raise GenforgeError(f"no key '{name}'; keys: {', '.join(self.names()) or 'none'}")
        write_json(self.path, {"keys": kept})

    def verify(self, token: str) -> str | None:
        found = None
        for k in self._load():  # compare against every key: time does not tell which matched
            if hmac.compare_digest(_digest(k["salt"], token), k["hash"]):
                found = k["name"]
        return found


class RateLimiter:
    """Token bucket per caller: `rate_per_min` sustained, `burst` at once."""

    def __init__(self, rate_per_min: int, burst: int):
        self.rate = rate_per_min / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, who: str) -> float:
        """0 if the request may go (it takes a token), else the seconds to wait."""
        return self._take(who, take=True)

    def peek(self, who: str) -> float:
        """What `allow` would answer, without taking a token."""
        return self._take(who, take=False)

    def _take(self, who: str, take: bool) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(who, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if len(self._buckets) > 100_000:  # forget full buckets (many client addresses)
                self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.burst}
            if tokens >= 1:
                self._buckets[who] = (tokens - 1 if take else tokens, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            return (1 - tokens) / self.rate if self.rate > 0 else 60.0
