"""Provenance: one SQLite record per generated output (who, when, run, parameters, hashes).

The perceptual hash is the classic DCT pHash (Zauner 2010, as in `imagehash.phash`): the image
in grayscale at 32x32, its 2-D DCT, the 8x8 lowest frequencies thresholded at their median ->
64 bits. Near-identical images (re-encoded, resized) land a few bits apart, so an output too
small to carry a watermark can still be found by nearest-hash lookup.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from genforge.core.images import hamming
from genforge.core.run import runs_root

_local = threading.local()
ID_BYTES = 4  # output ids are 32 bits (8 hex chars): short enough to watermark robustly
STATE_DIR = ".serve"  # under the runs dir: the SQLite state (provenance, jobs, datasets)
DB_NAME = "genforge.sqlite"


def default_state_dir(runs_dir: str | Path | None = None) -> Path:
    """`<runs>/.serve`: where the provenance database lives unless told otherwise."""
    return runs_root(runs_dir).resolve() / STATE_DIR


def default_db_path(
    runs_dir: str | Path | None = None, state_dir: str | Path | None = None
) -> Path:
    """The provenance database, `<state>/genforge.sqlite` with `<state>` = `<runs>/.serve` by
    default: the one file `genforge serve`, `genforge watermark detect` and the recipes that mark
    their outputs all share."""
    return Path(state_dir or default_state_dir(runs_dir)) / DB_NAME


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outputs (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    who TEXT NOT NULL,
    run TEXT NOT NULL,
    modality TEXT NOT NULL,
    params TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    phash TEXT,
    watermarked INTEGER NOT NULL,
    path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outputs_sha ON outputs(sha256);
CREATE INDEX IF NOT EXISTS outputs_run ON outputs(run);
"""


_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def _write_lock(key: str) -> threading.Lock:
    with _write_locks_guard:
        return _write_locks.setdefault(key, threading.Lock())


@contextmanager
def connect(path: str | Path, write: bool = True) -> Iterator[sqlite3.Connection]:
    """One transaction (committed on success) on this thread's connection to `path`.

    Connections are kept per thread (opening one costs more than a small insert); WAL lets
    readers run beside the one writer. `write=False` is a read transaction: it takes no lock.
    Writers of one process queue on a Python lock first: SQLite's own busy handler makes a
    waiting writer sleep in steps of milliseconds, which a busy server would pay on every
    contended insert; other processes still wait up to 30 s for SQLite's lock.
    """
    key = str(path)
    cons = _local.__dict__.setdefault("cons", {})
    con = cons.get(key)
    if con is None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(key, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash of the process loses nothing
        cons[key] = con
    if con.in_transaction:  # nested use on one thread joins the open transaction
        yield con
        return
    lock = _write_lock(key) if write else None
    if lock is not None:
        lock.acquire()
    try:
        con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        if lock is not None:
            lock.release()


def init_schema(path: str | Path, schema: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), timeout=30)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(schema)
    finally:
        con.close()


@dataclass
class Record:
    id: str
    created: str
    who: str
    run: str
    modality: str
    params: dict[str, Any]
    sha256: str
    phash: str | None
    watermarked: bool
    path: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _record(row: sqlite3.Row) -> Record:
    d = dict(row)
    d["params"] = json.loads(d["params"])
    d["watermarked"] = bool(d["watermarked"])
    return Record(**d)


class ProvenanceStore:
    """The `outputs` table of the server's SQLite file."""

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        init_schema(self.db_path, _SCHEMA)

    def new_id(self) -> str:
        """A random id not yet in the store (ids only ever enter through `add_many`, which
        would fail loudly on the rare collision with an id handed out at the same moment)."""
        with connect(self.db_path, write=False) as con:
            while True:
                oid = secrets.token_hex(ID_BYTES)
                if not con.execute("SELECT 1 FROM outputs WHERE id=?", (oid,)).fetchone():
                    return oid

    def record(
        self,
        oid: str,
        *,
        who: str,
        run: str,
        modality: str,
        params: dict[str, Any],
        content: bytes,
        phash_hex: str | None,
        watermarked: bool,
        path: str,
    ) -> Record:
        rec = Record(
            id=oid,
            created=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            who=who,
            run=run,
            modality=modality,
            params=params,
            sha256=hashlib.sha256(content).hexdigest(),
            phash=phash_hex,
            watermarked=watermarked,
            path=path,
        )
        return rec

    def add(self, oid: str, **fields: Any) -> Record:
        rec = self.record(oid, **fields)
        self.add_many([rec])
        return rec

    def add_many(self, records: list[Record]) -> None:
        with connect(self.db_path) as con:
            con.executemany(
                "INSERT INTO outputs VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (r.id, r.created, r.who, r.run, r.modality, json.dumps(r.params, sort_keys=True),
                     r.sha256, r.phash, int(r.watermarked), r.path)
                    for r in records
                ],
            )  # fmt: skip

    def get(self, oid: str) -> Record | None:
        with connect(self.db_path, write=False) as con:
            row = con.execute("SELECT * FROM outputs WHERE id=?", (oid,)).fetchone()
        return _record(row) if row else None

    def by_sha256(self, digest: str) -> Record | None:
        with connect(self.db_path, write=False) as con:
            row = con.execute("SELECT * FROM outputs WHERE sha256=?", (digest,)).fetchone()
        return _record(row) if row else None

    def nearest_phash(self, h: str, max_distance: int) -> tuple[Record, int, int] | None:
        """The record whose pHash is closest to `h` within `max_distance` bits, its distance,
        and how many records lie that close (more than one means the match is ambiguous)."""
        with connect(self.db_path, write=False) as con:
            rows = con.execute("SELECT * FROM outputs WHERE phash IS NOT NULL").fetchall()
        scored = sorted(((hamming(h, r["phash"]), r) for r in rows), key=lambda t: t[0])
        close = [t for t in scored if t[0] <= max_distance]
        if not close:
            return None
        best_d = close[0][0]
        ties = sum(1 for d, _ in close if d == best_d)
        return _record(close[0][1]), best_d, ties

    def search(
        self, q: str | None = None, run: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Record], int]:
        """Newest first (insertion order breaks ties of the same millisecond); `q` matches id,
        run, who or any parameter text."""
        where, args = [], []
        if run:
            where.append("run = ?")
            args.append(run)
        if q:
            like = f"%{q}%"
            where.append("(id LIKE ? OR run LIKE ? OR who LIKE ? OR params LIKE ?)")
            args += [like] * 4
        sql_where = f"WHERE {' AND '.join(where)}" if where else ""
        with connect(self.db_path, write=False) as con:
            total = con.execute(f"SELECT COUNT(*) FROM outputs {sql_where}", args).fetchone()[0]
            rows = con.execute(
                f"SELECT * FROM outputs {sql_where} ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return [_record(r) for r in rows], total

    def watermarking_runs(self, modality: str, limit: int = 5) -> list[str]:
        """Runs that wrote watermarked outputs of `modality`, the latest writer first."""
        with connect(self.db_path, write=False) as con:
            rows = con.execute(
                "SELECT run, MAX(created) AS last FROM outputs WHERE modality=? AND watermarked=1 "
                "GROUP BY run ORDER BY last DESC LIMIT ?",
                (modality, limit),
            ).fetchall()
        return [r["run"] for r in rows]

    def count(self) -> int:
        with connect(self.db_path, write=False) as con:
            return con.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]
