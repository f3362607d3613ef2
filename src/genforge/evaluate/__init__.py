"""Evaluation: metrics per modality, feature extractors, memorization audit, quality gate,
report. `evaluate_run(run)` dispatches on the run's modality through `EVALUATORS`."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from genforge.core.errors import GenforgeError, unknown_choice
from genforge.evaluate.result import EvalResult, Metric, Section

# modality -> module with `evaluate_run(run, **options) -> EvalResult` (imported lazily: each
# modality pulls in its own heavy libraries)
EVALUATORS: dict[str, str] = {
    "image": "genforge.evaluate.image",
    "captioned-image": "genforge.evaluate.image",  # text-to-image runs: images + captions
    "text": "genforge.evaluate.text",
    "table": "genforge.evaluate.table",
    "audio": "genforge.evaluate.audio",
}


def evaluate_run(run: Any, **options: Any) -> EvalResult:
    """Evaluate a Run (or its name/path, or a loaded pipeline) with its modality's evaluator;
    see that module for the options."""
    from genforge.core.run import Run, resolve_run

    run = getattr(run, "run", run)  # a pipeline holds its run
    if not isinstance(run, Run):
        run = resolve_run(run)
    modality = run.read_config().get("modality", "image")
    if modality not in EVALUATORS:
        raise unknown_choice("evaluator for modality", modality, EVALUATORS)
    module = importlib.import_module(EVALUATORS[modality])
    params = inspect.signature(module.evaluate_run).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            valid = sorted(k for k in params if k != "run")
            raise GenforgeError(
                f"{', '.join(unknown)} do{'es' if len(unknown) == 1 else ''} not apply to "
                f"{modality} runs; their evaluation takes: {', '.join(valid)}"
            )
    return module.evaluate_run(run, **options)


__all__ = ["EVALUATORS", "EvalResult", "Metric", "Section", "evaluate_run"]
