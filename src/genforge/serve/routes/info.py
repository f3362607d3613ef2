"""/info (version, auth, modalities, limits) and /models."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from genforge.core.version import __version__
from genforge.models import MODELS
from genforge.serve import schemas as S
from genforge.serve.deps import Svc, caller
from genforge.serve.handlers import served_modalities

router = APIRouter(dependencies=[Depends(caller)])


@router.get("/info", response_model=S.Info, tags=["info"])
def info(svc: Svc) -> S.Info:
    s = svc.settings
    return S.Info(
        version=__version__,
        auth=svc.auth_on,
        modalities={k: list(h.controls) for k, h in served_modalities().items()},
        limits={
            "max_n": s.max_n,
            "max_steps": s.max_steps,
            "max_best_of": s.max_best_of,
            "max_upload_mb": s.max_upload_mb,
            "max_json_kb": s.max_json_kb,
            "max_extracted_mb": s.max_extracted_mb,
            "max_datasets_mb": s.max_datasets_mb,
            "max_columns": s.max_columns,
            "max_files": s.max_files,
            "max_pixels": s.max_pixels,
            "max_prompt_chars": s.max_prompt_chars,
            "max_rows": s.max_rows,
            "max_new_tokens": s.max_new_tokens,
        },
    )


@router.get("/models", response_model=list[S.ModelInfo], tags=["info"])
def models(svc: Svc) -> list[S.ModelInfo]:
    """The model families genforge trains (kind "family"), then the local model folders this
    server was given (`--model-dir`; kind "causal-lm" or "text-to-image")."""
    families = [
        S.ModelInfo(
            name=k,
            description=e.description,
            modality=getattr(e, "modality", "image"),
            conditional=bool(e.model.get("conditional")),
        )
        for k, e in MODELS.items()
    ]
    local = [
        S.ModelInfo(
            name=m.name,
            description=f"local {m.kind} folder ({m.architecture})",
            modality=m.modality,
            conditional=False,
            kind=m.kind,
        )
        for m in svc.local_models.list()
    ]
    return families + local
