"""/watermark: is this file or text a genforge output (sha256, image watermark, text watermark)?"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, UploadFile

from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.safety.detect import Detection, detect, is_clip
from genforge.serve import schemas as S
from genforge.serve.datasets import LimitError
from genforge.serve.deps import Svc, caller
from genforge.serve.files import check_clip_pixels, check_image_pixels
from genforge.serve.routes.outputs import record_out
from genforge.serve.services import Services

router = APIRouter(dependencies=[Depends(caller)])


@router.post("/watermark/detect", response_model=S.DetectResponse, tags=["provenance"])
def watermark_detect(
    svc: Svc,
    file: Annotated[
        UploadFile, File(description="an image, a clip (MP4, WebM), or any file genforge wrote")
    ],
) -> S.DetectResponse:
    content = file.file.read()
    if not content:
        raise GenforgeError("empty upload")
    rec = svc.provenance.by_sha256(hashlib.sha256(content).hexdigest())
    if rec is not None:  # exact bytes of any output (text, CSV, WAV, PNG)
        d = Detection(True, "sha256", rec).to_dict()
    else:  # an image, or a clip (judged on its decoded key frames)
        check = check_clip_pixels if is_clip(content) else check_image_pixels
        check(content, svc.settings.max_pixels)
        d = detect(content, svc.provenance).to_dict()
    rec = svc.provenance.get(d["record"]["id"]) if d["record"] else None
    d["record"] = record_out(rec) if rec else None
    return S.DetectResponse(**d)


@router.post("/watermark/detect-text", response_model=S.DetectTextResponse, tags=["provenance"])
def watermark_detect_text(svc: Svc, body: S.DetectTextRequest) -> S.DetectTextResponse:
    """Exact text in the provenance store (sha256), else the green-list watermark test
    (z > 4) against `run`, or against the runs that wrote watermarked text."""
    s = svc.settings
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
    tests = text_watermark_tests(svc, names, explicit=body.run is not None, text=body.text)
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


def text_watermark_tests(
    svc: Services, names: list[str], *, explicit: bool, text: str
) -> list[S.TextWatermark]:
    """The green-list test of `text` against each text run in `names`. A run asked for
    (`explicit`) must exist; a run found in the records may have been deleted since."""
    tests = []
    for name in names:
        run = Run(svc.settings.runs_dir / name)
        if not (run.model_dir / "meta.json").exists():
            if explicit:
                raise HTTPException(404, f"no trained run '{name}'")
            continue  # deleted since it wrote watermarked text
        loaded = svc.cache.get(run)
        if loaded.modality != "text":
            raise GenforgeError(f"run '{name}' is a {loaded.modality} run, not a text run")
        from genforge.generate.text import detect_watermark

        with loaded.model.lock:
            d = detect_watermark(loaded.model.pipe, text)
        tests.append(S.TextWatermark(
            run=name, z_score=d["z_score"], p_value=d["p_value"],
            green_fraction=d["green_fraction"], tokens_scored=int(d["tokens_scored"]),
            watermarked=bool(d["watermarked"]),
        ))  # fmt: skip
    return tests
