"""The Run: `runs/<name>/`, the one artifact every interface reads and writes.

config.yaml    resolved config        model/    weights (safetensors) + meta.json
state/         optimizer/EMA/RNG      samples/  PNG grids with generation parameters
metrics.jsonl  one record per log     tb/       TensorBoard events
README.md      model card             data_report.json
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from genforge.core.errors import GenforgeError
from genforge.core.io import write_text

RUNS_ENV = "GENFORGE_RUNS"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
_CONFIGS: dict[str, tuple[tuple[int, int, int], Any]] = {}  # config.yaml path -> (version, dict)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def runs_root(root: str | Path | None = None) -> Path:
    """Where runs live: `root`, else $GENFORGE_RUNS, else ./runs."""
    return Path(root or os.environ.get(RUNS_ENV) or "runs")


@dataclass
class Run:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    # -- layout ---------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def state_dir(self) -> Path:
        return self.path / "state"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def tb_dir(self) -> Path:
        return self.path / "tb"

    @property
    def card_path(self) -> Path:
        return self.path / "README.md"

    @property
    def best_dir(self) -> Path:
        return self.path / "best"

    @property
    def feedback_dir(self) -> Path:
        """feedback/round-N/model: the weights as they were before feedback round N."""
        return self.path / "feedback"

    def feedback_rounds(self) -> list[dict[str, Any]]:
        """The feedback rounds recorded in config.yaml, oldest first."""
        return list(self.read_config().get("feedback") or [])

    def before_feedback_dir(self) -> Path:
        """The weights before the latest feedback round (`--checkpoint before-feedback`)."""
        done = self.feedback_rounds()
        if not done:
            raise GenforgeError(f"run '{self.name}' has had no feedback round")
        return self.feedback_dir / f"round-{int(done[-1]['round'])}" / "model"

    @property
    def report_path(self) -> Path:
        return self.path / "report.html"

    @property
    def eval_path(self) -> Path:
        return self.path / "metrics.json"

    @property
    def data_report_path(self) -> Path:
        return self.path / "data_report.json"

    # -- contents -------------------------------------------------------------------------
    def read_config(self) -> dict[str, Any]:
        """The resolved config (a fresh dict; parsed once per file version, since a server
        asks for it on every request)."""
        try:
            st = self.config_path.stat()
        except FileNotFoundError:
            raise GenforgeError(f"{self.path} is not a genforge run (no config.yaml)") from None
        key = str(self.config_path.resolve())
        version = (st.st_mtime_ns, st.st_size, st.st_ino)
        hit = _CONFIGS.get(key)
        if hit is None or hit[0] != version:
            text = self.config_path.read_text(encoding="utf-8")
            hit = (version, yaml.load(text, Loader=_YAML_LOADER))
            _CONFIGS[key] = hit
        return copy.deepcopy(hit[1])

    def write_config(self, config: dict[str, Any]) -> None:
        write_text(self.config_path, yaml.safe_dump(config, sort_keys=False))

    def read_meta(self) -> dict[str, Any] | None:
        """Checkpoint metadata (step, model, spec) or None when no checkpoint was written yet."""
        p = self.model_dir / "meta.json"
        return json.loads(p.read_text()) if p.exists() else None

    def metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        out = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:  # a line cut by a crash: skip it, keep the rest
                    continue
        return out

    def truncate_metrics(self, step: int) -> None:
        """Drop records past `step` (logged after the checkpoint a resume starts from)."""
        records = self.metrics()
        if any(r.get("step", 0) > step for r in records):
            kept = [json.dumps(r) for r in records if r.get("step", 0) <= step]
            write_text(self.metrics_path, "".join(line + "\n" for line in kept))

    @property
    def step(self) -> int:
        meta = self.read_meta()
        return int(meta["step"]) if meta else 0


def check_run_name(name: str) -> str:
    if not _NAME.match(name):
        raise GenforgeError(
            f"invalid run name '{name}': use letters, digits, '.', '_' and '-' (no slashes or spaces)"
        )
    return name


def resolve_run(ref: str | Path, root: str | Path | None = None) -> Run:
    """Find a run by name (in the runs root) or by path; raise a clear error if missing."""
    ref_path = Path(ref)
    candidates = [ref_path] if ref_path.is_absolute() or "/" in str(ref) else []
    candidates += [runs_root(root) / str(ref), ref_path]
    for c in candidates:
        if (c / "config.yaml").exists():
            return Run(c)
    known = [r.name for r in list_runs(root)]
    hint = (
        f"; runs in {runs_root(root)}: {', '.join(known)}"
        if known
        else f"; {runs_root(root)} has no runs"
    )
    raise GenforgeError(f"no run '{ref}'{hint}")


def list_runs(root: str | Path | None = None) -> list[Run]:
    base = runs_root(root)
    if not base.is_dir():
        return []
    return sorted(
        (Run(p) for p in base.iterdir() if (p / "config.yaml").exists()), key=lambda r: r.name
    )


def new_run_path(name: str | None, default: str, root: str | Path | None = None) -> Path:
    """Path for a new run: an explicit name must be free; a default name gets -2, -3, ..."""
    base = runs_root(root)
    if name is not None:
        path = base / check_run_name(name)
        if path.exists():
            raise GenforgeError(
                f"run '{name}' already exists in {base}; continue it with --resume {name} "
                "or choose another --name"
            )
        return path
    path, k = base / default, 2
    while path.exists():
        path, k = base / f"{default}-{k}", k + 1
    return path
