"""Evaluation: metrics per modality, feature extractors, memorization audit, quality gate,
report. `evaluate_run(run)` hands the run to its modality's evaluator (the "evaluator" handler
of its entry in `genforge.data.modalities.MODALITIES`; a LoRA run to `evaluate.lora`)."""

from __future__ import annotations

import inspect
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.core.run import Run, resolve_run
from genforge.evaluate.result import EvalResult, Metric, Section
from genforge.models import modality_of
from genforge.models.sd_lora import LORA_MODEL


def evaluate_run(run: Any, **options: Any) -> EvalResult:
    """Evaluate a Run (or its name/path, or a loaded pipeline) with its modality's evaluator;
    see that evaluator for the options (an option it does not take is a one-line error)."""
    run = getattr(run, "run", run)  # a pipeline holds its run
    if not isinstance(run, Run):
        run = resolve_run(run)
    cfg = run.read_config()
    if cfg.get("model") == LORA_MODEL:  # adapters of a pretrained folder: not in the registry
        from genforge.evaluate.lora import evaluate_lora

        kind, evaluator = LORA_MODEL, evaluate_lora
    else:
        modality = modality_of(cfg)
        kind, evaluator = modality.name, modality.handler("evaluator")
    params = inspect.signature(evaluator).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            valid = sorted(k for k in params if k != "run")
            raise GenforgeError(
                f"{', '.join(unknown)} do{'es' if len(unknown) == 1 else ''} not apply to "
                f"{kind} runs; their evaluation takes: {', '.join(valid)}"
            )
    return evaluator(run, **options)


__all__ = ["EvalResult", "Metric", "Section", "evaluate_run"]
