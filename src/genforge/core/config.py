"""Typed dataclass configs built from plain dicts (YAML, CLI `--set key=value`).

An unknown key is an error that lists the valid ones; a value is converted to the field's type
or rejected with a message naming the key (STYLE.md point 4).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin

from genforge.core.errors import GenforgeError

C = TypeVar("C")


def _convert(key: str, value: Any, tp: Any) -> Any:
    origin = get_origin(tp)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise GenforgeError(
                f"config key '{key}' must be one of {', '.join(map(repr, choices))}, got {value!r}"
            )
        return value
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        is_none = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if is_none and type(None) in get_args(tp):
            return None
        errors = []
        for arg in args:
            try:
                return _convert(key, value, arg)
            except GenforgeError as e:
                errors.append(str(e))
        raise GenforgeError(errors[0])
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.replace("(", "").replace(")", "").split(",") if v.strip()]
        (item_tp, *_) = get_args(tp) or (Any,)
        items = [_convert(key, v, item_tp) for v in value]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
            return False
        raise GenforgeError(f"config key '{key}' must be true or false, got {value!r}")
    if tp in (int, float, str):
        if tp is int and isinstance(value, float) and not value.is_integer():
            raise GenforgeError(f"config key '{key}' must be an integer, got {value!r}")
        try:
            return tp(value)
        except (TypeError, ValueError):
            raise GenforgeError(
                f"config key '{key}' must be {tp.__name__}, got {value!r}"
            ) from None
    return value


def from_dict(cls: type[C], values: dict[str, Any]) -> C:
    """Build dataclass `cls` from `values`, rejecting unknown keys and ill-typed values."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise GenforgeError(
            f"unknown config key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"for {cls.__name__}; valid keys: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {k: _convert(k, v, hints[k]) for k, v in values.items()}
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    """Plain-dict form of a dataclass config (tuples become lists, for YAML)."""
    out = dataclasses.asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Parse CLI `key=value` pairs; values are YAML scalars (`0.5`, `true`, `[1, 2]`)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise GenforgeError(f"expected key=value, got '{pair}'")
        key, raw = pair.split("=", 1)
        try:
            out[key.strip().replace("-", "_")] = yaml.safe_load(raw)
        except yaml.YAMLError:
            out[key.strip().replace("-", "_")] = raw
    return out
