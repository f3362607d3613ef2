"""/generate: samples of a trained run, written to the outputs folder with provenance records.

The hot path of the server: app.py includes this router first.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.concurrency import run_in_threadpool

from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.serve import schemas as S
from genforge.serve.datasets import LimitError
from genforge.serve.deps import Svc, Who, caller
from genforge.serve.files import write_output
from genforge.serve.generation import Loaded, sample_direct
from genforge.serve.handlers import (
    OPTIONAL_FIELDS,
    decoding_of,
    run_controls,
    run_modality,
    serve_handler,
)
from genforge.serve.handlers import Request as GenRequest
from genforge.serve.services import Services
from genforge.serve.settings import Settings

router = APIRouter(dependencies=[Depends(caller)])


def check_n(s: Settings, n: int, limit_field: str) -> None:
    """LimitError when `n` is over the setting `limit_field` (max_n, max_rows)."""
    if n > getattr(s, limit_field):
        raise LimitError(f"n {n} is over this server's limit of {getattr(s, limit_field)}"
                         + (" rows" if limit_field == "max_rows" else ""))  # fmt: skip


def check_limits(s: Settings, body: S.GenerateRequest) -> None:
    """LimitError for a prompt, steps, best_of or max_new_tokens over this server's limits."""
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


@router.post("/generate", response_model=S.GenerateResponse, tags=["generate"])
async def generate(svc: Svc, body: S.GenerateRequest, who: Who) -> Response:
    # On the event loop: nothing that blocks. In a worker thread: the checks (a stat, a config
    # read, a model load, the first best-of request's quality scorer); on the batch worker
    # that sampled it: the forward pass and the encoding (`finish`).
    loaded, controls, seed, req = await run_in_threadpool(prepare, svc, body)

    def finish(raw: list[Any]) -> bytes:
        return encode_outputs(svc, body, who, loaded, controls, seed, req, raw)

    if svc.batcher is not None:
        content = await asyncio.wait_for(
            asyncio.wrap_future(svc.batcher.submit(loaded, req, finish)), timeout=300
        )
    else:
        content = await run_in_threadpool(lambda: finish(sample_direct(loaded, req)))
    # serialised once by pydantic-core (returning the model would validate it again)
    return Response(content, media_type="application/json")


def prepare(
    svc: Services, body: S.GenerateRequest
) -> tuple[Loaded, tuple[str, ...], int, GenRequest]:
    """The loaded run, its controls, the seed and the request to sample, after every check
    (blocking work: called in a worker thread)."""
    s = svc.settings
    check_limits(s, body)
    if body.model is not None:
        return prepare_local(svc, body)
    run = Run(s.runs_dir / body.run)
    # n's limit depends on the modality (rows vs images); without a run, the image limit.
    if not run.config_path.exists():
        check_n(s, body.n, "max_n")
        raise HTTPException(404, f"no run '{body.run}'")
    if not (run.model_dir / "meta.json").exists():
        check_n(s, body.n, serve_handler(run_modality(run)).max_n)
        raise HTTPException(409, f"run '{body.run}' has no checkpoint yet")
    loaded = svc.cache.get(run)  # parsed once per checkpoint: no per-request file reads
    check_n(s, body.n, loaded.handler.max_n)
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
        loaded.handler.check(loaded.model, req)  # may build the best-of scorer (seconds)
    return loaded, controls, seed, req


def prepare_local(
    svc: Services, body: S.GenerateRequest
) -> tuple[Loaded, tuple[str, ...], int, GenRequest]:
    """`prepare` for a local model folder named in the server's configuration (`--model-dir`):
    the request names it; its path never comes from the request."""
    if body.model not in svc.local_models.models:
        check_n(svc.settings, body.n, "max_n")
        raise HTTPException(404, f"no local model '{body.model}' (GET /v1/models)")
    loaded = svc.local_models.get(body.model)  # blocking: loads it the first time
    check_n(svc.settings, body.n, loaded.handler.max_n)
    controls = loaded.handler.controls
    for field in OPTIONAL_FIELDS:
        if getattr(body, field) is not None and field not in controls:
            raise GenforgeError(f"{field} does not apply to local model '{body.model}'; it "
                                f"takes {', '.join(controls)}")  # fmt: skip
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    req = GenRequest(n=body.n, seed=seed, **{f: getattr(body, f) for f in OPTIONAL_FIELDS})
    loaded.handler.check(loaded.model, req)
    return loaded, controls, seed, req


def encode_outputs(
    svc: Services,
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
        if body.model is not None:  # a local folder: no run, no training step
            params = {"local_model": body.model, "model": loaded.model_name, "seed": seed,
                      "index": i, "n": body.n}  # fmt: skip
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
        path = svc.settings.outputs_dir / f"{oid}.{enc.ext}"
        write_output(path, enc.content)
        records.append(svc.provenance.record(
            oid, who=who, run=body.run or body.model, modality=loaded.modality, params=params,
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
    return S.GenerateResponse(run=body.run, model=body.model, modality=loaded.modality,
                              step=loaded.step, outputs=outputs).model_dump_json().encode()  # fmt: skip
