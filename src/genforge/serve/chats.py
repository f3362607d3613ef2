"""Chat conversations kept by id in the service's SQLite file (table `chats`), and the
pretrained chat models a server was given (`--chat-model DIR`).

A conversation belongs to the caller who started it (the API key's name; "local" without
keys): another caller asking for it gets the same answer as for an unknown id.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from genforge.core.errors import GenforgeError
from genforge.safety.provenance import connect, init_schema

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    options TEXT NOT NULL,
    turns TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chats_owner ON chats(owner);
"""

SourceKind = Literal["run", "model"]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass
class Conversation:
    """One conversation: with a text run (`kind` "run") or a pretrained chat model ("model")."""

    id: str
    owner: str
    kind: SourceKind
    source: str  # the run's or the model's name
    options: dict[str, Any]  # decoding options given so far (later turns may change them)
    turns: list[dict[str, Any]] = field(default_factory=list)  # {user, bot, output, ...}
    created: str = ""
    updated: str = ""

    def history(self) -> list[tuple[str, str]]:
        return [(t["user"], t["bot"]) for t in self.turns]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("owner")
        d["run" if self.kind == "run" else "model"] = d.pop("source")
        return d


def _conversation(row: Any) -> Conversation:
    d = dict(row)
    d["options"], d["turns"] = json.loads(d["options"]), json.loads(d["turns"])
    return Conversation(**d)


class ChatStore:
    """The `chats` table (created on first use, idempotently, in the service's database)."""

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        init_schema(self.db_path, _SCHEMA)

    def create(self, owner: str, kind: SourceKind, source: str, options: dict) -> Conversation:
        now = _now()
        conv = Conversation(secrets.token_hex(8), owner, kind, source, options, [], now, now)
        with connect(self.db_path) as con:
            con.execute("INSERT INTO chats VALUES (?,?,?,?,?,?,?,?)",
                        (conv.id, owner, kind, source, json.dumps(options), "[]", now, now))  # fmt: skip
        return conv

    def get(self, cid: str, owner: str) -> Conversation | None:
        """The conversation `cid` of `owner`; None when there is none (or it is another's)."""
        with connect(self.db_path, write=False) as con:
            row = con.execute("SELECT * FROM chats WHERE id=? AND owner=?", (cid, owner)).fetchone()
        return _conversation(row) if row else None

    def save(self, conv: Conversation) -> None:
        """Write the conversation's turns and options (its id and owner never change)."""
        conv.updated = _now()
        with connect(self.db_path) as con:
            con.execute("UPDATE chats SET options=?, turns=?, updated=? WHERE id=? AND owner=?",
                        (json.dumps(conv.options), json.dumps(conv.turns), conv.updated,
                         conv.id, conv.owner))  # fmt: skip

    def delete(self, cid: str, owner: str) -> bool:
        with connect(self.db_path) as con:
            cur = con.execute("DELETE FROM chats WHERE id=? AND owner=?", (cid, owner))
        return cur.rowcount > 0


_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class ChatModels:
    """The pretrained chat model folders a server was given, by folder name; each is loaded on
    first use and kept (with the lock its decoding holds: sampling uses torch's global RNG)."""

    def __init__(self, folders: tuple[Path, ...], device: str = "cpu"):
        self.folders: dict[str, Path] = {}
        for f in folders:
            path = Path(f).expanduser().resolve()
            if not path.is_dir():
                raise GenforgeError(f"--chat-model {f}: no such folder")
            if not _MODEL_NAME.match(path.name) or path.name in self.folders:
                raise GenforgeError(f"--chat-model {f}: the folder name must be unique and "
                                    "made of letters, digits, '.', '_', '-'")  # fmt: skip
            self.folders[path.name] = path
        self.device = device
        self._loaded: dict[str, Any] = {}
        self._guard = threading.Lock()
        self.lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self.folders)

    def get(self, name: str) -> Any:
        """The loaded PretrainedChat `name` (blocking: loads it the first time)."""
        from genforge.generate.chat import PretrainedChat

        with self._guard:
            if name not in self._loaded:
                self._loaded[name] = PretrainedChat(self.folders[name], self.device)
            return self._loaded[name]
