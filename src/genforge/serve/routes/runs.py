"""/runs: list, create (queues a training job), show, controls, metrics, cancel, resume, delete,
and the progress stream (server-sent events)."""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import StreamingResponse

from genforge.core.errors import GenforgeError
from genforge.core.run import Run, list_runs
from genforge.models import MODELS
from genforge.serve import schemas as S
from genforge.serve.datasets import LimitError
from genforge.serve.deps import RunName, Svc, Who, caller
from genforge.serve.files import RUN_FILES, last_logged_step
from genforge.serve.handlers import run_controls
from genforge.serve.jobs import TERMINAL
from genforge.serve.services import Services

router = APIRouter(dependencies=[Depends(caller)])


def run_info(svc: Services, name: str) -> S.RunInfo:
    """The run `name` as the API shows it (its folder and its latest job); 404 if neither."""
    s = svc.settings
    run = Run(s.runs_dir / name)
    job = svc.jobs.latest(name)
    if not run.config_path.exists() and job is None:
        raise HTTPException(404, f"no run '{name}'")
    cfg = run.read_config() if run.config_path.exists() else {}
    checkpoint = run.step if cfg else 0
    step = max(checkpoint, last_logged_step(run.metrics_path)) if cfg else 0
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


@router.get("/runs", response_model=list[S.RunInfo], tags=["runs"])
def runs(svc: Svc) -> list[S.RunInfo]:
    names = {run.name for run in list_runs(svc.settings.runs_dir)} | svc.jobs.runs()
    return [run_info(svc, n) for n in sorted(names)]


@router.post("/runs", response_model=S.RunInfo, status_code=201, tags=["runs"])
def create_run(svc: Svc, body: S.RunCreate, who: Who) -> S.RunInfo:
    from genforge.models import get_entry
    from genforge.train.launch import split_options

    s = svc.settings
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
            raise HTTPException(409, f"run '{body.name}' exists; resume it or pick another name")
        name = body.name
    else:
        base, k, name = f"{ds.name}-{body.model}", 2, f"{ds.name}-{body.model}"
        while name in taken:
            name, k = f"{base}-{k}", k + 1
    params = {"model": body.model, "data": ds.source, "dataset": ds.name,
              "steps": body.steps, "options": dict(body.options)}  # fmt: skip
    svc.jobs.add(name, params, who)
    svc.worker.wake()
    return run_info(svc, name)


@router.get("/runs/{name}", response_model=S.RunInfo, tags=["runs"])
def show_run(svc: Svc, name: RunName) -> S.RunInfo:
    return run_info(svc, name)


@router.get("/runs/{name}/controls", response_model=S.RunControls, tags=["runs", "generate"])
def show_controls(svc: Svc, name: RunName) -> S.RunControls:
    """The /v1/generate fields this run takes, with their choices and defaults."""
    from genforge.generate.diffusion import SAMPLERS
    from genforge.models import model_config

    s = svc.settings
    info_ = run_info(svc, name)
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


@router.get("/runs/{name}/metrics", tags=["runs"])
def run_metrics(svc: Svc, name: RunName) -> list[dict[str, Any]]:
    run_info(svc, name)
    return Run(svc.settings.runs_dir / name).metrics()


@router.post("/runs/{name}/cancel", response_model=S.RunInfo, tags=["runs"])
def cancel_run(svc: Svc, name: RunName) -> S.RunInfo:
    run_info(svc, name)
    job = svc.jobs.latest(name)
    if job is None or job.state in TERMINAL:
        raise HTTPException(409, f"run '{name}' has no queued or running job")
    svc.worker.cancel(job)
    return run_info(svc, name)


@router.post("/runs/{name}/resume", response_model=S.RunInfo, status_code=202, tags=["runs"])
def resume_run(svc: Svc, name: RunName, body: S.RunResume, who: Who) -> S.RunInfo:
    s = svc.settings
    info_ = run_info(svc, name)
    if info_.state in ("queued", "running"):
        raise HTTPException(409, f"run '{name}' is already {info_.state}")
    run = Run(s.runs_dir / name)
    if run.read_meta() is None:
        raise GenforgeError(f"run '{name}' has no checkpoint to resume from")
    steps = body.steps or info_.steps or 0
    if steps > s.max_steps:
        raise LimitError(f"steps {steps} is over this server's limit of {s.max_steps}")
    if run.step >= steps:
        raise GenforgeError(f"run '{name}' is at step {run.step} of {steps}; ask for more steps")
    cfg = run.read_config()
    params = {"model": cfg["model"], "data": cfg["data"]["source"], "steps": steps,
              "dataset": info_.data, "options": {}}  # fmt: skip
    svc.jobs.add(name, params, who, resume=True)
    svc.worker.wake()
    return run_info(svc, name)


@router.delete("/runs/{name}", status_code=204, tags=["runs"])
def delete_run(svc: Svc, name: RunName) -> Response:
    info_ = run_info(svc, name)
    if info_.state in ("queued", "running"):
        raise HTTPException(409, f"run '{name}' is {info_.state}; cancel it first")
    path = svc.settings.runs_dir / name
    svc.cache.drop(path)
    shutil.rmtree(path, ignore_errors=True)
    svc.jobs.delete_run(name)
    return Response(status_code=204)


@router.get("/runs/{name}/events", tags=["runs"],
            responses={200: {"content": {"text/event-stream": {}}}})  # fmt: skip
async def run_events(svc: Svc, request: Request, name: RunName) -> StreamingResponse:
    await asyncio.to_thread(run_info, svc, name)  # 404 before the stream starts

    async def stream():
        s = svc.settings
        sent, last_state, idle = 0, None, 0.0
        while True:
            info_ = await asyncio.to_thread(run_info, svc, name)
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
