"""Frozen dataclasses from TOML tables: types checked, unknown keys refused by name.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from daemon.errors import PresetError
from daemon.music.sampling import SamplingError

# Builders for section types that parse their own table (a type -> fn(table, where)); a type may
# also define ``from_toml``. The preset module registers its own (sampling, osc).
SECTION_BUILDERS: dict[type, Callable[[Mapping[str, Any], str], Any]] = {}


def _type_name(tp: Any) -> str:
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    return str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check and convert one TOML value to the annotated type ``tp``."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, where)
            except PresetError as exc:
                errors.append(str(exc))
        raise PresetError(errors[0] if len(errors) == 1 else f"{where} has the wrong type: {value!r}")
    if origin is Literal:
        if value not in get_args(tp):
            raise PresetError(f"{where} must be one of {', '.join(map(repr, get_args(tp)))}, got {value!r}")
        return value
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise PresetError(f"{where} must be a list, got {value!r}")
        item = args[0]
        return tuple(_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PresetError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PresetError(f"{where} must be a whole number, got {value!r}")
        return value
    if tp is bool or tp is str:
        if not isinstance(value, tp):
            raise PresetError(f"{where} must be {_type_name(tp)}, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str):
            raise PresetError(f"{where} must be a path string, got {value!r}")
        return Path(value)
    raise PresetError(f"{where}: cannot read a value of type {_type_name(tp)}")  # a programming slip


def _build(cls: type, table: Mapping[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, refusing unknown keys by name."""
    if not isinstance(table, Mapping):
        raise PresetError(f"{where} must be a table ([{where}]), got {table!r}")
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if f.init and f.metadata.get("toml", True)}
    unknown = [k for k in table if k not in known]
    if unknown:
        raise PresetError(f"unknown key {where}.{unknown[0]}; {where} takes: {', '.join(sorted(known))}")
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        tp = hints[key]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            kwargs[key] = _section(tp, value, f"{where}.{key}" if where else key)
        else:
            kwargs[key] = _convert(value, tp, f"{where}.{key}" if where else key)
    try:
        return cls(**kwargs)
    except SamplingError as exc:
        raise PresetError(f"{where}: {exc}") from exc


def _section(cls: type, table: Any, where: str) -> Any:
    if not isinstance(table, Mapping):
        raise PresetError(f"{where} must be a table ([{where}]), got {table!r}")
    builder = SECTION_BUILDERS.get(cls) or getattr(cls, "from_toml", None)
    if builder is not None:
        return builder(table, where)
    return _build(cls, table, where)
