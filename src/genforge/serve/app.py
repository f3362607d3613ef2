"""The FastAPI app: REST API under /v1 (OpenAPI at /docs) and the web UI at /.

create_app(Settings(runs_dir="runs"))   # what `genforge serve` runs under uvicorn

This module only assembles: the endpoints live in `genforge.serve.routes` (one APIRouter per
resource), their shared dependencies in `deps`, the state they share in `services`.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from genforge.core.errors import GenforgeError
from genforge.core.version import __version__
from genforge.serve.auth import KeyStore
from genforge.serve.datasets import LimitError
from genforge.serve.middleware import BodyLimit
from genforge.serve.routes import (
    datasets,
    generate,
    info,
    outputs,
    run_files,
    runs,
    watermark,
)
from genforge.serve.services import Services
from genforge.serve.settings import Settings, check_bind

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
    watermark.router,
)


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

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_mb * 2**20)

    for router in ROUTERS:
        app.include_router(router, prefix="/v1")
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="ui")
    return app
