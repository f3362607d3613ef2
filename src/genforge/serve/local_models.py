"""Local model folders a server was given (`genforge serve --model-dir DIR`): listed beside the
runs' model families in GET /v1/models with their kind, and served by /v1/generate
(`{"model": NAME, ...}`) when they generate text.

Kinds: "causal-lm" (a transformers causal LM folder: text, with the decoding options of text
runs) and "text-to-image" (a diffusers pipeline folder: a prompt, steps and guidance, drawn as
`genforge generate image --model FOLDER` draws them). Paths come only from the server's
configuration, never from a request: a request names a folder by its name.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from genforge.core.errors import GenforgeError
from genforge.serve.generation import Loaded
from genforge.serve.handlers import LOCAL_CAUSAL_LM, LOCAL_TEXT_TO_IMAGE

LocalKind = Literal["causal-lm", "text-to-image"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class LocalModel:
    name: str  # the folder's name: what requests call it
    path: Path
    kind: LocalKind
    architecture: str  # from its config: GPT2LMHeadModel, StableDiffusionPipeline, ...

    @property
    def modality(self) -> str:
        return "text" if self.kind == "causal-lm" else "captioned-image"


def inspect_folder(folder: str | Path) -> LocalModel:
    """The kind of a local model folder, checked without loading it; a folder of no served
    kind (or missing files) is a one-line error naming the option."""
    import json

    from genforge.core.hf import check_causal_lm_folder, is_causal_lm_folder, read_config_json
    from genforge.generate.providers import is_pipeline_folder, missing_pipeline_files

    path = Path(folder).expanduser().resolve()
    where = f"--model-dir {folder}"
    if not path.is_dir():
        raise GenforgeError(f"{where}: no such folder")
    if not _NAME.match(path.name):
        raise GenforgeError(f"{where}: the folder name must be letters, digits, '.', '_', '-'")
    if is_causal_lm_folder(path):
        try:
            check_causal_lm_folder(path)
        except GenforgeError as e:
            raise GenforgeError(f"{where}: {e}") from None
        archs = (read_config_json(path) or {}).get("architectures") or ["causal LM"]
        return LocalModel(path.name, path, "causal-lm", str(archs[0]))
    if is_pipeline_folder(path):
        missing = missing_pipeline_files(path)
        if missing:
            raise GenforgeError(f"{where}: the pipeline lacks {', '.join(missing)}")
        cls = json.loads((path / "model_index.json").read_text()).get("_class_name", "pipeline")
        return LocalModel(path.name, path, "text-to-image", str(cls))
    raise GenforgeError(f"{where}: neither a transformers causal LM folder (config.json) nor a "
                        "diffusers pipeline folder (model_index.json)")  # fmt: skip


class LocalModels:
    """The configured folders by name; each is loaded on its first request and kept."""

    def __init__(self, folders: tuple[Path, ...], device: str = "cpu", precision: str = "fp32"):
        self.models: dict[str, LocalModel] = {}
        for f in folders:
            m = inspect_folder(f)
            if m.name in self.models:
                raise GenforgeError(f"--model-dir {f}: another folder is named {m.name!r}")
            self.models[m.name] = m
        self.device, self.precision = device, precision
        self._loaded: dict[str, Loaded] = {}
        self._guard = threading.Lock()

    def list(self) -> list[LocalModel]:
        return [self.models[k] for k in sorted(self.models)]

    def get(self, name: str) -> Loaded:
        """The loaded folder `name` (blocking: loads it the first time). KeyError: no such
        folder."""
        m = self.models[name]
        with self._guard:
            if name not in self._loaded:
                handler = LOCAL_CAUSAL_LM if m.kind == "causal-lm" else LOCAL_TEXT_TO_IMAGE
                model = handler.load(m.path, self.device)
                if m.kind == "causal-lm":
                    size = sum(p.numel() * p.element_size() for p in model.model.parameters())
                else:
                    size = model.parameter_bytes()
                self._loaded[name] = Loaded(None, m.modality, name, handler, model, 0, 0.0,
                                            size, self.precision, self.device)  # fmt: skip
            return self._loaded[name]
