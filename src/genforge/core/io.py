"""Atomic writes: a file is either its old content or its complete new content, never half.

Every file genforge writes goes through here, so an interrupted run or a full disk never
leaves a truncated checkpoint behind. OSErrors become one-line `GenforgeError`s.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError

# read once, at import (os.umask can only be read by setting it, which races with threads)
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _describe(path: Path, err: OSError) -> GenforgeError:
    return GenforgeError(f"cannot write {path}: {err.strerror or err}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise GenforgeError(f"cannot write {path}: {blocker} is a file, not a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give what open() would
    except OSError as e:
        raise _describe(path, e) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as e:
        raise _describe(path, e) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise _describe(Path(path), e) from None


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Atomically write `path` with `writer(tmp_path)` (for libraries that want a filename)."""
    with atomic_path(path) as tmp:
        try:
            writer(tmp)
        except OSError as e:
            raise _describe(Path(path), e) from None


def append_line(path: str | Path, line: str) -> None:
    """Append one line (e.g. a metrics.jsonl record); appends of a whole line are atomic enough."""
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line.rstrip("\n") + "\n")
    except OSError as e:
        raise _describe(Path(path), e) from None


def replace_dir(src: Path, dst: Path) -> None:
    """Swap a fully written directory `src` into place at `dst` (old copy kept until the swap)."""
    try:
        old = dst.with_name(f".{dst.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if dst.exists():
            os.replace(dst, old)
        os.replace(src, dst)
        if old.exists():
            shutil.rmtree(old)
    except OSError as e:
        raise _describe(dst, e) from None
