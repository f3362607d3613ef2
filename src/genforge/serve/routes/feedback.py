"""Ratings: a person's verdict on an output (PUT/GET /outputs/{id}/rating) and a run's
feedback with filters (GET /runs/{run}/feedback). The rater is the caller: the API key's name,
or "local" when the server runs without keys."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.safety.feedback import Rating, StoredRating, UnknownOutput
from genforge.serve import schemas as S
from genforge.serve.deps import OutputId, RunName, Svc, Who, caller
from genforge.serve.routes.outputs import record_out

router = APIRouter(dependencies=[Depends(caller)])


def rating_out(s: StoredRating) -> S.RatingOut:
    return S.RatingOut(**s.to_dict())


@router.put("/outputs/{oid}/rating", response_model=S.RatingOut, tags=["feedback"])
def put_rating(svc: Svc, who: Who, oid: OutputId, body: S.RatingRequest) -> S.RatingOut:
    """Rate an output (replacing the caller's earlier rating of it); 404 for an unknown id."""
    try:
        rating = Rating(thumb=body.thumb, score=body.score, tags=body.tags, note=body.note)
        return rating_out(svc.feedback.rate(oid, who, rating))
    except UnknownOutput as e:
        raise HTTPException(404, str(e)) from None
    except GenforgeError as e:
        raise HTTPException(422, str(e)) from None


@router.get("/outputs/{oid}/rating", response_model=list[S.RatingOut], tags=["feedback"])
def get_ratings(svc: Svc, oid: OutputId) -> list[S.RatingOut]:
    """Every rater's rating of one output (an empty list when nobody rated it yet)."""
    if svc.provenance.get(oid) is None:
        raise HTTPException(404, f"no output '{oid}'")
    return [rating_out(s) for s in svc.feedback.of_output(oid)]


@router.get("/runs/{run}/feedback", response_model=S.FeedbackList, tags=["feedback"])
def run_feedback(
    svc: Svc,
    run: RunName,
    thumb: Literal["up", "down"] | None = None,
    min_score: Annotated[int | None, Query(ge=1, le=5)] = None,
    max_score: Annotated[int | None, Query(ge=1, le=5)] = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    rater: Annotated[str | None, Query(pattern=S.NAME_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> S.FeedbackList:
    """A run's ratings matching every filter given, with the run's totals and the agreement
    between its raters."""
    items, total = svc.feedback.for_run(run, thumb=thumb, min_score=min_score,
                                        max_score=max_score, tag=tag, rater=rater,
                                        limit=limit, offset=offset)  # fmt: skip
    return S.FeedbackList(total=total, summary=S.FeedbackSummary(**svc.feedback.summary(run)),
                          items=[rating_out(s) for s in items])  # fmt: skip


@router.post("/runs/{run}/review", response_model=S.ReviewBatch, tags=["feedback"])
def review_batch(svc: Svc, who: Who, run: RunName, body: S.ReviewRequest) -> S.ReviewBatch:
    """Draw a batch of the run's outputs for review, recorded like any output, the ones the
    current gate (learned if fitted, else automatic) is least sure about first."""
    from genforge.evaluate.review import draw_batch

    found = Run(svc.settings.runs_dir / run)
    if found.read_meta() is None:
        raise HTTPException(404, f"no trained run '{run}'")
    try:
        items = draw_batch(found, svc.provenance, body.n, body.seed, who, svc.settings.device,
                           body.prompt)  # fmt: skip
    except GenforgeError as e:
        raise HTTPException(400, str(e)) from None
    records = [svc.provenance.get(it.id) for it in items]
    return S.ReviewBatch(run=run, gate=items[0].gate if items else None,
                         items=[record_out(r) for r in records if r is not None])  # fmt: skip
