"""Diffusers pipeline folders on disk (model_index.json + one folder per component): what a
folder is, what it lacks, and what its weights hash to. No weights are loaded here."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_NO_WEIGHTS = ("scheduler", "tokenizer", "feature_extractor", "image_processor", "processor")


def is_pipeline_folder(path: str | Path) -> bool:
    return (Path(path) / "model_index.json").is_file()


def read_model_index(path: Path) -> dict[str, Any]:
    """model_index.json of a pipeline folder: {"_class_name": ..., component: [library, class]}."""
    return json.loads((path / "model_index.json").read_text())


def missing_pipeline_files(path: Path) -> list[str]:
    """What a diffusers pipeline folder lacks: component folders, configs, safetensors weights."""
    if not (path / "model_index.json").is_file():
        return ["model_index.json"]
    index = read_model_index(path)
    missing = []
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or value[0] is None:
            continue  # metadata, or an optional component left out (e.g. safety_checker)
        folder, cls = path / name, str(value[1])
        if not folder.is_dir():
            missing.append(f"{name}/")
            continue
        if any(k in cls.lower() for k in ("tokenizer", "processor", "extractor")):
            if not any(folder.iterdir()):
                missing.append(f"{name}/ (empty)")
        elif "scheduler" in cls.lower() or name in _NO_WEIGHTS:
            if not (folder / "scheduler_config.json").is_file():
                missing.append(f"{name}/scheduler_config.json")
        else:
            if not (folder / "config.json").is_file():
                missing.append(f"{name}/config.json")
            if not list(folder.glob("*.safetensors")):
                pickled = " (only pickle .bin weights, which genforge does not load)"
                missing.append(
                    f"{name}/*.safetensors{pickled if list(folder.glob('*.bin')) else ''}"
                )
    return missing


def weights_hash(path: Path) -> str:
    """sha256 over the folder's .safetensors files (relative path and content, sorted by path):
    it changes when any weight file changes, is added or removed."""
    total = hashlib.sha256()
    for f in sorted(path.rglob("*.safetensors")):
        digest = hashlib.sha256()
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        total.update(f"{f.relative_to(path).as_posix()}:{digest.hexdigest()}\n".encode())
    return total.hexdigest()
