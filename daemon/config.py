"""Presets: frozen dataclasses loaded from TOML.

A preset names a bundled model and how to play it::

    name = "bach"
    description = "Chorale-style continuations"

    [model]
    file = "bach-events.onnx"      # relative to the preset's folder (presets/ when bundled)

    [sampling]                     # any SamplingParams field
    temperature = 0.9
    top_p = 0.95
    key_root = "D"                 # or 0-11
    scale = "minor"                # or a list of pitch classes [0, 2, 3, ...]

    [midi]
    channel = 1                    # 1-16, as a musician counts
    prompt = "auto"                # which notes of a file a continuation hears

Every table and key is checked: an unknown one is refused with its name
(:class:`~daemon.errors.PresetError`), as is a value of the wrong type. Precedence is
command line > environment > preset file > defaults; this module handles the file and the
defaults, callers apply the command line with :func:`dataclasses.replace`.

Adding a section (``[respond]``, ``[accompany]``, ``[clock]``, ``[osc]`` later): write a frozen
dataclass with defaults, add a field of that type to :class:`Preset`, and, when a value needs
more than the generic type check (units, names), a ``from_toml(table, where)`` classmethod on
the dataclass. The loader finds sections through :class:`Preset`'s fields.

Preset names are plain names (``bach``, ``folk-jig``): no path separators, no ``..``.
``--preset NAME`` looks in ``$ANTIPHON_PRESETS_DIR`` (if set) and then in the bundled
``presets/`` package folder, so a non-editable install finds its presets and models.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from daemon.errors import PresetError
from daemon.sampling import SamplingError, SamplingParams, parse_key_root, parse_scale
from presets import PRESETS_DIR

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PRESETS_ENV = "ANTIPHON_PRESETS_DIR"
PRESET_SUFFIX = ".toml"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

PromptMode = Literal["auto", "top", "all"]


@dataclass(frozen=True)
class ModelSection:
    """``[model]``: the model file a preset plays.

    Attributes:
        file: path of the ``.onnx`` file; a relative path is relative to the preset's folder.
    """

    file: str = ""

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], where: str) -> ModelSection:
        built: ModelSection = _build(cls, table, where)
        if not built.file:
            raise PresetError(f"{where}: 'file' is required (the .onnx model this preset plays)")
        return built


@dataclass(frozen=True)
class MidiSection:
    """``[midi]``: where notes go.

    Attributes:
        channel: MIDI channel 0-15 inside (the TOML says 1-16, as a musician counts).
        prompt: which notes of a file a continuation hears: ``"top"`` the highest-pitched
            channel's top line (melodic models), ``"all"`` every pitched note (polyphonic
            models), ``"auto"`` decide from the model's metadata.
    """

    channel: int = 0
    prompt: PromptMode = "auto"

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], where: str) -> MidiSection:
        data = dict(table)
        if "channel" in data:
            channel = data["channel"]
            if isinstance(channel, bool) or not isinstance(channel, int) or not 1 <= channel <= 16:
                raise PresetError(f"{where}.channel must be a MIDI channel 1-16, got {channel!r}")
            data["channel"] = channel - 1
        return _build(cls, data, where)


def _sampling_from_toml(table: Mapping[str, Any], where: str) -> SamplingParams:
    data = dict(table)
    try:
        if isinstance(data.get("key_root"), str):
            data["key_root"] = parse_key_root(data["key_root"])
        if isinstance(data.get("scale"), str):
            data["scale"] = parse_scale(data["scale"])
        return _build(SamplingParams, data, where)
    except SamplingError as exc:
        raise PresetError(f"{where}: {exc}") from exc


@dataclass(frozen=True)
class Preset:
    """A whole preset. Each dataclass-typed field is a TOML table of the same name.

    Attributes:
        name: the preset's name (defaults to the file's stem).
        description: one line for listings.
        model: ``[model]``.
        sampling: ``[sampling]``.
        midi: ``[midi]``.
        path: the file it was read from (not a TOML key).
    """

    name: str = ""
    description: str = ""
    model: ModelSection = ModelSection()
    sampling: SamplingParams = field(default_factory=SamplingParams)
    midi: MidiSection = MidiSection()
    path: Path | None = field(default=None, metadata={"toml": False})

    @property
    def model_path(self) -> Path:
        """The model file, resolved against the preset's folder."""
        file = Path(self.model.file)
        if file.is_absolute() or self.path is None:
            return file
        return (self.path.parent / file).resolve()


# Sections whose dataclass is defined elsewhere get their converter here.
_SECTION_BUILDERS: dict[type, Any] = {SamplingParams: _sampling_from_toml}


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
    builder = _SECTION_BUILDERS.get(cls) or getattr(cls, "from_toml", None)
    if builder is not None:
        return builder(table, where)
    return _build(cls, table, where)


def preset_from_dict(data: Mapping[str, Any], path: Path | None = None) -> Preset:
    """Build a preset from parsed TOML (``path`` resolves the model file and names errors)."""
    where = str(path) if path is not None else "preset"
    unknown = [k for k in data if k not in {f.name for f in fields(Preset) if f.metadata.get("toml", True)}]
    if unknown:
        raise PresetError(f"{where}: unknown key or table {unknown[0]!r}; a preset has "
                          f"{', '.join(f.name for f in fields(Preset) if f.metadata.get('toml', True))}")
    try:
        preset: Preset = _build(Preset, data, "")
    except PresetError as exc:
        raise PresetError(f"{where}: {exc}") from exc
    name = preset.name or (path.stem if path is not None else "")
    return dataclasses.replace(preset, name=name, path=path)


def load_preset_file(path: str | Path) -> Preset:
    """Read a preset from a TOML file anywhere (its model path is relative to the file).

    Raises:
        PresetError: missing file, bad TOML, unknown keys, wrong types or values.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise PresetError(f"preset file {path} does not exist") from exc
    except OSError as exc:
        raise PresetError(f"cannot read preset file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path} is not valid TOML: {exc}") from exc
    return preset_from_dict(data, path.resolve())


def check_preset_name(name: str) -> str:
    """``name`` if it is a plain preset name; otherwise :class:`PresetError`."""
    if not name or "/" in name or "\\" in name or ".." in name or not _NAME_RE.match(name) \
            or name.endswith(PRESET_SUFFIX):
        raise PresetError(f"{name!r} is not a preset name; use a plain name like 'bach' "
                          "(no folders, no '..', no .toml)")
    return name


def preset_dirs(presets_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for presets, first match wins.

    ``presets_dir`` alone when given; else ``$ANTIPHON_PRESETS_DIR`` (if set), then the bundled
    :data:`presets.PRESETS_DIR`.
    """
    if presets_dir is not None:
        return [Path(presets_dir)]
    dirs = []
    env = os.environ.get(PRESETS_ENV)
    if env:
        dirs.append(Path(env))
    dirs.append(PRESETS_DIR)
    return dirs


def load_preset(name: str, presets_dir: str | Path | None = None) -> Preset:
    """Load the preset called ``name`` (``presets/NAME.toml``).

    Raises:
        PresetError: a name with path parts, no such preset (the message lists those there
            are), or a bad file.
    """
    check_preset_name(name)
    dirs = preset_dirs(presets_dir)
    for folder in dirs:
        candidate = folder / f"{name}{PRESET_SUFFIX}"
        if candidate.is_file():
            return load_preset_file(candidate)
    known = list_presets(presets_dir)
    raise PresetError(f"no preset called {name!r}; "
                      + (f"there are: {', '.join(known)}" if known else
                         f"none are installed (looked in {', '.join(map(str, dirs))})"))


def list_presets(presets_dir: str | Path | None = None) -> list[str]:
    """Names of the presets found, sorted."""
    names: set[str] = set()
    for folder in preset_dirs(presets_dir):
        if folder.is_dir():
            names.update(p.stem for p in folder.glob(f"*{PRESET_SUFFIX}") if _NAME_RE.match(p.stem))
    return sorted(names)


__all__ = [
    "MidiSection", "ModelSection", "Preset", "PresetError", "check_preset_name", "list_presets",
    "load_preset", "load_preset_file", "preset_dirs", "preset_from_dict",
]
