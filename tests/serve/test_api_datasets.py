"""Datasets: embedded, registered folders, zip uploads and every upload limit."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest


def make_zip(members: dict[str, bytes], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def upload(client, name: str, data: bytes):
    # X-Genforge-CSRF: what the web UI sends (uploads without it, or a key, are refused)
    return client.post("/v1/datasets/upload", data={"name": name}, headers={"X-Genforge-CSRF": "1"},
                       files={"file": ("d.zip", data, "application/zip")})  # fmt: skip


def test_embedded_sets_listed_with_report_and_thumbnails(client):
    names = {d["name"]: d for d in client.get("/v1/datasets").json()}
    assert names["digits"]["kind"] == "embedded"
    d = client.get("/v1/datasets/digits").json()
    assert d["report"]["num_images"] == 1797
    r = client.get("/v1/datasets/digits/thumbnails.png?n=16")
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG")
    assert client.get("/v1/datasets/nope").status_code == 404
    assert client.delete("/v1/datasets/digits").status_code == 409


def test_register_folder(make_client, tmp_path, png_bytes, monkeypatch):
    monkeypatch.chdir(tmp_path)  # folders under the server's working directory register
    client = make_client()
    folder = tmp_path / "cats"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(png_bytes(seed=i))
    r = client.post("/v1/datasets", json={"name": "cats", "path": str(folder)})
    assert r.status_code == 201, r.text
    assert client.get("/v1/datasets/cats").json()["report"]["num_images"] == 3
    assert (
        client.post("/v1/datasets", json={"name": "cats", "path": str(folder)}).status_code == 400
    )
    assert client.post("/v1/datasets", json={"name": "x", "path": "rel/path"}).status_code == 400
    # a "~user" with no home directory is a 400, not a 500 (found by the schema fuzzer)
    r = client.post("/v1/datasets", json={"name": "x", "path": "~nosuchuser-gf/a"})
    assert r.status_code == 400
    assert (
        client.post("/v1/datasets", json={"name": "y", "path": str(tmp_path / "no")}).status_code
        == 400
    )
    for bad in ("../up", "a/b", ".hidden", ""):
        assert (
            client.post("/v1/datasets", json={"name": bad, "path": str(folder)}).status_code == 422
        )
    assert client.delete("/v1/datasets/cats").status_code == 204
    assert folder.exists()  # unregistering a folder never deletes the user's files


def test_register_outside_data_roots_is_forbidden(make_client, tmp_path):
    inside, outside = tmp_path / "data" / "a", tmp_path / "elsewhere"
    inside.mkdir(parents=True)
    outside.mkdir()
    c = make_client(data_roots=(tmp_path / "data",))
    assert c.post("/v1/datasets", json={"name": "a", "path": str(inside)}).status_code == 201
    assert c.post("/v1/datasets", json={"name": "b", "path": str(outside)}).status_code == 403
    sneaky = f"{inside}/../../elsewhere"
    assert c.post("/v1/datasets", json={"name": "c", "path": sneaky}).status_code == 403


def test_upload_zip_of_images(client, runs_dir, png_bytes):
    data = make_zip({"a/1.png": png_bytes(seed=1), "a/2.png": png_bytes(seed=2),
                     "b/3.png": png_bytes(seed=3), "notes.txt": b"hi", "__MACOSX/._x.png": b"x"})  # fmt: skip
    r = upload(client, "up", data)
    assert r.status_code == 201, r.text
    info = client.get("/v1/datasets/up").json()
    assert info["report"]["num_images"] == 3 and set(info["report"]["class_counts"]) == {"a", "b"}
    assert upload(client, "up", data).status_code == 400  # name taken
    assert client.delete("/v1/datasets/up").status_code == 204
    assert not (runs_dir / ".serve" / "datasets" / "up").exists()


@pytest.mark.parametrize(
    "member",
    ["../evil.png", "a/../../evil.png", "/abs/evil.png", "C:/evil.png", "..\\evil.png"],
)
def test_zip_slip_is_refused(client, runs_dir, member, png_bytes):
    r = upload(client, "slip", make_zip({"ok.png": png_bytes(), member: png_bytes()}))
    assert r.status_code == 400 and "unsafe path" in r.json()["detail"]
    assert not list(runs_dir.parent.rglob("evil.png"))
    assert not (runs_dir / ".serve" / "datasets" / "slip").exists()


def test_zip_symlink_is_refused(client, png_bytes):
    r = upload(client, "link", make_zip({"ok.png": png_bytes()}, symlink="link.png"))
    assert r.status_code == 400 and "symlink" in r.json()["detail"]


def test_zip_limits(make_client, png_bytes):
    c = make_client(max_files=3, max_extracted_mb=1, max_pixels=100 * 100, max_upload_mb=1)
    many = make_zip({f"{i}.png": png_bytes(seed=i) for i in range(4)})
    assert upload(c, "many", many).status_code == 413
    bomb = make_zip({"bomb.png": b"\0" * (3 * 2**20)})  # 3 MiB of zeros -> a few KB
    r = upload(c, "bomb", bomb)
    assert r.status_code == 413 and "zip bomb" in r.json()["detail"]
    big = make_zip({"big.png": png_bytes(size=101)})
    r = upload(c, "big", big)
    assert r.status_code == 413 and "pixels" in r.json()["detail"]
    assert upload(c, "huge", b"\0" * (2 * 2**20)).status_code == 413  # the body itself
    assert upload(c, "notzip", b"not a zip").status_code == 400
    assert upload(c, "noimg", make_zip({"a.txt": b"x"})).status_code == 400
    assert upload(c, "../x", make_zip({"a.png": png_bytes()})).status_code == 422


def test_zip_that_lies_about_its_size(make_client, monkeypatch, png_bytes):
    """Declared sizes are not trusted: bytes really written are counted."""
    import genforge.serve.datasets as ds

    c = make_client(max_extracted_mb=1, max_ratio=10**9)
    payload = make_zip({"a.png": png_bytes(), "b.png": b"\0" * (2 * 2**20)})
    real_open = zipfile.ZipFile.infolist

    def lying(self):
        infos = real_open(self)
        for i in infos:
            i.file_size = 10  # claims to be tiny
        return infos

    monkeypatch.setattr(ds.zipfile.ZipFile, "infolist", lying)
    r = upload(c, "liar", payload)
    assert r.status_code in (400, 413), r.text
