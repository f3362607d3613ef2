"""/datasets: list, register a server folder, upload, show (with a report), thumbnails, delete."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Response, UploadFile

from genforge.core.errors import GenforgeError
from genforge.serve import schemas as S
from genforge.serve.datasets import (
    FILE_UPLOADS,
    Dataset,
    LimitError,
    extract_images_zip,
    file_report,
    folder_bytes,
    save_data_file,
    upload_kind,
)
from genforge.serve.deps import RunName, Svc, Who, caller
from genforge.serve.files import thumbnails as thumbnail_grid
from genforge.serve.services import Services
from genforge.serve.settings import Settings

router = APIRouter(dependencies=[Depends(caller)])


def dataset_or_404(svc: Services, name: str) -> Dataset:
    ds = svc.datasets.get(name)
    if ds is None:
        raise HTTPException(404, f"no dataset '{name}'")
    return ds


def ds_info(ds: Dataset, report: dict | None = None) -> S.DatasetInfo:
    return S.DatasetInfo(name=ds.name, kind=ds.kind, path=ds.path, created=ds.created,
                         report=report)  # fmt: skip


@router.get("/datasets", response_model=list[S.DatasetInfo], tags=["datasets"])
def datasets(svc: Svc) -> list[S.DatasetInfo]:
    return [ds_info(d) for d in svc.datasets.all()]


@router.post("/datasets", response_model=S.DatasetInfo, status_code=201, tags=["datasets"])
def register_dataset(svc: Svc, body: S.DatasetRegister, who: Who) -> S.DatasetInfo:
    try:
        path = Path(body.path).expanduser()
    except RuntimeError:  # "~nosuchuser/...": no home directory to expand to
        raise GenforgeError(f"cannot expand {body.path!r}; give an absolute path") from None
    if not path.is_absolute():
        raise GenforgeError(f"give an absolute server path, not {body.path!r}")
    path = path.resolve()
    check_registrable(svc.settings, path)
    if not path.is_dir():
        raise GenforgeError(f"no folder {path} on the server")
    return ds_info(svc.datasets.add(body.name, "folder", path, who))


def check_registrable(s: Settings, path: Path) -> None:
    """403 unless `path` (resolved) is under one of the data roots (by default the server's
    working directory) and neither is nor holds the server's state folder."""
    roots = s.data_roots or ()
    if not any(path.is_relative_to(root) for root in roots):
        where = ", ".join(str(r) for r in roots) or "nowhere"
        raise HTTPException(403, f"this server registers only folders under {where} (its "
                                 "--data-root; without one, the working directory it started "
                                 "in)")  # fmt: skip
    state = s.state_dir.resolve()
    if path.is_relative_to(state) or state.is_relative_to(path):
        raise HTTPException(403, f"{path} is or holds the server's state folder ({state}); "
                                 "register a folder of images only")  # fmt: skip


@router.post("/datasets/upload", response_model=S.DatasetInfo, status_code=201, tags=["datasets"])
def upload_dataset(
    svc: Svc,
    who: Who,
    name: Annotated[str, Form(pattern=S.NAME_PATTERN)],
    file: Annotated[
        UploadFile,
        File(description="a .zip of images, a .txt/.jsonl text file or a .csv table"),
    ],
) -> S.DatasetInfo:
    kind = upload_kind(file.filename)
    dest = svc.settings.datasets_dir / name
    with svc.datasets.upload_lock:
        if svc.datasets.get(name) is not None:
            raise GenforgeError(f"dataset '{name}' exists; delete it first or pick another name")
        if dest.exists():  # left by an older server (this one removes a failed upload's files)
            shutil.rmtree(dest)
        try:
            return save_upload(svc, who, name, kind, file, dest)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)  # nothing of a failed upload stays
            raise


def save_upload(svc: Services, who: str, name: str, kind: str, file: UploadFile,
                dest: Path) -> S.DatasetInfo:  # fmt: skip
    """Extract or copy an upload to `dest` within this server's limits, then register it."""
    s = svc.settings
    left = s.max_datasets_mb * 2**20 - folder_bytes(s.datasets_dir)
    quota = (f" (this server's uploaded datasets may take {s.max_datasets_mb} MiB in all, "
             f"{max(left, 0) / 2**20:.1f} MiB are left; --max-datasets-mb)")  # fmt: skip
    if left <= 0:
        raise LimitError(f"no room for another dataset{quota}")
    if kind != "zip":
        max_bytes = min(s.max_upload_mb * 2**20, left)
        path = save_data_file(file.file, kind, dest, max_bytes=max_bytes,
                              max_columns=s.max_columns,
                              over_size=quota if max_bytes == left else "")  # fmt: skip
        report = file_report(path.read_text(encoding="utf-8"), kind)
        return ds_info(svc.datasets.add(name, "upload", path, who), report)
    max_bytes = min(s.max_extracted_mb * 2**20, left)
    with tempfile.NamedTemporaryFile(suffix=".zip") as tmp:
        shutil.copyfileobj(file.file, tmp)
        tmp.flush()
        extract_images_zip(
            Path(tmp.name), dest, max_files=s.max_files, max_bytes=max_bytes,
            max_pixels=s.max_pixels, max_ratio=s.max_ratio,
            over_size=quota if max_bytes == left else " (--max-extracted-mb)",
        )  # fmt: skip
    return ds_info(svc.datasets.add(name, "upload", dest, who))


@router.get("/datasets/{name}", response_model=S.DatasetInfo, tags=["datasets"])
def dataset(svc: Svc, name: RunName) -> S.DatasetInfo:
    from genforge.data import inspect_source, is_embedded

    ds = dataset_or_404(svc, name)
    if ds.kind == "embedded" and not is_embedded(ds.source):
        return ds_info(ds)  # another modality's built-in set: no image report
    path = Path(ds.source)
    if path.is_file() and path.suffix in FILE_UPLOADS:  # an uploaded text/CSV file
        return ds_info(ds, file_report(path.read_text(encoding="utf-8"), path.suffix))
    return ds_info(ds, inspect_source(ds.source).to_dict())


@router.get("/datasets/{name}/thumbnails.png", tags=["datasets"],
            responses={200: {"content": {"image/png": {}}}})  # fmt: skip
def thumbnails(svc: Svc, name: RunName, n: Annotated[int, Query(ge=1, le=256)] = 64) -> Response:
    from genforge.data import is_embedded

    ds = dataset_or_404(svc, name)
    if (ds.kind == "embedded" and not is_embedded(ds.source)) or Path(ds.source).is_file():
        raise HTTPException(404, f"dataset '{name}' holds no images")
    return Response(thumbnail_grid(ds.source, n), media_type="image/png")


@router.delete("/datasets/{name}", status_code=204, tags=["datasets"])
def delete_dataset(svc: Svc, name: RunName) -> Response:
    ds = dataset_or_404(svc, name)
    if ds.kind == "embedded":
        raise HTTPException(409, f"'{name}' is built in and cannot be deleted")
    svc.datasets.delete(name)
    return Response(status_code=204)
