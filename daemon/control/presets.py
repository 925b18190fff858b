"""Presets: frozen dataclasses loaded from TOML.

A preset names a bundled model and how to play it::

    name = "bach"
    description = "Chorale-style continuations"
    mode = "respond"               # respond | accompany | both | restyle | thru

    [model]
    file = "bach-events.onnx"      # relative to the preset's folder (presets/ when bundled);
                                   # an LSTM answers, a GAN accompanies (the file says which)

    [sampling]                     # any SamplingParams field
    temperature = 0.9
    top_p = 0.95
    key_root = "D"                 # or 0-11
    scale = "minor"                # or a list of pitch classes [0, 2, 3, ...]

    [midi]
    channel = 1                    # 1-16, as a musician counts: where answers are played
    prompt = "auto"                # which notes of a phrase the LSTM hears
    channel_in = 0                 # 0 = listen on every channel, else 1-16
    in_port = ""                   # "" opens the virtual port "Antiphon In"; else part of a port name
    out_port = ""
    ignore_output_channels = false # drop input on the channels Antiphon plays on
    echo_window_ms = 30            # drop input that repeats what Antiphon sent this recently (0 = off)

    [respond]                      # call and response (an LSTM [model])
    answer_bars = 2
    phrase_end_beats = 1.0         # silence (beats) that ends a phrase
    phrase_end = "silence"         # "silence", "bar" (first bar line in silence), "silence-then-bar"
    start = "beat"                 # the answer's first note: next "step", "beat" or "bar"

    [accompany]                    # the GAN plays along, one bar ahead
    model = "gan-grooves.onnx"     # when [model] is the LSTM (mode "both")
    channels = [10, 2, 3]          # per track of the model; [] = the model's own channels
    threshold = 0.5                # note-on probability a step needs (0-1)
    style = "auto"                 # mode "restyle": the style your bars come back in

    [clock]                        # used while no MIDI clock arrives
    bpm = 120.0
    numerator = 4
    denominator = 4
    source = "midi"                # follow MIDI clock when it comes; "internal"; "link" (Ableton Link)
    midi_clock_timeout_s = 1.0     # no pulse for this long: back to the internal clock

    [osc]                          # see daemon.control.osc_config.OscConfig
    port = 7400
    reply_port = 7401

    [cc]                           # see daemon.control.cc_map.CcMapSection
    bindings = [{ param = "temperature", cc = 74 }]

Every table and key is checked: an unknown one is refused with its name
(:class:`~daemon.errors.PresetError`), as is a value of the wrong type. Precedence is
command line > environment > preset file > defaults; this module handles the file and the
defaults, callers apply the command line with :func:`dataclasses.replace`.

Adding a section: write a frozen dataclass with defaults, add a field of that type to :class:`Preset`, and, when a value needs
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
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from daemon.control.cc_map import CcMapSection
from daemon.control.clock_section import ClockSection
from daemon.control.osc_config import OscConfig, OscConfigError
from daemon.control.params import (
    ATTRIBUTE_PREFIX,
    AUTO_KEY,
    SCALE_ALIASES,
    VAE_ATTRIBUTES,
    ParamError,
    key_name,
    live_density,
    validate,
)
from daemon.control.toml_schema import SECTION_BUILDERS, _build, _convert
from daemon.errors import PresetError
from daemon.music.sampling import SamplingError, SamplingParams
from daemon.music.scales import SCALES, parse_key_root, parse_scale
from presets import PRESETS_DIR

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib
DEFAULT_PRESET = "default"  # what `antiphon run` and `antiphon continue` use when no preset is named
PRESETS_ENV = "ANTIPHON_PRESETS_DIR"
PRESET_SUFFIX = ".toml"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
PromptMode = Literal["auto", "top", "all"]
Mode = Literal["respond", "accompany", "both", "restyle", "thru"]
PhraseEnd = Literal["silence", "bar", "silence-then-bar"]
AnswerStart = Literal["step", "beat", "bar"]
MAX_ECHO_WINDOW_MS = 1000.0  # an echo later than a second is no echo: it is the player
MAX_OUTPUT_LATENCY_MS = 80.0  # the engine hands notes over 100 ms ahead: compensation must fit inside it


def _midi_channel(value: Any, where: str, omni: bool = False) -> int | None:
    """A TOML channel 1-16 (0 = every channel where ``omni``) as 0-15 (None for every channel)."""
    low = 0 if omni else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 16:
        raise PresetError(f"{where} must be a MIDI channel {'0 (every channel) or ' if omni else ''}1-16, "
                          f"got {value!r}")
    return None if value == 0 else value - 1


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
            models), ``"auto"`` decide from the model's metadata. Live, ``"top"`` feeds the
            highest note of each onset.
        channel_in: the channel 0-15 the daemon listens to, None for every channel (TOML: 0).
        in_port: an existing MIDI input to read (a unique part of its name); "" opens the
            virtual port "Antiphon In". ``--in`` wins.
        out_port: an existing MIDI output to send to; "" opens "Antiphon Out". ``--out`` wins.
        ignore_output_channels: drop input on the channels Antiphon plays on (answers and
            accompaniment), for setups that route Antiphon's output back into its input.
        echo_window_ms: input that repeats a message Antiphon sent at most this many
            milliseconds earlier (same status, channel, key and velocity) is an echo of it and
            is dropped (0 = keep everything).
        output_latency_ms: how late the synth on the output sounds (ms): notes go this much early.
    """

    channel: int = 0
    prompt: PromptMode = "auto"
    channel_in: int | None = None
    in_port: str = ""
    out_port: str = ""
    ignore_output_channels: bool = False
    echo_window_ms: float = 30.0
    output_latency_ms: float = 0.0

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], where: str) -> MidiSection:
        data = dict(table)
        if "channel" in data:
            data["channel"] = _midi_channel(data["channel"], f"{where}.channel")
        channel_in = data.pop("channel_in", 0)
        built: MidiSection = _build(cls, data, where)
        if not 0 <= built.output_latency_ms <= MAX_OUTPUT_LATENCY_MS:
            raise PresetError(f"{where}.output_latency_ms must be 0-{MAX_OUTPUT_LATENCY_MS:g} ms, got {built.output_latency_ms:g}")
        if not 0 <= built.echo_window_ms <= MAX_ECHO_WINDOW_MS:
            raise PresetError(f"{where}.echo_window_ms must be 0-{MAX_ECHO_WINDOW_MS:g} ms, "
                              f"got {built.echo_window_ms:g}")
        return dataclasses.replace(built, channel_in=_midi_channel(channel_in, f"{where}.channel_in", omni=True))


def _live_check(name: str, value: Any, where: str) -> Any:
    """``value`` if live parameter ``name`` accepts it (edge form), else :class:`PresetError`."""
    try:
        validate(name, value)
    except ParamError as exc:
        raise PresetError(f"{where}: {exc}") from exc
    return value


@dataclass(frozen=True)
class RespondSection:
    """``[respond]``: call and response with an LSTM.

    Attributes:
        answer_bars: bars each answer lasts (1-32).
        phrase_end_beats: silence, in beats (quarter notes), after the last sounding note that
            ends a phrase (0.25-16). Notes held by the sustain pedal are sounding.
        phrase_end: ``"silence"`` the phrase ends after ``phrase_end_beats`` of silence;
            ``"bar"`` at the first bar line reached in silence; ``"silence-then-bar"`` at the
            first bar line once the silence has lasted ``phrase_end_beats``.
        start: where the answer's first note sounds: the next grid ``"step"``, ``"beat"`` or
            ``"bar"`` at or after the phrase end.
        hold_limit_beats: a note held this long, in beats, with no new note played stops
            holding the phrase open (1-64; a drone, or a note-off that never came).
    """

    answer_bars: int = 2
    phrase_end_beats: float = 1.0
    hold_limit_beats: float = 8.0
    phrase_end: PhraseEnd = "silence"
    start: AnswerStart = "beat"

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], where: str) -> RespondSection:
        built: RespondSection = _build(cls, table, where)
        _live_check("answer_bars", built.answer_bars, f"{where}.answer_bars")
        _live_check("phrase_end_beats", built.phrase_end_beats, f"{where}.phrase_end_beats")
        _live_check("hold_limit_beats", built.hold_limit_beats, f"{where}.hold_limit_beats")
        return built


@dataclass(frozen=True)
class AccompanySection:
    """``[accompany]``: the GAN that plays along.

    Attributes:
        model: a GAN ``.onnx`` file (relative to the preset's folder) for presets whose
            ``[model]`` is the LSTM (mode ``both``); "" when ``[model]`` is the GAN itself.
        channels: MIDI channels 0-15 of the model's tracks, in its track order (TOML: 1-16);
            empty = the channels the model was trained with.
        threshold: a step sounds when the model's probability for it is above this (0-1 exclusive);
            the live ``density`` moves it.
        style: the style mode ``restyle`` plays the bars in (the live ``style``).
    """

    model: str = ""
    channels: tuple[int, ...] = ()
    threshold: float = 0.5
    style: str = "auto"

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], where: str) -> AccompanySection:
        data = dict(table)
        channels = data.pop("channels", [])
        built: AccompanySection = _build(cls, data, where)
        if not isinstance(channels, list):
            raise PresetError(f"{where}.channels must be a list of MIDI channels 1-16, got {channels!r}")
        if channels:
            _live_check("accompany_channels", tuple(channels), f"{where}.channels")
        inside = tuple(_midi_channel(c, f"{where}.channels") for c in channels)
        if not 0 < built.threshold < 1:
            raise PresetError(f"{where}.threshold must be between 0 and 1 (exclusive), got {built.threshold:g}")
        _live_check("style", built.style, f"{where}.style")
        return dataclasses.replace(built, channels=tuple(c for c in inside if c is not None))


def _osc_from_toml(table: Mapping[str, Any], where: str) -> OscConfig:
    try:
        return OscConfig.from_toml(table, where)
    except OscConfigError as exc:
        raise PresetError(str(exc)) from exc
    except TypeError as exc:  # a value of a type the dataclass cannot hold
        raise PresetError(f"{where}: {exc}") from exc


def _attributes(table: Any, where: str) -> tuple[tuple[str, float], ...]:
    """``attributes = { density = 1.0, ... }`` (a phrase VAE's moves) as (name, amount) pairs."""
    if not isinstance(table, Mapping):
        raise PresetError(f"{where} must be a table of amounts, e.g. {{ density = 1.0 }}, got {table!r}")
    unknown = sorted(set(table) - set(VAE_ATTRIBUTES))
    if unknown:
        raise PresetError(f"{where}: unknown attribute {unknown[0]!r}; the live attributes are "
                          f"{', '.join(VAE_ATTRIBUTES)}")
    return tuple((name, _convert(table[name], float, f"{where}.{name}")) for name in VAE_ATTRIBUTES if name in table)


def _sampling_from_toml(table: Mapping[str, Any], where: str) -> SamplingParams:
    data = dict(table)
    try:
        if isinstance(data.get("key_root"), str) and data["key_root"].strip().lower() == AUTO_KEY:
            data["key_root"], data["follow_key"] = None, True  # answer in the key of the phrase played
        elif isinstance(data.get("key_root"), str):
            data["key_root"] = parse_key_root(data["key_root"])
        if isinstance(data.get("scale"), str):
            data["scale"] = parse_scale(data["scale"])
        attributes = _attributes(data.pop("attributes", {}), f"{where}.attributes")
        return dataclasses.replace(_build(SamplingParams, data, where), attributes=attributes)
    except SamplingError as exc:
        raise PresetError(f"{where}: {exc}") from exc


@dataclass(frozen=True)
class Preset:
    """A whole preset. Each dataclass-typed field is a TOML table of the same name.

    Attributes:
        name: the preset's name (defaults to the file's stem).
        description: one line for listings.
        mode: what the daemon plays: ``respond``, ``accompany``, ``both`` or ``thru``.
        model: ``[model]``: an LSTM (answers) or a GAN (accompaniment).
        sampling: ``[sampling]``.
        midi: ``[midi]``.
        respond: ``[respond]``.
        accompany: ``[accompany]``.
        clock: ``[clock]``.
        osc: ``[osc]`` (command line and environment win).
        cc: ``[cc]``: MIDI CC bindings of live parameters.
        path: the file it was read from (not a TOML key).
    """

    name: str = ""
    description: str = ""
    mode: Mode = "respond"
    model: ModelSection = ModelSection()
    sampling: SamplingParams = field(default_factory=SamplingParams)
    midi: MidiSection = MidiSection()
    respond: RespondSection = RespondSection()
    accompany: AccompanySection = AccompanySection()
    clock: ClockSection = ClockSection()  # noqa: RUF009 (frozen: one shared default is safe)
    osc: OscConfig = field(default_factory=OscConfig)
    cc: CcMapSection = field(default_factory=CcMapSection)
    path: Path | None = field(default=None, metadata={"toml": False})

    @property
    def model_path(self) -> Path:
        """The model file, resolved against the preset's folder."""
        return self._resolve(self.model.file)

    @property
    def accompany_model_path(self) -> Path | None:
        """``[accompany] model``, resolved against the preset's folder, or None when not given."""
        return self._resolve(self.accompany.model) if self.accompany.model else None

    def _resolve(self, name: str) -> Path:
        file = Path(name)
        if file.is_absolute() or self.path is None:
            return file
        return (self.path.parent / file).resolve()


# Sections whose dataclass is defined elsewhere get their converter here.
SECTION_BUILDERS.update({SamplingParams: _sampling_from_toml, OscConfig: _osc_from_toml})


def live_values(preset: Preset) -> dict[str, Any]:
    """The live parameters a preset sets, in edge form (see :mod:`daemon.control.params`).

    A custom scale (a list of pitch classes with no name in :data:`daemon.music.scales.SCALES`)
    has no live form; the engine keeps it until ``scale`` or ``key`` is set live.

    Raises:
        PresetError: a value the preset allows but the live table does not (e.g. a temperature
            below 0.05), naming it.
    """
    sampling = preset.sampling
    values: dict[str, Any] = {
        "mode": preset.mode,
        "temperature": sampling.temperature,
        "top_k": sampling.top_k,
        "top_p": sampling.top_p,
        "density": live_density(sampling.density),
        "morph": sampling.morph,
        "memory": sampling.memory,
        "style": preset.accompany.style,
        **{f"{ATTRIBUTE_PREFIX}{name}": dict(sampling.attributes).get(name, 0.0) for name in VAE_ATTRIBUTES},
        "answer_bars": preset.respond.answer_bars,
        "phrase_end_beats": preset.respond.phrase_end_beats,
        "hold_limit_beats": preset.respond.hold_limit_beats,
        "key": AUTO_KEY if sampling.follow_key else key_name(sampling.key_root),
        "pitch_low": sampling.pitch_low,
        "pitch_high": sampling.pitch_high,
        "channel_in": 0 if preset.midi.channel_in is None else preset.midi.channel_in + 1,
        "channel_out": preset.midi.channel + 1,
        "bpm": preset.clock.bpm,
        "meter_numerator": preset.clock.numerator,
        "meter_denominator": preset.clock.denominator,
    }
    name = scale_name(sampling.scale)
    if name is not None:
        values["scale"] = name
    if preset.accompany.channels:
        values["accompany_channels"] = tuple(c + 1 for c in preset.accompany.channels)
    where = str(preset.path) if preset.path is not None else "preset"
    for key, value in values.items():
        try:
            validate(key, value)
        except ParamError as exc:
            raise PresetError(f"{where}: {exc} (live parameters have narrower ranges than the file format; "
                              "pick a value inside it)") from exc
    return values


def scale_name(scale: tuple[int, ...] | None) -> str | None:
    """The first name :data:`daemon.music.scales.SCALES` gives ``scale`` (None: no name, or no scale)."""
    if scale is None:
        return None
    for name, classes in SCALES.items():
        if classes == tuple(scale) and name not in SCALE_ALIASES:
            return name
    return None


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
    preset = dataclasses.replace(preset, name=name, path=path)
    if preset.mode in ("respond", "accompany", "both", "restyle") and not preset.model.file:
        raise PresetError(f"{where}: mode {preset.mode!r} plays a model, but the preset has no [model] table; "
                          "add [model] with file = \"NAME.onnx\" (an LSTM answers, a GAN accompanies)")
    live_values(preset)  # a value the live table refuses is refused now, by name
    return preset


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
