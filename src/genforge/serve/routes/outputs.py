"""/outputs: search the provenance store, one record, its file, an audio output's spectrogram."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import FileResponse

from genforge.safety.feedback import StoredRating
from genforge.safety.provenance import Record
from genforge.serve import schemas as S
from genforge.serve.deps import OutputId, Svc, Who, caller
from genforge.serve.services import Services

router = APIRouter(dependencies=[Depends(caller)])

MEDIA = {".png": "image/png", ".txt": "text/plain; charset=utf-8", ".csv": "text/csv",
         ".wav": "audio/wav", ".mp4": "video/mp4"}  # fmt: skip


def record_out(rec: Record, rating: StoredRating | None = None) -> S.OutputRecord:
    """A provenance record as the API shows it: no server path, the URL of its content, and
    the caller's rating when they gave one."""
    d = rec.to_dict()
    d.pop("path")
    mine = S.RatingOut(**rating.to_dict()) if rating is not None else None
    return S.OutputRecord(**d, url=f"/v1/outputs/{rec.id}/content", rating=mine)


def record_or_404(svc: Services, oid: str) -> Record:
    rec = svc.provenance.get(oid)
    if rec is None:
        raise HTTPException(404, f"no output '{oid}'")
    return rec


@router.get("/outputs", response_model=S.OutputList, tags=["outputs"])
def outputs(
    svc: Svc,
    who: Who,
    q: Annotated[str | None, Query(max_length=200)] = None,
    run: Annotated[str | None, Query(pattern=S.NAME_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> S.OutputList:
    items, total = svc.provenance.search(q, run, limit, offset)
    mine = svc.feedback.by_rater([x.id for x in items], who)
    return S.OutputList(total=total, items=[record_out(x, mine.get(x.id)) for x in items])


@router.get("/outputs/{oid}", response_model=S.OutputRecord, tags=["outputs"])
def output(svc: Svc, who: Who, oid: OutputId) -> S.OutputRecord:
    rec = record_or_404(svc, oid)
    return record_out(rec, svc.feedback.by_rater([oid], who).get(oid))


@router.get("/outputs/{oid}/content", tags=["outputs"],
            responses={200: {"content": {m: {} for m in MEDIA.values()}}})  # fmt: skip
def output_content(svc: Svc, oid: OutputId) -> FileResponse:
    rec = record_or_404(svc, oid)
    path = Path(rec.path)
    if not path.is_file():
        raise HTTPException(410, f"output '{oid}' was recorded but its file is gone")
    return FileResponse(path, media_type=MEDIA.get(path.suffix, "application/octet-stream"))


@router.get("/outputs/{oid}/spectrogram.png", tags=["outputs"],
            responses={200: {"content": {"image/png": {}}}})  # fmt: skip
def output_spectrogram(svc: Svc, oid: OutputId) -> Response:
    """The log-mel spectrogram of an audio output, drawn from its WAV."""
    import io

    import soundfile as sf
    import torch

    from genforge.core.audio import spectrogram_grid

    rec = record_or_404(svc, oid)
    path = Path(rec.path)
    if rec.modality != "audio" or path.suffix != ".wav":
        raise HTTPException(404, f"output '{oid}' is not audio")
    if not path.is_file():
        raise HTTPException(410, f"output '{oid}' was recorded but its file is gone")
    wave, rate = sf.read(io.BytesIO(path.read_bytes()), dtype="float32")
    title = rec.params.get("class") or f"seed {rec.params.get('seed')} #{rec.params.get('index')}"
    png = spectrogram_grid(torch.from_numpy(wave)[None], rate, [str(title)], ncol=1)
    return Response(png, media_type="image/png")
