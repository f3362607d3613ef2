"""Datasets the server knows: the embedded sets, registered server folders, uploaded zips of
images, and uploaded text (.txt, .jsonl) or table (.csv) files.

Zip extraction is the dangerous part: every member path is checked (no absolute paths, no
`..`, no symlinks: zip-slip), the number of files, the bytes really written (declared sizes
can lie) and each member's compression ratio are capped (zip bombs), and every image's pixel
count is read from its header before it is kept. A text or CSV upload is stored under a fixed
name (`data.txt`, `data.jsonl`, `data.csv`: the client's file name never becomes a path), must
be UTF-8, and is parsed once (every .jsonl line, the CSV header and rows) before it is kept.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
import stat
import threading
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

from genforge.core.errors import GenforgeError
from genforge.data import EMBEDDED, IMAGE_EXTENSIONS
from genforge.safety.provenance import connect, init_schema

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    who TEXT NOT NULL,
    created TEXT NOT NULL
);
"""


class LimitError(GenforgeError):
    """A request over one of the server's limits (HTTP 413)."""


@dataclass
class Dataset:
    name: str
    kind: str  # embedded | folder | upload
    path: str | None
    who: str | None = None
    created: str | None = None

    @property
    def source(self) -> str:
        """What `genforge train --data` takes."""
        return self.path if self.path else self.name


class DatasetStore:
    def __init__(self, db_path: Path, uploads_dir: Path):
        self.db_path, self.uploads_dir = db_path, uploads_dir
        init_schema(db_path, _SCHEMA)
        # one upload at a time: each checks the space left under the server's quota
        self.upload_lock = threading.Lock()

    def all(self) -> list[Dataset]:
        from genforge.data.modalities import MODALITIES

        embedded = dict.fromkeys([*EMBEDDED, *(m.default_data for m in MODALITIES.values())])
        out = [Dataset(name, "embedded", None) for name in embedded]
        with connect(self.db_path) as con:
            rows = con.execute("SELECT * FROM datasets ORDER BY name").fetchall()
        return out + [Dataset(**dict(r)) for r in rows]

    def get(self, name: str) -> Dataset | None:
        return next((d for d in self.all() if d.name == name), None)

    def add(self, name: str, kind: str, path: Path, who: str) -> Dataset:
        if self.get(name) is not None:
            raise GenforgeError(f"dataset '{name}' exists; delete it first or pick another name")
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with connect(self.db_path) as con:
            con.execute(
                "INSERT INTO datasets VALUES (?,?,?,?,?)", (name, kind, str(path), who, now)
            )
        return self.get(name)  # type: ignore[return-value]

    def delete(self, name: str) -> None:
        ds = self.get(name)
        if ds is None or ds.kind == "embedded":
            raise GenforgeError(f"no deletable dataset '{name}'")
        with connect(self.db_path) as con:
            con.execute("DELETE FROM datasets WHERE name=?", (name,))
        if ds.kind == "upload" and ds.path:
            path = Path(ds.path)
            folder = path.parent if path.suffix in FILE_UPLOADS else path  # data.csv's folder
            if folder.resolve().is_relative_to(self.uploads_dir.resolve()):
                shutil.rmtree(folder, ignore_errors=True)


def _safe_member(name: str) -> PurePosixPath:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise GenforgeError(f"unsafe path in zip: {name!r}")
    return p


def extract_images_zip(
    zip_path: Path,
    dest: Path,
    *,
    max_files: int,
    max_bytes: int,
    max_pixels: int,
    max_ratio: int,
    over_size: str = "",
) -> dict[str, int]:
    """Extract the images of a zip into `dest` (created); raise before writing anything unsafe,
    and leave nothing behind when any check fails on the way.

    Args:
        max_bytes: the most bytes written (declared sizes are checked first, then the bytes
            really written are counted).
        max_ratio: the most any member may expand (uncompressed / compressed), whatever its
            size: many members just under a size threshold make a bomb too.
        over_size: added to the error over `max_bytes` (what that limit is).

    Returns:
        counts: {"images": readable images kept, "skipped": members that are not images (or
        hidden) and images that do not decode (deleted: nothing unreadable stays on disk)}.
    """
    try:
        zf = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile:
        raise GenforgeError("the upload is not a zip file") from None
    with zf:
        members = [i for i in zf.infolist() if not i.is_dir()]
        _check_members(members, max_files, max_bytes, max_ratio, over_size)
        dest.mkdir(parents=True, exist_ok=False)
        try:
            counts = _extract(zf, members, dest.resolve(), max_bytes, max_pixels, max_ratio,
                              over_size)  # fmt: skip
        except (zipfile.BadZipFile, EOFError, zlib.error) as e:
            shutil.rmtree(dest, ignore_errors=True)
            raise GenforgeError(f"corrupt zip: {e}") from None
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    return counts


def _bomb(name: str, size: int, compressed: int) -> LimitError:
    return LimitError(f"{name!r} expands {size} bytes from {compressed}: refusing a likely zip "
                      "bomb")  # fmt: skip


def _check_members(members: list[zipfile.ZipInfo], max_files: int, max_bytes: int,
                   max_ratio: int, over_size: str) -> None:  # fmt: skip
    """Every member's path, type and declared expansion, before anything is written."""
    if len(members) > max_files:
        raise LimitError(f"the zip holds {len(members)} files; the limit is {max_files}")
    for info in members:
        _safe_member(info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise GenforgeError(f"symlink in zip: {info.filename!r}")
        if info.file_size > max_ratio * max(info.compress_size, 1):
            raise _bomb(info.filename, info.file_size, info.compress_size)
    if sum(i.file_size for i in members) > max_bytes:
        raise LimitError(f"the zip expands to more than {max_bytes / 2**20:.1f} MiB{over_size}")


def _extract(zf: zipfile.ZipFile, members: list[zipfile.ZipInfo], root: Path, max_bytes: int,
             max_pixels: int, max_ratio: int, over_size: str) -> dict[str, int]:  # fmt: skip
    """Write the image members under `root`, counting the bytes really written (declared
    sizes can lie) overall and per member; an image that does not decode is deleted."""
    written, kept, skipped = 0, 0, 0
    for info in members:
        rel = _safe_member(info.filename)
        hidden = any(part.startswith((".", "__MACOSX")) for part in rel.parts)
        if hidden or rel.suffix.lower() not in IMAGE_EXTENSIONS:
            skipped += 1
            continue
        target = (root / Path(*rel.parts)).resolve()
        if not target.is_relative_to(root):
            raise GenforgeError(f"unsafe path in zip: {info.filename!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        mine, cap = 0, max_ratio * max(info.compress_size, 1)
        with zf.open(info) as src, open(target, "wb") as out:
            while chunk := src.read(2**16):
                written, mine = written + len(chunk), mine + len(chunk)
                if written > max_bytes:
                    raise LimitError(
                        f"the zip expands to more than {max_bytes / 2**20:.1f} MiB{over_size}"
                    )
                if mine > cap:
                    raise _bomb(info.filename, mine, info.compress_size)
                out.write(chunk)
        if _check_pixels(target, rel, max_pixels):
            kept += 1
        else:
            target.unlink()
            skipped += 1
    if kept == 0:
        raise GenforgeError(
            f"the zip holds no readable image ({', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    return {"images": kept, "skipped": skipped}


def _check_pixels(path: Path, rel: PurePosixPath, max_pixels: int) -> bool:
    """Whether `path` is a readable image (its header); LimitError over `max_pixels`."""
    try:
        with Image.open(path) as im:  # reads the header only
            w, h = im.size
    except (OSError, Image.DecompressionBombError):
        return False
    if w * h > max_pixels:
        raise LimitError(f"{rel} has {w}x{h} pixels; the limit is {max_pixels}")
    return True


def folder_bytes(folder: Path) -> int:
    """The bytes of the files under `folder` (0 when it does not exist)."""
    total, stack = 0, [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                stack.append(Path(e.path))
            elif e.is_file(follow_symlinks=False):
                total += e.stat(follow_symlinks=False).st_size
    return total


# -- text and table files -------------------------------------------------------------------

FILE_UPLOADS = {".txt": "text", ".jsonl": "text", ".csv": "table"}  # suffix -> what it feeds


def upload_kind(filename: str | None) -> str:
    """ "zip", or the suffix of an accepted text/table file; anything else is refused."""
    suffix = PurePosixPath((filename or "").replace("\\", "/")).suffix.lower()
    if suffix == ".zip":
        return "zip"
    if suffix in FILE_UPLOADS:
        return suffix
    raise GenforgeError(
        f"upload a .zip of images, a .txt or .jsonl text file, or a .csv table; got {filename!r}"
    )


PREVIEW_COLUMNS = 50  # columns a CSV report shows (the rest are counted)
PREVIEW_CHARS = 200  # characters of a CSV cell or a .jsonl field name a report shows


def save_data_file(src, suffix: str, dest: Path, *, max_bytes: int, max_columns: int,
                   over_size: str = "") -> Path:  # fmt: skip
    """Copy an uploaded text/CSV file to `dest/data<suffix>` after checking it parses.

    Args:
        src: a binary file object (the upload).
        suffix: ".txt", ".jsonl" or ".csv".
        max_bytes: the largest file kept (LimitError over it).
        max_columns: the widest CSV kept (LimitError over it).
        over_size: added to the error over `max_bytes` (what that limit is).
    """
    raw = src.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise LimitError(f"the file is over {max_bytes / 2**20:.1f} MiB{over_size}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise GenforgeError(f"the file is not UTF-8 text (byte {e.start})") from None
    file_report(text, suffix, max_columns=max_columns)  # raises on a file training can't read
    dest.mkdir(parents=True, exist_ok=False)
    path = dest / f"data{suffix}"
    path.write_text(text, encoding="utf-8")
    return path


def file_report(text: str, suffix: str, max_columns: int | None = None) -> dict:
    """What an uploaded file holds (the dataset page shows it, its size capped whatever the
    file's: PREVIEW_COLUMNS columns, PREVIEW_CHARS per cell); raises on an unusable file, and
    (LimitError) on a CSV over `max_columns` columns."""
    if not text.strip():
        raise GenforgeError("the file is empty")
    lines = text.splitlines()
    report: dict = {"format": suffix.lstrip("."), "feeds": FILE_UPLOADS[suffix],
                    "bytes": len(text.encode("utf-8")), "lines": len(lines)}  # fmt: skip
    if suffix == ".jsonl":
        report.update(_jsonl_report(lines))
    elif suffix == ".csv":
        report.update(_csv_report(text, max_columns))
    else:
        docs = [d for d in text.split("\n\n") if d.strip()]
        report.update(paragraphs=len(docs), characters=len(text), preview=text[:300])
    return report


def _jsonl_report(lines: list[str]) -> dict:
    records, keys = 0, set()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise GenforgeError(f"line {i} is not JSON") from None
        except RecursionError:
            raise GenforgeError(f"line {i} nests too deeply to read") from None
        if not isinstance(obj, dict):
            raise GenforgeError(f"line {i} is not a JSON object")
        records += 1
        keys |= set(obj)
    return {"records": records, "fields": [k[:PREVIEW_CHARS] for k in sorted(keys)[:50]]}


def _csv_report(text: str, max_columns: int | None) -> dict:
    try:
        reader = csv.reader(io.StringIO(text))
        header = next(reader, [])
        if max_columns is not None and len(header) > max_columns:
            raise LimitError(f"the CSV has {len(header)} columns; the limit is {max_columns} "
                             "columns")  # fmt: skip
        lines = list(reader)
    except csv.Error as e:
        raise GenforgeError(f"not a readable CSV: {e}") from None
    rows = [r for r in lines if r]
    if not any(h.strip() for h in header) or not rows:
        raise GenforgeError("the CSV needs a header row and at least one data row")
    bad = next((i for i, r in enumerate(lines, 2) if r and len(r) != len(header)), None)
    if bad is not None:
        raise GenforgeError(
            f"CSV row {bad} has a different number of fields than the header ({len(header)})"
        )
    shown = PREVIEW_COLUMNS

    def cut(cells: list[str]) -> list[str]:
        return [c[:PREVIEW_CHARS] for c in cells[:shown]]

    return {"columns": cut(header), "columns_total": len(header),
            "columns_left_out": max(0, len(header) - shown), "rows": len(rows),
            "preview": [cut(r) for r in rows[:5]]}  # fmt: skip
