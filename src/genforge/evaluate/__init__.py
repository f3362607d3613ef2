"""Evaluation: metrics per modality, feature extractors, memorization audit, quality gate,
report. `evaluate_run(run)` hands the run to its modality's evaluator (the "evaluator" handler
of its entry in `genforge.data.modalities.MODALITIES`)."""

from __future__ import annotations

import inspect
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.core.run import Run, resolve_run
from genforge.evaluate.result import EvalResult, Metric, Section
from genforge.models import modality_of


def evaluate_run(run: Any, **options: Any) -> EvalResult:
    """Evaluate a Run (or its name/path, or a loaded pipeline) with its modality's evaluator;
    see that evaluator for the options (an option it does not take is a one-line error)."""
    run = getattr(run, "run", run)  # a pipeline holds its run
    if not isinstance(run, Run):
        run = resolve_run(run)
    modality = modality_of(run.read_config())
    evaluator = modality.handler("evaluator")
    params = inspect.signature(evaluator).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            valid = sorted(k for k in params if k != "run")
            raise GenforgeError(
                f"{', '.join(unknown)} do{'es' if len(unknown) == 1 else ''} not apply to "
                f"{modality.name} runs; their evaluation takes: {', '.join(valid)}"
            )
    return evaluator(run, **options)


__all__ = ["EvalResult", "Metric", "Section", "evaluate_run"]
