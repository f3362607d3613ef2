"""People's verdicts on generated outputs: ratings beside the provenance records.

A rating belongs to one output (by its provenance id, and so to the run, step, seed and
parameters that made it) and one rater (the API key's name, or "local" without keys). A rater
has at most one rating per output: rating again replaces it. Ratings live in the `ratings`
table of the same SQLite file as the `outputs` table, so they survive restarts with it and a
rating can never point at an output the store does not know.

`approval(ratings)` turns ratings into the yes/no label the learned gate fits: a thumb decides;
without one a score of 4-5 approves and 1-2 rejects (3 says nothing); several raters vote.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.safety.provenance import ProvenanceStore, Record, connect, init_schema

THUMBS = ("up", "down")
SCORES = range(1, 6)
MAX_TAGS = 20
MAX_TAG_CHARS = 40
MAX_NOTE_CHARS = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ratings (
    output_id TEXT NOT NULL,
    rater TEXT NOT NULL,
    run TEXT NOT NULL,
    thumb TEXT,
    score INTEGER,
    tags TEXT NOT NULL,
    note TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (output_id, rater)
);
CREATE INDEX IF NOT EXISTS ratings_run ON ratings(run);
"""


class UnknownOutput(GenforgeError):
    """A rating for an output id the provenance store does not hold."""


@dataclass
class Rating:
    """What one rater said about one output; every field optional but one."""

    thumb: str | None = None
    score: int | None = None
    tags: list[str] = field(default_factory=list)
    note: str = ""

    def __post_init__(self) -> None:
        if self.thumb is not None and self.thumb not in THUMBS:
            raise GenforgeError(f"thumb must be 'up' or 'down', got {self.thumb!r}")
        if self.score is not None and (isinstance(self.score, bool) or self.score not in SCORES):
            raise GenforgeError(f"score must be an integer from 1 to 5, got {self.score!r}")
        tags = [str(t).strip() for t in self.tags]
        if len(tags) > MAX_TAGS or any(not t or len(t) > MAX_TAG_CHARS for t in tags):
            raise GenforgeError(f"tags: at most {MAX_TAGS}, each 1-{MAX_TAG_CHARS} characters")
        self.tags = sorted(set(tags))
        self.note = self.note or ""
        if len(self.note) > MAX_NOTE_CHARS:
            raise GenforgeError(f"note: at most {MAX_NOTE_CHARS} characters")
        if self.thumb is None and self.score is None and not self.tags and not self.note:
            raise GenforgeError("a rating needs at least one of thumb, score, tags or note")

    @property
    def approves(self) -> bool | None:
        """Up or down as the gate reads it: the thumb, else a score of 4-5 (yes) or 1-2 (no)."""
        if self.thumb is not None:
            return self.thumb == "up"
        if self.score is not None and self.score != 3:
            return self.score >= 4
        return None


@dataclass
class StoredRating:
    output_id: str
    rater: str
    run: str
    rating: Rating
    updated: str

    def to_dict(self) -> dict[str, Any]:
        return {"output_id": self.output_id, "rater": self.rater, "run": self.run,
                "updated": self.updated, **asdict(self.rating)}  # fmt: skip


def _stored(row: sqlite3.Row) -> StoredRating:
    rating = Rating(thumb=row["thumb"], score=row["score"], tags=json.loads(row["tags"]),
                    note=row["note"])  # fmt: skip
    return StoredRating(row["output_id"], row["rater"], row["run"], rating, row["updated"])


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class FeedbackStore:
    """The `ratings` table, next to the provenance store's `outputs` in one SQLite file."""

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        self.provenance = ProvenanceStore(self.db_path)
        init_schema(self.db_path, _SCHEMA)

    def rate(self, output_id: str, rater: str, rating: Rating) -> StoredRating:
        """Record (or replace) `rater`'s rating of `output_id`; UnknownOutput if no such output."""
        with connect(self.db_path) as con:
            row = con.execute("SELECT run FROM outputs WHERE id=?", (output_id,)).fetchone()
            if row is None:
                raise UnknownOutput(f"no output '{output_id}'")
            stored = StoredRating(output_id, rater, row["run"], rating, _now())
            self._upsert(con, stored)
        return stored

    @staticmethod
    def _upsert(con: sqlite3.Connection, s: StoredRating) -> None:
        r = s.rating
        con.execute(
            "INSERT INTO ratings VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(output_id, rater) DO UPDATE "
            "SET thumb=excluded.thumb, score=excluded.score, tags=excluded.tags, "
            "note=excluded.note, updated=excluded.updated, run=excluded.run",
            (s.output_id, s.rater, s.run, r.thumb, r.score, json.dumps(r.tags), r.note, s.updated),
        )

    def of_output(self, output_id: str) -> list[StoredRating]:
        with connect(self.db_path, write=False) as con:
            rows = con.execute(
                "SELECT * FROM ratings WHERE output_id=? ORDER BY rater", (output_id,)
            ).fetchall()
        return [_stored(r) for r in rows]

    def by_rater(self, output_ids: list[str], rater: str) -> dict[str, StoredRating]:
        """`rater`'s ratings of the given outputs (those they rated), by output id."""
        if not output_ids:
            return {}
        marks = ",".join("?" * len(output_ids))
        with connect(self.db_path, write=False) as con:
            rows = con.execute(
                f"SELECT * FROM ratings WHERE rater=? AND output_id IN ({marks})",
                [rater, *output_ids],
            ).fetchall()
        return {r["output_id"]: _stored(r) for r in rows}

    def for_run(
        self,
        run: str,
        *,
        thumb: str | None = None,
        min_score: int | None = None,
        max_score: int | None = None,
        tag: str | None = None,
        rater: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[StoredRating], int]:
        """The run's ratings matching every filter given, oldest first, and how many match."""
        where, args = ["run = ?"], [run]
        for sql, value in (("thumb = ?", thumb), ("score >= ?", min_score),
                           ("score <= ?", max_score), ("rater = ?", rater)):  # fmt: skip
            if value is not None:
                where.append(sql)
                args.append(value)
        if tag is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(ratings.tags) WHERE value = ?)")
            args.append(tag)
        sql_where = " AND ".join(where)
        with connect(self.db_path, write=False) as con:
            total = con.execute(f"SELECT COUNT(*) FROM ratings WHERE {sql_where}", args).fetchone()
            rows = con.execute(
                f"SELECT * FROM ratings WHERE {sql_where} ORDER BY updated, output_id, rater "
                "LIMIT ? OFFSET ?",
                [*args, -1 if limit is None else limit, offset],
            ).fetchall()
        return [_stored(r) for r in rows], total[0]

    def summary(self, run: str) -> dict[str, Any]:
        """Counts, mean score, raters and agreement between raters for one run."""
        ratings, total = self.for_run(run)
        labels = approval(ratings)
        scores = [s.rating.score for s in ratings if s.rating.score is not None]
        return {
            "run": run,
            "ratings": total,
            "outputs": len({s.output_id for s in ratings}),
            "raters": sorted({s.rater for s in ratings}),
            "up": sum(1 for s in ratings if s.rating.thumb == "up"),
            "down": sum(1 for s in ratings if s.rating.thumb == "down"),
            "mean_score": sum(scores) / len(scores) if scores else None,
            "approved": sum(labels.values()),
            "rejected": len(labels) - sum(labels.values()),
            "agreement": agreement(ratings),
        }

    # -- export and import: ratings collected elsewhere come in with their provenance ------

    def export(self, run: str) -> list[dict[str, Any]]:
        """One JSON-able row per rating: who rated what, and the output's provenance record
        (run, parameters, seed, hashes), so another store can import it whole."""
        ratings, _ = self.for_run(run)
        rows = []
        for s in ratings:
            rec = self.provenance.get(s.output_id)
            rows.append({**s.to_dict(), "output": rec.to_dict() if rec else None})
        return rows

    def import_rows(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Bring exported rows in: a missing output is added from the row's provenance record;
        a row without one for an unknown output, or with a bad rating, is skipped and listed.
        Existing ratings of the same rater and output are replaced by the imported ones."""
        added_outputs, imported, skipped = 0, 0, []
        with connect(self.db_path) as con:
            for i, row in enumerate(rows, 1):
                try:
                    oid, rater = str(row["output_id"]), str(row["rater"])
                    rating = Rating(thumb=row.get("thumb"), score=row.get("score"),
                                    tags=list(row.get("tags") or []), note=row.get("note") or "")  # fmt: skip
                except (KeyError, TypeError, GenforgeError) as e:
                    skipped.append(
                        f"row {i}: {e if isinstance(e, GenforgeError) else f'missing {e}'}"
                    )
                    continue
                found = con.execute("SELECT run FROM outputs WHERE id=?", (oid,)).fetchone()
                if found is None:
                    rec = row.get("output")
                    if not isinstance(rec, dict) or rec.get("id") != oid:
                        skipped.append(f"row {i}: unknown output '{oid}' and no provenance record")
                        continue
                    try:
                        self.provenance.add_many([Record(**rec)])
                    except (TypeError, sqlite3.Error) as e:
                        skipped.append(f"row {i}: bad provenance record ({e})")
                        continue
                    added_outputs += 1
                    run = str(rec["run"])
                else:
                    run = found["run"]
                self._upsert(con, StoredRating(oid, rater, run, rating,
                                               str(row.get("updated") or _now())))  # fmt: skip
                imported += 1
        return {"imported": imported, "added_outputs": added_outputs, "skipped": skipped}


def votes(ratings: list[StoredRating]) -> dict[str, list[bool]]:
    """Output id -> the up/down verdicts of its raters (ratings that decide nothing left out)."""
    out: dict[str, list[bool]] = defaultdict(list)
    for s in ratings:
        a = s.rating.approves
        if a is not None:
            out[s.output_id].append(a)
    return out


def approval(ratings: list[StoredRating]) -> dict[str, bool]:
    """Output id -> approved, by majority of the raters who said up or down (ties say nothing,
    as do ratings with neither a thumb nor a decisive score)."""
    out = {}
    for oid, v in votes(ratings).items():
        ups = sum(v)
        if 2 * ups != len(v):
            out[oid] = 2 * ups > len(v)
    return out


def agreement(ratings: list[StoredRating]) -> dict[str, Any] | None:
    """How often raters agree on up/down over outputs two or more of them judged: the raw
    share of agreeing rater pairs and Fleiss' kappa (agreement beyond chance; 1 = always,
    0 = no better than chance). None when no output has two verdicts."""
    shared = [v for v in votes(ratings).values() if len(v) >= 2]
    if not shared:
        return None
    pair_agree = pairs = 0
    p_items = []
    ups = total = 0
    for v in shared:
        n, u = len(v), sum(v)
        d = n - u
        agree = u * (u - 1) // 2 + d * (d - 1) // 2
        pair_agree += agree
        pairs += n * (n - 1) // 2
        p_items.append((u * (u - 1) + d * (d - 1)) / (n * (n - 1)))
        ups += u
        total += n
    p_bar = sum(p_items) / len(p_items)
    p_up = ups / total
    p_e = p_up**2 + (1 - p_up) ** 2
    kappa = 1.0 if p_e == 1 else (p_bar - p_e) / (1 - p_e)
    return {"outputs": len(shared), "pairs_agreeing": pair_agree / pairs, "fleiss_kappa": kappa}
