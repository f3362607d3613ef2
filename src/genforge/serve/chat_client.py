"""A chat session held by a running `genforge serve` (POST /v1/chat), for `genforge chat RUN
--server URL`: the same interface as `genforge.generate.chat.ChatSession` (reply, reset, save,
history), the reply streamed as it is decoded (server-sent events). Standard library only.

session = RemoteChatSession("http://127.0.0.1:8000", "notes-gpt", api_key=None)
session.reply("hello", stream=print)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.generate.chat import Reply


def sse_events(lines: Iterator[bytes]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a text/event-stream read line by line."""
    kind, data = "message", []
    for raw in lines:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield kind, json.loads("\n".join(data))
            kind, data = "message", []
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:
        yield kind, json.loads("\n".join(data))


class RemoteChatSession:
    """One conversation with `run` on the server at `url` (a new one after `reset()`).

    Args:
        url: the server, e.g. http://127.0.0.1:8000.
        run: a text run on that server.
        api_key: the server's API key, when it has keys.
        options: decoding options of /v1/chat (max_new_tokens, temperature, top_p, seed).
    """

    def __init__(self, url: str, run: str, api_key: str | None = None, **options: Any):
        self.url, self.run, self.api_key = url.rstrip("/"), run, api_key
        self.options = options
        self.conversation: str | None = None
        self.history: list[tuple[str, str]] = []

    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            return urllib.request.urlopen(req, timeout=300)
        except urllib.error.HTTPError as e:
            try:
                detail = json.loads(e.read()).get("detail", e.reason)
            except ValueError:
                detail = e.reason
            raise GenforgeError(f"{self.url}: {e.code} {detail}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise GenforgeError(f"cannot reach the server at {self.url}: {reason}") from None

    def reply(self, message: str, stream: Callable[[str], None] | None = None) -> Reply:
        """The server's reply to `message`; `stream` gets its pieces as they arrive."""
        body = {"run": self.run, "message": message, "conversation": self.conversation,
                "stream": True, **self.options}  # fmt: skip
        if self.conversation is not None:
            body.pop("run")
        with self._request("POST", "/v1/chat", body) as res:
            for kind, data in sse_events(res):
                if kind == "token" and stream is not None:
                    stream(data["text"])
                elif kind == "error":
                    raise GenforgeError(f"{self.url}: {data.get('detail')}")
                elif kind == "done":
                    self.conversation = data["conversation"]
                    self.history.append((message, data["reply"]))
                    return Reply(data["reply"], "generate")
        raise GenforgeError(f"{self.url}: the reply ended without a done event")

    def reset(self) -> None:
        """Start a new conversation (the old one stays on the server)."""
        self.conversation = None
        self.history.clear()

    def save(self, path: str | Path) -> Path:
        from genforge.core.io import write_json

        write_json(path, {"run": self.run, "server": self.url, "conversation": self.conversation,
                          "turns": [{"user": u, "bot": b} for u, b in self.history]})  # fmt: skip
        return Path(path)
