"""Settings for the Hugging Face libraries (transformers, diffusers) that several layers load."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError


def quiet_transformers() -> None:
    """No download progress bars and only errors from transformers' logger: genforge loads
    local folders only, and its own messages say what happens."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def quiet_diffusers() -> None:
    """No loading progress bars and only errors from diffusers' logger (and transformers')."""
    from diffusers.utils import logging

    quiet_transformers()
    logging.disable_progress_bar()
    logging.set_verbosity_error()


# ---------------------------------------------------------------------------------------
# Local transformers causal LM folders (save_pretrained: config.json, safetensors, tokenizer)
# ---------------------------------------------------------------------------------------

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


def read_config_json(folder: Path) -> dict[str, Any] | None:
    """The folder's config.json as a dict; None when there is none or it is not JSON."""
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return cfg if isinstance(cfg, dict) else None


def is_causal_lm_config(cfg: dict[str, Any]) -> bool:
    """Whether a config.json describes a causal LM that AutoModelForCausalLM builds: its
    `architectures` name a causal-LM class (a bare GPT2Model has no LM head), or, without
    them, its `model_type` has one."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES as M

    names = {n for v in M.values() for n in ((v,) if isinstance(v, str) else v)}
    archs = cfg.get("architectures") or []
    if archs:
        return any(a in names for a in archs)
    return cfg.get("model_type") in M


def is_causal_lm_folder(path: str | Path) -> bool:
    """A folder whose config.json describes a causal LM (its weights are checked on load)."""
    cfg = read_config_json(Path(path)) if Path(path).is_dir() else None
    return cfg is not None and is_causal_lm_config(cfg)


def check_causal_lm_folder(path: str | Path) -> Path:
    """The folder, after the checks that need no loading (`check_model_folder`) for a causal
    LM."""
    return check_model_folder(path, is_causal_lm_config,
                              "a causal language model (AutoModelForCausalLM)")  # fmt: skip


def check_model_folder(
    path: str | Path, accepts: Callable[[dict], bool], kind: str,
    not_found: str = "no such model folder: {path}",
) -> Path:  # fmt: skip
    """A local transformers folder, after the checks that need no loading; a GenforgeError of
    one line names what is missing: the folder (`not_found`), config.json, a model that
    `accepts` its config (else "not `kind`"), safetensors weights (pickled .bin weights are
    never loaded), the tokenizer."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise GenforgeError(not_found.format(path=path))
    cfg = read_config_json(p)
    if cfg is None:
        raise GenforgeError(f"{path} is not a transformers model folder (no readable config.json)")
    if not accepts(cfg):
        found = ", ".join(cfg.get("architectures") or []) or cfg.get("model_type", "unknown")
        raise GenforgeError(f"{path} holds a {found}, not {kind}")
    if not any(p.glob("*.safetensors")):
        if any(p.glob("*.bin")) or any(p.glob("*.pt")):
            raise GenforgeError(f"{path} has only pickled weights (.bin); genforge loads "
                                "safetensors only: re-save with save_pretrained(folder, "
                                "safe_serialization=True)")  # fmt: skip
        raise GenforgeError(f"{path} has no weights (*.safetensors)")
    if not any((p / f).is_file() for f in TOKENIZER_FILES):
        raise GenforgeError(f"{path} has no tokenizer (tokenizer.json or tokenizer_config.json); "
                            "save it there with tokenizer.save_pretrained(folder)")  # fmt: skip
    return p


def load_causal_lm(path: str | Path) -> tuple[Any, Any]:
    """(model, tokenizer) of a local causal LM folder, from disk only (`local_files_only`),
    safetensors only, in eval mode on the CPU; every problem is a one-line GenforgeError."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = check_causal_lm_folder(path)
    quiet_transformers()
    try:
        tokenizer = AutoTokenizer.from_pretrained(p, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(p, local_files_only=True,
                                                     use_safetensors=True)  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GenforgeError(f"cannot load the causal LM in {path}: {first}") from None
    return model.eval(), tokenizer
