"""/detect: generated, real or unknown, with the evidence (evaluate/detection.py), for one
uploaded image or text file: the same object `genforge detect --json` prints per file."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile

from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.serve import schemas as S
from genforge.serve.datasets import LimitError
from genforge.serve.deps import Svc, caller
from genforge.serve.files import check_image_pixels
from genforge.serve.services import Services

router = APIRouter(dependencies=[Depends(caller)])
_detectors: dict[tuple[str, int], object] = {}  # (run folder, step) -> DetectorScorer
_lock = threading.Lock()


@router.post("/detect", response_model=S.DetectVerdict, tags=["provenance"])
def detect(
    svc: Svc,
    file: Annotated[UploadFile, File(description="an image or a UTF-8 text file")],
    detector: Annotated[
        S.Name | None, Form(pattern=S.NAME_PATTERN, description="a detector run")
    ] = None,
    model: Annotated[
        S.Name | None,
        Form(pattern=S.NAME_PATTERN, description="a text run whose watermark to test for"),
    ] = None,
) -> S.DetectVerdict:
    """Judge one file: marks in the provenance store, the PNG chunk, the opt-out list, and
    with `detector` a trained detector (its measured error rates in the evidence), with
    `model` a text run's watermark. A file that cannot be read is a 400 saying why."""
    from genforge.evaluate.detection import Judge, kind_of

    content = file.file.read()
    if not content:
        raise GenforgeError("empty upload")
    name = file.filename or "upload"
    if kind_of(name, content) == "image":
        check_image_pixels(content, svc.settings.max_pixels)
    elif len(content) > 4 * svc.settings.max_detect_chars:
        raise LimitError(f"text is over {svc.settings.max_detect_chars} characters")
    judge = Judge(store=svc.provenance)
    if detector is not None:
        judge.detector = _detector(svc, detector)
    if model is not None:
        loaded = svc.cache.get(_trained(svc, model))
        if loaded.modality != "text":
            raise GenforgeError(f"run '{model}' is a {loaded.modality} run, not a text run")
        judge.text_run = loaded.model.pipe
        with loaded.model.lock:
            return _verdict(judge.judge(content, name))
    return _verdict(judge.judge(content, name))


def _verdict(j) -> S.DetectVerdict:
    """The judgement, or a 400 with why the file could not be judged (one file here)."""
    if j.error is not None:
        raise GenforgeError(f"{j.path}: {j.error}")
    return S.DetectVerdict(**j.to_dict())


def _trained(svc: Services, name: str) -> Run:
    run = Run(svc.settings.runs_dir / name)
    if not (run.model_dir / "meta.json").exists():
        raise HTTPException(404, f"no trained run '{name}'")
    return run


def _detector(svc: Services, name: str):
    """The detector run `name`, loaded once per checkpoint."""
    from genforge.evaluate.detector import DetectorScorer

    run = _trained(svc, name)
    key = (str(run.path), run.step)
    with _lock:
        if key not in _detectors:
            _detectors[key] = DetectorScorer(run, device="cpu")
        return _detectors[key]
