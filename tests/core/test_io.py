import errno

import pytest

from genforge.core import io
from genforge.core.errors import GenforgeError


def test_write_is_atomic_and_keeps_old_content_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    io.write_text(target, "old")

    def broken_fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", broken_fsync)
    with pytest.raises(GenforgeError, match="No space left on device"):
        io.write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temp file left behind


def test_unwritable_parent_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(GenforgeError, match=r"cannot write .*file/out.json"):
        io.write_json(blocker / "out.json", {"a": 1})


def test_replace_dir_swaps_complete_folders(tmp_path):
    dst, src = tmp_path / "model", tmp_path / "stage"
    dst.mkdir()
    (dst / "w").write_text("old")
    src.mkdir()
    (src / "w").write_text("new")
    io.replace_dir(src, dst)
    assert (dst / "w").read_text() == "new"
    assert not src.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_written_files_get_the_umask_permissions_not_0600(tmp_path):
    """mkstemp's temporary file is 0600; the renamed result must have what open() gives."""
    import os
    import stat

    io.write_text(tmp_path / "a.txt", "x")
    io.write_bytes(tmp_path / "b.bin", b"x")
    with open(tmp_path / "plain.txt", "w") as f:
        f.write("x")
    want = stat.S_IMODE(os.stat(tmp_path / "plain.txt").st_mode)
    for name in ("a.txt", "b.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == want, name
