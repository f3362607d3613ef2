"""A run's files: reports, config, metrics, sample grids (never weights or optimizer state)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse

from genforge.serve.deps import RunName, Svc, caller
from genforge.serve.files import run_file_path

router = APIRouter(dependencies=[Depends(caller)])


@router.get("/runs/{name}/files/{path:path}", tags=["runs"])
def run_file(svc: Svc, name: RunName, path: str) -> FileResponse:
    target = run_file_path(svc.settings.runs_dir / name, path)
    if target is None:
        raise HTTPException(404, f"no file '{path}' in run '{name}'")
    media = {".html": "text/html", ".md": "text/markdown", ".png": "image/png",
             ".json": "application/json", ".jsonl": "application/x-ndjson",
             ".yaml": "text/yaml"}[target.suffix]  # fmt: skip
    return FileResponse(target, media_type=media)
