"""Evaluation: metrics per modality, feature extractors, memorization audit, quality gate,
report. `evaluate_run(run)` dispatches on the run's modality through `EVALUATORS`."""

from __future__ import annotations

import importlib
from typing import Any

from genforge.core.errors import unknown_choice
from genforge.evaluate.result import EvalResult, Metric, Section

# modality -> module with `evaluate_run(run, **options) -> EvalResult` (imported lazily: each
# modality pulls in its own heavy libraries)
EVALUATORS: dict[str, str] = {
    "image": "genforge.evaluate.image",
    "text": "genforge.evaluate.text",
}


def evaluate_run(run: Any, **options: Any) -> EvalResult:
    """Evaluate a Run with its modality's evaluator; see that module for the options."""
    modality = run.read_config().get("modality", "image")
    if modality not in EVALUATORS:
        raise unknown_choice("evaluator for modality", modality, EVALUATORS)
    module = importlib.import_module(EVALUATORS[modality])
    return module.evaluate_run(run, **options)


__all__ = ["EVALUATORS", "EvalResult", "Metric", "Section", "evaluate_run"]
