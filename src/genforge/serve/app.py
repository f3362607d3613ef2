"""The FastAPI app: REST API under /v1 (OpenAPI at /docs) and the web UI at /.

create_app(Settings(runs_dir="runs"))   # what `genforge serve` runs under uvicorn
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
)
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from genforge import __version__
from genforge.core.errors import GenforgeError
from genforge.core.run import Run, list_runs
from genforge.models import MODELS
from genforge.safety.detect import Detection, detect
from genforge.safety.provenance import ProvenanceStore, Record
from genforge.serve import schemas as S
from genforge.serve.auth import KeyStore, RateLimiter
from genforge.serve.datasets import (
    FILE_UPLOADS,
    DatasetStore,
    LimitError,
    extract_images_zip,
    file_report,
    save_data_file,
    upload_kind,
)
from genforge.serve.generation import Batcher, Loaded, ModelCache, sample_direct
from genforge.serve.jobs import TERMINAL, JobStore, Worker
from genforge.serve.modalities import (
    MODALITIES,
    OPTIONAL_FIELDS,
    decoding_of,
    get_modality,
    run_controls,
    run_modality,
)
from genforge.serve.modalities import Request as GenRequest
from genforge.serve.settings import Settings, check_bind

STATIC = Path(__file__).parent / "static"
MEDIA = {".png": "image/png", ".txt": "text/plain; charset=utf-8", ".csv": "text/csv",
         ".wav": "audio/wav"}  # fmt: skip
RunName = Annotated[str, PathParam(pattern=S.NAME_PATTERN)]
RUN_FILES = (
    "report.html",
    "README.md",
    "metrics.json",
    "data_report.json",
    "metrics.jsonl",
    "config.yaml",
)


class BodyLimit:
    """ASGI middleware: 413 for request bodies over `max_bytes` (declared or streamed)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(send)
        seen, started = 0, False

        async def limited():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return msg

        async def tracking_send(msg):
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, limited, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send):
        body = json.dumps({"detail": f"request body over {self.max_bytes // 2**20} MiB"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class Services:
    """Everything the endpoints share, built once per app."""

    def __init__(self, settings: Settings):
        self.settings = s = settings
        s.state_dir.mkdir(parents=True, exist_ok=True)
        s.runs_dir.mkdir(parents=True, exist_ok=True)
        self.keys = KeyStore(s.keys_path) if s.keys_path else None
        # Decided once: revoking the last key locks the API, it does not open it.
        self.auth_on = self.keys is not None and len(self.keys) > 0
        self.limiter = RateLimiter(s.rate_limit_per_min, s.rate_burst)
        self.jobs = JobStore(s.db_path)
        self.datasets = DatasetStore(s.db_path, s.datasets_dir)
        self.provenance = ProvenanceStore(s.db_path)
        self.cache = ModelCache(s.cache_mb, s.device, s.precision)
        self.batcher = (
            Batcher(s.max_batch_requests, s.max_batch_wait_ms, s.batch_workers)
            if s.batching
            else None
        )
        self.worker = Worker(self.jobs, s.runs_dir, s.logs_dir, s.max_training_jobs, s.job_poll_s)


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

    app.include_router(_router(svc), prefix="/v1")
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="ui")
    return app


# -- the /v1 endpoints ----------------------------------------------------------------------


async def caller(request: Request) -> str:
    """Who is asking: the key's name (or "local" without keys); enforces the rate limit."""
    svc: Services = request.app.state.services
    who = "local"
    if svc.auth_on:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        name = svc.keys.verify(token.strip()) if scheme.lower() == "bearer" and token else None
        if name is None:
            raise HTTPException(401, "missing or invalid API key (Authorization: Bearer KEY)",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        who = name
    bucket = who if svc.auth_on else (request.client.host if request.client else "local")
    wait = svc.limiter.allow(bucket)
    if wait > 0:
        raise HTTPException(429, f"rate limit: retry in {wait:.1f} s",
                            headers={"Retry-After": str(max(1, round(wait)))})  # fmt: skip
    return who


Who = Annotated[str, Depends(caller)]
OutputId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{8,32}$")]


def _router(svc: Services) -> APIRouter:
    s = svc.settings

    r = APIRouter(dependencies=[Depends(caller)])

    # -- info ---------------------------------------------------------------------------
    @r.get("/info", response_model=S.Info, tags=["info"])
    def info() -> S.Info:
        return S.Info(
            version=__version__,
            auth=svc.auth_on,
            modalities={k: list(m.controls) for k, m in MODALITIES.items()},
            limits={
                "max_n": s.max_n,
                "max_steps": s.max_steps,
                "max_best_of": s.max_best_of,
                "max_upload_mb": s.max_upload_mb,
                "max_files": s.max_files,
                "max_pixels": s.max_pixels,
                "max_prompt_chars": s.max_prompt_chars,
                "max_rows": s.max_rows,
                "max_new_tokens": s.max_new_tokens,
            },
        )

    @r.get("/models", response_model=list[S.ModelInfo], tags=["info"])
    def models() -> list[S.ModelInfo]:
        return [
            S.ModelInfo(
                name=k,
                description=e.description,
                modality=getattr(e, "modality", "image"),
                conditional=bool(e.model.get("conditional")),
            )
            for k, e in MODELS.items()
        ]

    # -- datasets -----------------------------------------------------------------------
    def dataset_or_404(name: str):
        ds = svc.datasets.get(name)
        if ds is None:
            raise HTTPException(404, f"no dataset '{name}'")
        return ds

    def ds_info(ds, report: dict | None = None) -> S.DatasetInfo:
        return S.DatasetInfo(name=ds.name, kind=ds.kind, path=ds.path, created=ds.created,
                             report=report)  # fmt: skip

    @r.get("/datasets", response_model=list[S.DatasetInfo], tags=["datasets"])
    def datasets() -> list[S.DatasetInfo]:
        return [ds_info(d) for d in svc.datasets.all()]

    @r.post("/datasets", response_model=S.DatasetInfo, status_code=201, tags=["datasets"])
    def register_dataset(body: S.DatasetRegister, who: Who) -> S.DatasetInfo:
        try:
            path = Path(body.path).expanduser()
        except RuntimeError:  # "~nosuchuser/...": no home directory to expand to
            raise GenforgeError(f"cannot expand {body.path!r}; give an absolute path") from None
        if not path.is_absolute():
            raise GenforgeError(f"give an absolute server path, not {body.path!r}")
        path = path.resolve()
        if s.data_roots is not None and not any(
            path.is_relative_to(Path(root).resolve()) for root in s.data_roots
        ):
            raise HTTPException(403, "this server only registers folders under its --data-root")
        if not path.is_dir():
            raise GenforgeError(f"no folder {path} on the server")
        return ds_info(svc.datasets.add(body.name, "folder", path, who))

    @r.post("/datasets/upload", response_model=S.DatasetInfo, status_code=201, tags=["datasets"])
    def upload_dataset(
        who: Who,
        name: Annotated[str, Form(pattern=S.NAME_PATTERN)],
        file: Annotated[
            UploadFile,
            File(description="a .zip of images, a .txt/.jsonl text file or a .csv table"),
        ],
    ) -> S.DatasetInfo:
        kind = upload_kind(file.filename)
        if svc.datasets.get(name) is not None:
            raise GenforgeError(f"dataset '{name}' exists; delete it first or pick another name")
        dest = s.datasets_dir / name
        if dest.exists():
            shutil.rmtree(dest)
        if kind != "zip":
            path = save_data_file(file.file, kind, dest, max_bytes=s.max_upload_mb * 2**20)
            report = file_report(path.read_text(encoding="utf-8"), kind)
            return ds_info(svc.datasets.add(name, "upload", path, who), report)
        with tempfile.NamedTemporaryFile(suffix=".zip") as tmp:
            shutil.copyfileobj(file.file, tmp)
            tmp.flush()
            extract_images_zip(
                Path(tmp.name), dest, max_files=s.max_files,
                max_bytes=s.max_extracted_mb * 2**20, max_pixels=s.max_pixels,
                max_ratio=s.max_ratio,
            )  # fmt: skip
        return ds_info(svc.datasets.add(name, "upload", dest, who))

    @r.get("/datasets/{name}", response_model=S.DatasetInfo, tags=["datasets"])
    def dataset(name: RunName) -> S.DatasetInfo:
        from genforge.data import inspect_source, is_embedded

        ds = dataset_or_404(name)
        if ds.kind == "embedded" and not is_embedded(ds.source):
            return ds_info(ds)  # another modality's built-in set: no image report
        path = Path(ds.source)
        if path.is_file() and path.suffix in FILE_UPLOADS:  # an uploaded text/CSV file
            return ds_info(ds, file_report(path.read_text(encoding="utf-8"), path.suffix))
        return ds_info(ds, inspect_source(ds.source).to_dict())

    @r.get("/datasets/{name}/thumbnails.png", tags=["datasets"],
           responses={200: {"content": {"image/png": {}}}})  # fmt: skip
    def thumbnails(name: RunName, n: Annotated[int, Query(ge=1, le=256)] = 64) -> Response:
        from genforge.data import is_embedded

        ds = dataset_or_404(name)
        if (ds.kind == "embedded" and not is_embedded(ds.source)) or Path(ds.source).is_file():
            raise HTTPException(404, f"dataset '{name}' holds no images")
        return Response(_thumbnails(ds.source, n), media_type="image/png")

    @r.delete("/datasets/{name}", status_code=204, tags=["datasets"])
    def delete_dataset(name: RunName) -> Response:
        ds = dataset_or_404(name)
        if ds.kind == "embedded":
            raise HTTPException(409, f"'{name}' is built in and cannot be deleted")
        svc.datasets.delete(name)
        return Response(status_code=204)

    # -- runs ---------------------------------------------------------------------------
    def run_info(name: str) -> S.RunInfo:
        run = Run(s.runs_dir / name)
        job = svc.jobs.latest(name)
        if not run.config_path.exists() and job is None:
            raise HTTPException(404, f"no run '{name}'")
        cfg = run.read_config() if run.config_path.exists() else {}
        checkpoint = run.step if cfg else 0
        step = max(checkpoint, _last_logged_step(run.metrics_path)) if cfg else 0
        steps = (job.params["steps"] if job else None) or cfg.get("train", {}).get("steps")
        if job is not None:
            state = job.state
        elif run.read_meta() is None:
            state = "empty"
        else:
            state = "completed" if steps and step >= steps else "stopped"
        model = cfg.get("model") or (job.params.get("model") if job else None)
        entry = MODELS.get(model or "")
        spec = cfg.get("spec", {})
        conditional = bool(cfg.get("model_config", {}).get("conditional"))
        controls: tuple[str, ...] = ()
        if cfg and entry is not None:
            controls = run_controls(run)
        files = []
        if run.path.is_dir():
            files = [f for f in RUN_FILES if (run.path / f).exists()]
            if run.samples_dir.is_dir():
                files += sorted(f"samples/{p.name}" for p in run.samples_dir.glob("*.png"))
        return S.RunInfo(
            name=name, model=model,
            data=(job.params.get("dataset") if job else None) or cfg.get("data", {}).get("source"),
            modality=getattr(entry, "modality", "image") if entry else "image",
            state=state, step=step, checkpoint_step=checkpoint, steps=steps,
            job_id=job.id if job else None,
            error=job.error if job else None, created=cfg.get("created") or (job.created if job else None),
            conditional=conditional, class_names=list(spec.get("class_names") or []) if conditional else [],
            files=files, controls=list(controls),
        )  # fmt: skip

    @r.get("/runs", response_model=list[S.RunInfo], tags=["runs"])
    def runs() -> list[S.RunInfo]:
        names = {run.name for run in list_runs(s.runs_dir)} | svc.jobs.runs()
        return [run_info(n) for n in sorted(names)]

    @r.post("/runs", response_model=S.RunInfo, status_code=201, tags=["runs"])
    def create_run(body: S.RunCreate, who: Who) -> S.RunInfo:
        from genforge.models import get_entry
        from genforge.train.launch import split_options

        get_entry(body.model)
        if body.steps > s.max_steps:
            raise LimitError(f"steps {body.steps} is over this server's limit of {s.max_steps}")
        ds = svc.datasets.get(body.data)
        if ds is None:
            raise GenforgeError(f"unknown dataset '{body.data}'; known: "
                                f"{', '.join(d.name for d in svc.datasets.all())}")  # fmt: skip
        split_options(body.model, dict(body.options))  # unknown keys fail here, not in the job
        taken = {run.name for run in list_runs(s.runs_dir)} | svc.jobs.runs()
        if body.name is not None:
            if body.name in taken:
                raise HTTPException(
                    409, f"run '{body.name}' exists; resume it or pick another name"
                )
            name = body.name
        else:
            base, k, name = f"{ds.name}-{body.model}", 2, f"{ds.name}-{body.model}"
            while name in taken:
                name, k = f"{base}-{k}", k + 1
        params = {"model": body.model, "data": ds.source, "dataset": ds.name,
                  "steps": body.steps, "options": dict(body.options)}  # fmt: skip
        svc.jobs.add(name, params, who)
        svc.worker.wake()
        return run_info(name)

    @r.get("/runs/{name}", response_model=S.RunInfo, tags=["runs"])
    def show_run(name: RunName) -> S.RunInfo:
        return run_info(name)

    @r.get("/runs/{name}/controls", response_model=S.RunControls, tags=["runs", "generate"])
    def show_controls(name: RunName) -> S.RunControls:
        """The /v1/generate fields this run takes, with their choices and defaults."""
        from genforge.generate.diffusion import SAMPLERS
        from genforge.models import model_config

        info_ = run_info(name)
        if info_.model is None or not Run(s.runs_dir / name).config_path.exists():
            raise HTTPException(409, f"run '{name}' has not started yet")
        cfg = Run(s.runs_dir / name).read_config()
        mc = model_config(cfg["model"], cfg.get("model_config", {}))
        diffusion = "sampler" in info_.controls
        total = int(mc.num_train_timesteps) if diffusion else None
        return S.RunControls(
            run=name, modality=info_.modality, model=info_.model, controls=info_.controls,
            class_names=info_.class_names,
            samplers=list(SAMPLERS) if diffusion else [],
            default_sampler="ddim" if diffusion else None,
            default_steps={k: d or total for k, (_, d) in SAMPLERS.items()} if diffusion else {},
            max_sampling_steps=total,
            default_guidance=float(mc.guidance) if "guidance" in info_.controls else None,
            max_best_of=s.max_best_of,
        )  # fmt: skip

    @r.get("/runs/{name}/metrics", tags=["runs"])
    def run_metrics(name: RunName) -> list[dict[str, Any]]:
        run_info(name)
        return Run(s.runs_dir / name).metrics()

    @r.post("/runs/{name}/cancel", response_model=S.RunInfo, tags=["runs"])
    def cancel_run(name: RunName) -> S.RunInfo:
        run_info(name)
        job = svc.jobs.latest(name)
        if job is None or job.state in TERMINAL:
            raise HTTPException(409, f"run '{name}' has no queued or running job")
        svc.worker.cancel(job)
        return run_info(name)

    @r.post("/runs/{name}/resume", response_model=S.RunInfo, status_code=202, tags=["runs"])
    def resume_run(name: RunName, body: S.RunResume, who: Who) -> S.RunInfo:
        info_ = run_info(name)
        if info_.state in ("queued", "running"):
            raise HTTPException(409, f"run '{name}' is already {info_.state}")
        run = Run(s.runs_dir / name)
        if run.read_meta() is None:
            raise GenforgeError(f"run '{name}' has no checkpoint to resume from")
        steps = body.steps or info_.steps or 0
        if steps > s.max_steps:
            raise LimitError(f"steps {steps} is over this server's limit of {s.max_steps}")
        if run.step >= steps:
            raise GenforgeError(
                f"run '{name}' is at step {run.step} of {steps}; ask for more steps"
            )
        cfg = run.read_config()
        params = {"model": cfg["model"], "data": cfg["data"]["source"], "steps": steps,
                  "dataset": info_.data, "options": {}}  # fmt: skip
        svc.jobs.add(name, params, who, resume=True)
        svc.worker.wake()
        return run_info(name)

    @r.delete("/runs/{name}", status_code=204, tags=["runs"])
    def delete_run(name: RunName) -> Response:
        info_ = run_info(name)
        if info_.state in ("queued", "running"):
            raise HTTPException(409, f"run '{name}' is {info_.state}; cancel it first")
        path = s.runs_dir / name
        svc.cache.drop(path)
        shutil.rmtree(path, ignore_errors=True)
        svc.jobs.delete_run(name)
        return Response(status_code=204)

    @r.get("/runs/{name}/events", tags=["runs"],
           responses={200: {"content": {"text/event-stream": {}}}})  # fmt: skip
    async def run_events(request: Request, name: RunName) -> StreamingResponse:
        await asyncio.to_thread(run_info, name)  # 404 before the stream starts

        async def stream():
            sent, last_state, idle = 0, None, 0.0
            while True:
                info_ = await asyncio.to_thread(run_info, name)
                records = await asyncio.to_thread(Run(s.runs_dir / name).metrics)
                new, sent = records[sent:], len(records)
                if new or info_.state != last_state:
                    last_state, idle = info_.state, 0.0
                    payload = {"state": info_.state, "step": info_.step, "steps": info_.steps,
                               "error": info_.error, "metrics": new}  # fmt: skip
                    yield f"event: progress\ndata: {json.dumps(payload)}\n\n"
                if info_.state not in ("queued", "running"):
                    yield f"event: end\ndata: {json.dumps({'state': info_.state})}\n\n"
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(s.sse_poll_s)
                idle += s.sse_poll_s
                if idle >= 15:
                    idle = 0.0
                    yield ": keep-alive\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})  # fmt: skip

    @r.get("/runs/{name}/files/{path:path}", tags=["runs"])
    def run_file(name: RunName, path: str) -> FileResponse:
        run = Run(s.runs_dir / name)
        ok = path in RUN_FILES or (
            path.startswith("samples/") and path.count("/") == 1 and path.endswith(".png")
        )
        target = (run.path / path).resolve()
        if not ok or not target.is_relative_to(run.path.resolve()) or not target.is_file():
            raise HTTPException(404, f"no file '{path}' in run '{name}'")
        media = {".html": "text/html", ".md": "text/markdown", ".png": "image/png",
                 ".json": "application/json", ".jsonl": "application/x-ndjson",
                 ".yaml": "text/yaml"}[target.suffix]  # fmt: skip
        return FileResponse(target, media_type=media)

    # -- generation ---------------------------------------------------------------------
    def check_n(n: int, limit_field: str) -> None:
        if n > getattr(s, limit_field):
            raise LimitError(f"n {n} is over this server's limit of {getattr(s, limit_field)}"
                             + (" rows" if limit_field == "max_rows" else ""))  # fmt: skip

    @r.post("/generate", response_model=S.GenerateResponse, tags=["generate"])
    async def generate(body: S.GenerateRequest, who: Who) -> Response:
        # On the event loop: the checks (cached config, a stat). Off it: a model load, the
        # forward pass and the encoding (`finish`, on the batch worker that sampled it).
        if body.prompt is not None and len(body.prompt) > s.max_prompt_chars:
            raise LimitError(f"prompt is over {s.max_prompt_chars} characters")
        if body.steps is not None and body.steps > s.max_steps:
            raise LimitError(f"steps {body.steps} is over this server's limit of {s.max_steps}")
        if body.best_of is not None and body.best_of > s.max_best_of:
            raise LimitError(f"best_of {body.best_of} is over this server's limit of "
                             f"{s.max_best_of}")  # fmt: skip
        if body.max_new_tokens is not None and body.max_new_tokens > s.max_new_tokens:
            raise LimitError(f"max_new_tokens {body.max_new_tokens} is over this server's "
                             f"limit of {s.max_new_tokens}")  # fmt: skip
        run = Run(s.runs_dir / body.run)
        # n's limit depends on the modality (rows vs images); without a run, the image limit.
        if not run.config_path.exists():
            check_n(body.n, "max_n")
            raise HTTPException(404, f"no run '{body.run}'")
        if not (run.model_dir / "meta.json").exists():
            check_n(body.n, get_modality(run_modality(run)).max_n)
            raise HTTPException(409, f"run '{body.run}' has no checkpoint yet")
        # parsed once per checkpoint: no per-request file reads
        loaded = svc.cache.peek(run) or await asyncio.to_thread(svc.cache.get, run)
        check_n(body.n, loaded.handler.max_n)
        controls = run_controls(run)
        for field in OPTIONAL_FIELDS:
            if getattr(body, field) is not None and field not in controls:
                if field not in loaded.handler.controls:
                    raise GenforgeError(f"{field} does not apply to {loaded.modality} runs")
                raise GenforgeError(f"{field} does not apply to run '{body.run}' "
                                    f"({loaded.model_name}); it takes {', '.join(controls)}")  # fmt: skip
        seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
        req = GenRequest(n=body.n, seed=seed, **{f: getattr(body, f) for f in OPTIONAL_FIELDS})
        if loaded.handler.check is not None:  # a bad request fails alone, not its batch
            loaded.handler.check(loaded.model, req)

        def finish(raw: list[Any]) -> bytes:
            return encode_outputs(body, who, loaded, controls, seed, req, raw)

        if svc.batcher is not None:
            content = await asyncio.wait_for(
                asyncio.wrap_future(svc.batcher.submit(loaded, req, finish)), timeout=300
            )
        else:
            content = await asyncio.to_thread(lambda: finish(sample_direct(loaded, req)))
        # serialised once by pydantic-core (returning the model would validate it again)
        return Response(content, media_type="application/json")

    def encode_outputs(
        body: S.GenerateRequest,
        who: str,
        loaded: Loaded,
        controls: tuple[str, ...],
        seed: int,
        req: GenRequest,
        raw: list[Any],
    ) -> bytes:
        """Files, provenance records (one transaction) and the JSON reply for `raw` outputs."""
        outputs, records = [], []
        for i, item in enumerate(raw):
            oid = svc.provenance.new_id()
            params = {"run": body.run, "step": loaded.step, "model": loaded.model_name,
                      "seed": seed, "index": i, "n": body.n}  # fmt: skip
            if loaded.modality == "image":  # kept as before: label and truncation, even None
                params.update(label=body.label, truncation=body.truncation)
            for field in OPTIONAL_FIELDS:
                if field in controls and getattr(body, field) is not None:
                    params[field] = getattr(body, field)
            if loaded.modality == "text":
                params["decoding"] = decoding_of(req)
            if loaded.precision != "fp32":  # a re-run needs it to give the same output
                params["precision"] = loaded.precision
            enc = loaded.handler.encode(item, params, oid)
            path = s.outputs_dir / f"{oid}.{enc.ext}"
            write_output(path, enc.content)
            records.append(svc.provenance.record(
                oid, who=who, run=body.run, modality=loaded.modality, params=params,
                content=enc.content, phash_hex=enc.phash, watermarked=enc.watermarked,
                path=str(path),
            ))  # fmt: skip
            outputs.append(S.OutputInfo(
                id=oid, url=f"/v1/outputs/{oid}/content", media_type=enc.media_type,
                params=params, watermarked=enc.watermarked,
                data_base64=base64.b64encode(enc.content).decode() if body.response == "base64" else None,
                text=enc.preview if isinstance(enc.preview, str) else None,
                rows=enc.preview if isinstance(enc.preview, list) else None,
                spectrogram_url=f"/v1/outputs/{oid}/spectrogram.png" if enc.ext == "wav" else None,
            ))  # fmt: skip
        svc.provenance.add_many(records)  # one transaction, before the caller sees anything
        return S.GenerateResponse(run=body.run, modality=loaded.modality, step=loaded.step,
                                  outputs=outputs).model_dump_json().encode()  # fmt: skip

    def record_out(rec: Record) -> S.OutputRecord:
        d = rec.to_dict()
        d.pop("path")
        return S.OutputRecord(**d, url=f"/v1/outputs/{rec.id}/content")

    @r.get("/outputs", response_model=S.OutputList, tags=["outputs"])
    def outputs(
        q: Annotated[str | None, Query(max_length=200)] = None,
        run: Annotated[str | None, Query(pattern=S.NAME_PATTERN)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    ) -> S.OutputList:
        items, total = svc.provenance.search(q, run, limit, offset)
        return S.OutputList(total=total, items=[record_out(x) for x in items])

    def record_or_404(oid: str) -> Record:
        rec = svc.provenance.get(oid)
        if rec is None:
            raise HTTPException(404, f"no output '{oid}'")
        return rec

    @r.get("/outputs/{oid}", response_model=S.OutputRecord, tags=["outputs"])
    def output(oid: OutputId) -> S.OutputRecord:
        return record_out(record_or_404(oid))

    @r.get("/outputs/{oid}/content", tags=["outputs"],
           responses={200: {"content": {m: {} for m in MEDIA.values()}}})  # fmt: skip
    def output_content(oid: OutputId) -> FileResponse:
        rec = record_or_404(oid)
        path = Path(rec.path)
        if not path.is_file():
            raise HTTPException(410, f"output '{oid}' was recorded but its file is gone")
        return FileResponse(path, media_type=MEDIA.get(path.suffix, "application/octet-stream"))

    @r.get("/outputs/{oid}/spectrogram.png", tags=["outputs"],
           responses={200: {"content": {"image/png": {}}}})  # fmt: skip
    def output_spectrogram(oid: OutputId) -> Response:
        """The log-mel spectrogram of an audio output, drawn from its WAV."""
        import io

        import soundfile as sf
        import torch

        from genforge.core.audio import spectrogram_grid

        rec = record_or_404(oid)
        path = Path(rec.path)
        if rec.modality != "audio" or path.suffix != ".wav":
            raise HTTPException(404, f"output '{oid}' is not audio")
        if not path.is_file():
            raise HTTPException(410, f"output '{oid}' was recorded but its file is gone")
        wave, rate = sf.read(io.BytesIO(path.read_bytes()), dtype="float32")
        title = (
            rec.params.get("class") or f"seed {rec.params.get('seed')} #{rec.params.get('index')}"
        )
        png = spectrogram_grid(torch.from_numpy(wave)[None], rate, [str(title)], ncol=1)
        return Response(png, media_type="image/png")

    @r.post("/watermark/detect", response_model=S.DetectResponse, tags=["provenance"])
    def watermark_detect(
        file: Annotated[UploadFile, File(description="an image, or any file genforge wrote")],
    ) -> S.DetectResponse:
        content = file.file.read()
        if not content:
            raise GenforgeError("empty upload")
        rec = svc.provenance.by_sha256(hashlib.sha256(content).hexdigest())
        if rec is not None:  # exact bytes of any output (text, CSV, WAV, PNG)
            d = Detection(True, "sha256", rec).to_dict()
        else:
            _check_image_pixels(content, s.max_pixels)
            d = detect(content, svc.provenance).to_dict()
        rec = svc.provenance.get(d["record"]["id"]) if d["record"] else None
        d["record"] = record_out(rec) if rec else None
        return S.DetectResponse(**d)

    @r.post("/watermark/detect-text", response_model=S.DetectTextResponse, tags=["provenance"])
    def watermark_detect_text(body: S.DetectTextRequest) -> S.DetectTextResponse:
        """Exact text in the provenance store (sha256), else the green-list watermark test
        (z > 4) against `run`, or against the runs that wrote watermarked text."""
        if len(body.text) > s.max_detect_chars:
            raise LimitError(f"text is over {s.max_detect_chars} characters")
        rec = svc.provenance.by_sha256(hashlib.sha256(body.text.encode("utf-8")).hexdigest())
        if rec is not None:
            return S.DetectTextResponse(
                found=True, evidence="sha256", record=record_out(rec), tests=[],
                message=f"genforge output {rec.id} of run {rec.run} at {rec.created} "
                "(evidence: sha256)",
            )  # fmt: skip
        if body.run is not None:
            names = [body.run]
        else:
            names = svc.provenance.watermarking_runs("text", limit=s.max_detect_runs)
        tests = []
        for name in names:
            run = Run(s.runs_dir / name)
            if not (run.model_dir / "meta.json").exists():
                if body.run is not None:
                    raise HTTPException(404, f"no trained run '{name}'")
                continue  # deleted since it wrote watermarked text
            loaded = svc.cache.get(run)
            if loaded.modality != "text":
                raise GenforgeError(f"run '{name}' is a {loaded.modality} run, not a text run")
            from genforge.generate.text import detect_watermark

            with loaded.model.lock:
                d = detect_watermark(loaded.model.pipe, body.text)
            tests.append(S.TextWatermark(
                run=name, z_score=d["z_score"], p_value=d["p_value"],
                green_fraction=d["green_fraction"], tokens_scored=int(d["tokens_scored"]),
                watermarked=bool(d["watermarked"]),
            ))  # fmt: skip
        hit = next((t for t in tests if t.watermarked), None)
        if hit is not None:
            msg = (f"watermark of run {hit.run} (z = {hit.z_score:.1f}, p = {hit.p_value:.2g}, "
                   f"{hit.tokens_scored} tokens scored; evidence: text-watermark)")  # fmt: skip
        elif tests:
            msg = "no genforge watermark (tested runs: " + ", ".join(t.run for t in tests) + ")"
        else:
            msg = "no genforge record of this text, and no run wrote watermarked text to test"
        return S.DetectTextResponse(found=hit is not None,
                                    evidence="text-watermark" if hit else None,
                                    message=msg, record=None, tests=tests)  # fmt: skip

    # Routes are matched in order and /generate is the hot path: try it first (a literal
    # path no other route takes, so the order cannot change which route answers).
    r.routes.sort(key=lambda route: getattr(route, "path", None) != "/generate")
    return r


def _last_logged_step(path: Path) -> int:
    """The step of the last complete metrics.jsonl record (reads only the file's tail)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4096))
            lines = f.read().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0


def write_output(path: Path, content: bytes) -> None:
    """Atomic (temp file + rename) but not fsynced: the provenance row is the durable part."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def _check_image_pixels(content: bytes, max_pixels: int) -> None:
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise GenforgeError("not a readable image") from None
    if w * h > max_pixels:
        raise LimitError(f"image has {w}x{h} pixels; the limit is {max_pixels}")


def _thumbnails(source: str, n: int) -> bytes:
    """A grid of the first `n` images of a dataset, 64 px (32 for embedded sets' own size)."""
    import io

    import torch

    from genforge.core.images import make_grid, to_pil
    from genforge.data import decode_image, is_embedded, load_images, scan_image_folder

    if is_embedded(source):
        images = load_images(source).images[:n]
    else:
        scan = scan_image_folder(source)
        c = scan.auto_channels()
        images = torch.stack([decode_image(e.path, 64, c) for e in scan.entries[:n]])
    buf = io.BytesIO()
    to_pil(make_grid(images, nrow=min(8, len(images)))).save(buf, format="PNG")
    return buf.getvalue()
