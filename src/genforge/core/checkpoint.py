"""Checkpoints without pickle: tensors in safetensors, structure in JSON, written atomically.

    model/model.safetensors   all networks (family state_dict)
    model/ema.safetensors     EMA copy of the sampling network (when EMA is on)
    model/meta.json           step, model name, image spec
    state/tensors.safetensors optimizer moments, RNG states
    state/state.json          step, optimizer/scheduler structure, data position

Both folders are staged in `.checkpoint.tmp/` and swapped in only when complete, so a crash or a
full disk keeps the previous checkpoint intact.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genforge.core.errors import GenforgeError
from genforge.core.io import replace_dir
from genforge.core.run import Run

# ---------------------------------------------------------------------------------------
# Nested state (optimizer.state_dict() etc.) <-> JSON skeleton + flat tensor dict
# ---------------------------------------------------------------------------------------


def split_tensors(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor in a nested dict/list by {"__tensor__": key}; collect tensors."""
    if isinstance(obj, torch.Tensor):
        key = prefix.strip(".")
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {
            "__dict__": [[k, split_tensors(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]
        }
    if isinstance(obj, list | tuple):
        return [split_tensors(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    return obj


def join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of `split_tensors` (dict keys keep their type, e.g. int param ids)."""
    if isinstance(obj, dict) and "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if isinstance(obj, dict) and "__dict__" in obj:
        return {k: join_tensors(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [join_tensors(v, tensors) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------
# Save / load
# ---------------------------------------------------------------------------------------


def save_checkpoint(
    run: Run,
    *,
    step: int,
    weights: dict[str, torch.Tensor],
    ema_weights: dict[str, torch.Tensor] | None,
    meta: dict[str, Any],
    state: dict[str, Any],
    extra: Callable[[Path], None] | None = None,
) -> None:
    """Write model/ and state/ for `step`; `state` may hold tensors anywhere inside.

    `extra(model_dir)` may add files to the staged model/ folder (a tokenizer, an HF
    `save_pretrained` copy); they are swapped in together with the weights.
    """
    stage = run.path / ".checkpoint.tmp"
    if stage.exists():
        shutil.rmtree(stage)
    try:
        (stage / "model").mkdir(parents=True)
        (stage / "state").mkdir()
        save_file(_contiguous(weights), stage / "model" / "model.safetensors")
        if ema_weights is not None:
            save_file(_contiguous(ema_weights), stage / "model" / "ema.safetensors")
        (stage / "model" / "meta.json").write_text(json.dumps({**meta, "step": step}, indent=2))
        if extra is not None:
            extra(stage / "model")
        tensors: dict[str, torch.Tensor] = {}
        skeleton = split_tensors({**state, "step": step}, "", tensors)
        save_file(tensors, stage / "state" / "tensors.safetensors")
        (stage / "state" / "state.json").write_text(json.dumps(skeleton))
    except OSError as e:
        shutil.rmtree(stage, ignore_errors=True)
        raise GenforgeError(
            f"cannot write checkpoint in {run.path}: {e.strerror or e}; previous checkpoint kept"
        ) from None
    # state first: a crash between the two swaps leaves model/ one checkpoint behind state/,
    # which load_state detects.
    replace_dir(stage / "state", run.state_dir)
    replace_dir(stage / "model", run.model_dir)
    shutil.rmtree(stage, ignore_errors=True)


def distinct_storage(sd: dict[str, Any]) -> dict[str, Any]:
    """A state dict whose tensors own their storage: tied weights (a shared embedding and
    output layer) share it, which safetensors refuses; later keys get their own copy."""
    seen: set[int] = set()
    out = dict(sd)
    for k, v in sd.items():
        if isinstance(v, torch.Tensor) and v.numel():
            ptr = v.untyped_storage().data_ptr()
            if ptr in seen:
                out[k] = v.clone()
            seen.add(ptr)
    return out


def _contiguous(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in d.items()}


def load_weights(run: Run, folder: Path | None = None) -> dict[str, torch.Tensor]:
    """All networks' weights, keyed "<network>.<param>" (from `folder`, default run/model)."""
    path = (folder or run.model_dir) / "model.safetensors"
    if not path.exists():
        raise GenforgeError(f"run '{run.name}' has no weights yet ({path} is missing)")
    return load_file(path)


def load_ema(run: Run, folder: Path | None = None) -> dict[str, torch.Tensor] | None:
    """EMA weights of the sampling network (same keys as `load_weights`), or None."""
    path = (folder or run.model_dir) / "ema.safetensors"
    return load_file(path) if path.exists() else None


def load_state(run: Run) -> dict[str, Any]:
    """Training state for --resume, checked to belong to the same step as the weights."""
    skeleton_path = run.state_dir / "state.json"
    if not skeleton_path.exists():
        raise GenforgeError(
            f"run '{run.name}' has no checkpoint to resume from ({skeleton_path} missing)"
        )
    tensors = load_file(run.state_dir / "tensors.safetensors")
    state = join_tensors(json.loads(skeleton_path.read_text()), tensors)
    meta = run.read_meta() or {}
    if meta.get("step") != state["step"]:
        raise GenforgeError(
            f"run '{run.name}': weights (step {meta.get('step')}) and training state "
            f"(step {state['step']}) disagree; the last checkpoint write was interrupted"
        )
    return state
