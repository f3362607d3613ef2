"""The FastAPI app: REST API under /v1 (OpenAPI at /docs) and the web UI at /.

create_app(Settings(runs_dir="runs"))   # what `genforge serve` runs under uvicorn

This module only assembles: the endpoints live in `genforge.serve.routes` (one APIRouter per
resource), their shared dependencies in `deps`, the state they share in `services`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from genforge.core.errors import GenforgeError
from genforge.core.version import __version__
from genforge.serve.auth import KeyStore
from genforge.serve.datasets import LimitError
from genforge.serve.middleware import CSRF_HEADER, BodyLimit, RequestGuard
from genforge.serve.routes import (
    chat,
    datasets,
    detect,
    feedback,
    generate,
    info,
    outputs,
    run_files,
    runs,
    watermark,
)
from genforge.serve.services import Services
from genforge.serve.settings import Settings, check_bind, is_loopback

STATIC = Path(__file__).parent / "static"
# Routes are matched in order and /generate is the hot path: its router comes first (a literal
# path no other route takes, so the order cannot change which route answers).
ROUTERS = (
    generate.router,
    info.router,
    datasets.router,
    runs.router,
    run_files.router,
    outputs.router,
    feedback.router,
    watermark.router,
    detect.router,
    chat.router,
)
# The endpoints whose bodies are uploads (multipart, up to max_upload_mb); every other body is
# JSON, up to max_json_kb (tests/serve/test_hardening.py checks this against the schema).
UPLOAD_PATHS = ("/v1/datasets/upload", "/v1/watermark/detect", "/v1/detect")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for `settings` (defaults: runs in $GENFORGE_RUNS or ./runs, no keys, loopback)."""
    settings = settings or Settings()
    keys = KeyStore(settings.keys_path) if settings.keys_path else None
    check_bind(settings.host, keys is not None and len(keys) > 0)  # before touching the disk
    svc = Services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.start_worker:
            svc.worker.start()
        yield
        if settings.start_worker:
            await asyncio.to_thread(svc.worker.stop)
        if svc.batcher is not None:
            svc.batcher.close()

    app = FastAPI(
        title="genforge",
        version=__version__,
        description="Train, generate, trace. Every /v1 endpoint takes `Authorization: Bearer KEY` "
        "when the server has API keys.",
        lifespan=lifespan,
    )
    app.state.services = svc

    @app.exception_handler(LimitError)
    async def _limit(request: Request, exc: LimitError):
        return JSONResponse({"detail": str(exc)}, status_code=413)

    @app.exception_handler(GenforgeError)
    async def _user_error(request: Request, exc: GenforgeError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # FastAPI's own reply echoes each invalid input, which may be NaN (not JSON) or a
        # deeply nested value: the echo is left out, the location and message kept
        return JSONResponse({"detail": [validation_error(e) for e in exc.errors()]},
                            status_code=422)  # fmt: skip

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", CSRF_HEADER],
        )
    app.add_middleware(BodyLimit, json_bytes=settings.max_json_kb * 2**10,
                       upload_bytes=settings.max_upload_mb * 2**20, upload_paths=UPLOAD_PATHS)  # fmt: skip
    # outermost: a request another website made for a browser is refused before anything else
    app.add_middleware(RequestGuard, loopback=is_loopback(settings.host), port=settings.port,
                       extra_hosts=settings.allowed_hosts,
                       origins=(*settings.cors_origins, *settings.allowed_origins))  # fmt: skip

    for router in ROUTERS:
        app.include_router(router, prefix="/v1")
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="ui")
    return app


def validation_error(e: dict[str, Any]) -> dict[str, Any]:
    """One entry of a 422 reply, JSON-safe: loc, msg, type, and the input only when it is a
    short plain value."""
    out = {"loc": [str(x)[:100] for x in e.get("loc", ())], "msg": str(e.get("msg", ""))[:500],
           "type": str(e.get("type", ""))}  # fmt: skip
    value = e.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        return out
    if (
        value is None
        or isinstance(value, bool | int | float)
        or (isinstance(value, str) and len(value) <= 200)
    ):
        out["input"] = value
    return out
