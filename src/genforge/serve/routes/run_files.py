"""A run's files (reports, config, metrics, sample grids; never weights) and its model card
rendered as HTML."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from genforge.serve.cards import render_card
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


@router.get("/runs/{name}/card", tags=["runs"], response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}}}})  # fmt: skip
def run_card(svc: Svc, name: RunName) -> HTMLResponse:
    """The run's model card (README.md) as an HTML fragment: CommonMark with tables, any HTML
    in it escaped, images only from the run's own files (as /v1/runs/NAME/files/...)."""
    run_dir = svc.settings.runs_dir / name
    target = run_file_path(run_dir, "README.md")
    if target is None:
        raise HTTPException(404, f"run '{name}' has no model card (README.md)")
    html = render_card(target.read_text(encoding="utf-8", errors="replace"), run_dir)
    # a fragment to show inside the UI; opened alone, it may load the run's images, nothing else
    csp = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})
