"""The live parameters: one table, and the validation every way in shares.

A *live* parameter is one a musician may change while Antiphon plays: over OSC
(``/antiphon/set/<name>``), with a MIDI CC (:mod:`daemon.control.cc_map`), or from a preset. This table,
:data:`PARAMS`, is the single source for all three, for the OSC address space and for the
README's address table (:func:`daemon.io.osc_addresses.address_table_markdown`).

Two forms of every value:

* the **edge** form, as a musician writes it: MIDI channels 1-16 (``channel_in`` 0 = omni),
  key names like ``"F#"`` or ``"none"``, scale names;
* the **internal** form the daemon uses, converted once here: channels 0-15 (omni is None), a
  key as a pitch class 0-11 (no key is None), scale and mode names in canonical lower case.

:func:`validate` takes an edge value and returns the internal one, or raises a
:class:`ParamError` subclass whose message says what was wrong and what is allowed
(:class:`UnknownParamError`, :class:`ParamTypeError`, :class:`ParamRangeError`).
:func:`to_edge` goes back, for status replies.

Relations between parameters (``pitch_low`` <= ``pitch_high``) are checked where the whole state
is known: :class:`daemon.control.live_state.LiveState`.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from daemon.errors import AntiphonError
from daemon.music.sampling import TEMPERATURE_RANGE, TOP_K_MAX, TOP_P_RANGE
from daemon.music.scales import AUTO_KEY, KEY_NAMES, NO_KEY, SCALES, SamplingError, key_name
from daemon.music.scales import parse_key as parse_any_key

MIDI_CHANNELS = 16  # MIDI 1.0: channels 1-16 at the edge, 0-15 inside
MIDI_MAX = 127  # highest 7-bit MIDI data value (pitch, velocity, CC value)
MAX_TRACK_CHANNELS = 8  # most accompaniment tracks a channel list may name
MAX_SHOWN_CHARS = 40  # a rejected value is shown in an error message up to this many characters

SCALE_ALIASES = {"pentatonic": "major-pentatonic"}  # extra names accepted for a scale
MIN_BPM, MAX_BPM = 20.0, 400.0  # every tempo: the internal clock, MIDI clock followed, offline files
MODES = ("respond", "accompany", "both", "restyle", "thru")
RESPOND_MODES = frozenset({"respond", "both"})  # the modes that answer phrases
ACCOMPANY_MODES = frozenset({"accompany", "both", "restyle"})  # the modes where the band plays bar by bar
# The styles a restyle model may make (training.restyle.families); "auto" is the model's own second style.
RESTYLE_STYLES = ("auto", "rock", "latin", "swing")
METER_DENOMINATORS = (1, 2, 4, 8, 16, 32)  # note values a time signature may count in
# A phrase VAE's attribute vectors, moved along live as /antiphon/set/attribute_<name> (the model file
# carries the directions, antiphon.attributes). An amount is in units of the stored vector: the mean code of the
# quarter of the training phrases highest in the attribute minus that of the lowest quarter.
ATTRIBUTE_PREFIX = "attribute_"
VAE_ATTRIBUTES: Mapping[str, str] = {
    "density": "more notes (+) or fewer (-)",
    "register": "higher (+) or lower (-)",
    "busyness": "more short notes (+) or longer ones (-)",
    "major": "toward major (+) or minor (-)",
}
ATTRIBUTE_RANGE = (-2.0, 2.0)
# Live density 0..1 maps onto the sampler's density factor DENSITY_SPAN ** (2 * (d - 0.5)):
# 0 -> 1/4 (gaps of a beat four times likelier), 0.5 -> 1 (as the model learned), 1 -> 4.
DENSITY_SPAN = 4.0


class ParamError(AntiphonError, ValueError):
    """A live parameter name or value that cannot be used."""


class UnknownParamError(ParamError):
    """A parameter name that is not in :data:`PARAMS`."""


class ParamTypeError(ParamError):
    """A value of the wrong type (a string for a number, a fraction for a whole number)."""


class ParamRangeError(ParamError):
    """A value of the right type outside the parameter's range or choices."""


class Kind(Enum):
    """How a parameter's value is written and checked."""

    FLOAT = "float"  # a finite number in [low, high]
    INT = "int"  # a whole number in [low, high], or one of ``choices`` when given
    CHOICE = "choice"  # one of ``choices`` (strings, case-insensitive)
    KEY = "key"  # a note name C..B (with # or b) or "none"; inside: pitch class 0-11 or None
    CHANNEL = "channel"  # MIDI channel 1-16 (0 = omni when low is 0); inside: 0-15 or None
    CHANNELS = "channels"  # 1-MAX_TRACK_CHANNELS MIDI channels 1-16; inside: a tuple of 0-15


class Renews(Enum):
    """What a change of a parameter renews in the engine (:class:`daemon.live.controls.Controls` asks)."""

    MODE = "mode"  # the models and parts playing (everything sounding is closed first)
    TEMPO = "tempo"  # the internal clock's tempo
    METER = "meter"  # the bar length of the grid
    SAMPLING = "sampling"  # the sampling parameters answers are drawn with
    ANSWER = "answer"  # an answer prepared in the silence is prepared again


_SAMPLE = frozenset({Renews.SAMPLING, Renews.ANSWER})


@dataclass(frozen=True)
class ParamSpec:
    """One live parameter.

    Attributes:
        name: the name in OSC addresses, presets and CC bindings.
        kind: how values are written and checked.
        default: the value before anything sets it, in edge form.
        help: what it does, for the README table and error messages.
        low: smallest edge value (FLOAT, INT, CHANNEL).
        high: largest edge value (FLOAT, INT, CHANNEL).
        choices: the allowed values (CHOICE, or INT restricted to a set), in edge form.
        unit: the unit of the number ("beats", "bars", "BPM"), empty when it has none.
        renews: what a change renews in the engine (nothing: it is read where it is used).
    """

    name: str
    kind: Kind
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    unit: str = ""
    renews: frozenset[Renews] = frozenset()

    @property
    def cc_mappable(self) -> bool:
        """Whether a single MIDI CC can drive this parameter (everything but channel lists)."""
        return self.kind is not Kind.CHANNELS

    @property
    def osc_type(self) -> str:
        """The OSC argument type(s), as the README table writes them."""
        return {
            Kind.FLOAT: "float", Kind.INT: "int", Kind.CHOICE: "string", Kind.KEY: "string",
            Kind.CHANNEL: "int", Kind.CHANNELS: f"int × 1-{MAX_TRACK_CHANNELS}",
        }[self.kind]

    def describe_range(self) -> str:
        """The allowed values in words, e.g. ``"0.05-5"``, ``"respond, accompany, both, thru"``."""
        if self.kind is Kind.KEY:
            return f"{NO_KEY}, {AUTO_KEY}, C, C#/Db, D, ... B"
        if self.kind is Kind.CHOICE:
            aliases = [f"{a} = {c}" for a, c in SCALE_ALIASES.items() if c in self.choices]
            return ", ".join(self.choices) + (f" ({'; '.join(aliases)})" if aliases else "")
        if self.choices:
            return ", ".join(_num(c) for c in self.choices)
        text = f"{_num(self.low)}{' to ' if self.low is not None and self.low < 0 else '-'}{_num(self.high)}"
        if self.kind is Kind.CHANNEL and self.low == 0:
            return f"{text} (0 = every channel)"
        if self.kind is Kind.CHANNELS:
            return f"1-{MAX_TRACK_CHANNELS} channels, each {text}"
        return text


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("mode", Kind.CHOICE, "respond", choices=MODES,
              renews=frozenset({Renews.MODE}),
              help="what Antiphon plays: respond answers each phrase you play, accompany plays bars along "
                   "with you, both does both, restyle plays each bar you play back a bar later in another "
                   "style, thru passes what you play straight out"),
    ParamSpec("temperature", Kind.FLOAT, 1.0, low=TEMPERATURE_RANGE[0], high=TEMPERATURE_RANGE[1],
              renews=_SAMPLE,
              help="randomness of the generated notes: below 1 safer, above 1 wilder"),
    ParamSpec("top_k", Kind.INT, 0, low=0, high=TOP_K_MAX,
              renews=_SAMPLE,
              help="draw only from the k likeliest choices at each step (0 = all)"),
    ParamSpec("top_p", Kind.FLOAT, 1.0, low=TOP_P_RANGE[0], high=TOP_P_RANGE[1],
              renews=_SAMPLE,
              help="draw only from the likeliest choices that together reach this probability (1 = all)"),
    ParamSpec("density", Kind.FLOAT, 0.5, low=0.0, high=1.0,
              renews=_SAMPLE,
              help="how busy generated parts are: 0 sparse, 0.5 as the model learned, 1 busy"),
    ParamSpec("morph", Kind.FLOAT, 1.0, low=0.0, high=1.0,
              renews=_SAMPLE,
              help="a phrase VAE answers from between your last two phrases: 0 the one before, 1 the one "
                   "just played (other models ignore it)"),
    *(ParamSpec(f"{ATTRIBUTE_PREFIX}{name}", Kind.FLOAT, 0.0, low=ATTRIBUTE_RANGE[0], high=ATTRIBUTE_RANGE[1],
                renews=_SAMPLE,
                help=f"a phrase VAE moves the code of your phrase along its {name} vector before decoding the "
                     f"answer: {effect}; 0 = not moved (other models ignore it)")
      for name, effect in VAE_ATTRIBUTES.items()),
    ParamSpec("memory", Kind.FLOAT, 0.0, low=0.0, high=1.0,
              renews=_SAMPLE,
              help="how much answers lean on what you played this session (LSTM, ABC, VAE; a memory of your phrases): "
                   "0 off, 0.3 measured best for the LSTM and ABC models, 0.9 for the VAE; /antiphon/forget clears it"),
    ParamSpec("answer_bars", Kind.INT, 2, low=1, high=32, unit="bars",
              renews=frozenset({Renews.ANSWER}),
              help="length of each answer"),
    ParamSpec("phrase_end_beats", Kind.FLOAT, 1.0, low=0.25, high=16.0, unit="beats",
              renews=frozenset({Renews.ANSWER}),
              help="silence after your last note that ends a phrase (and starts the answer)"),
    ParamSpec("hold_limit_beats", Kind.FLOAT, 8.0, low=1.0, high=64.0, unit="beats",
              help="a note held this long with no new note played stops holding the phrase open (a drone, "
                   "or a note-off that never came): the answer comes anyway"),
    ParamSpec("key", Kind.KEY, NO_KEY,
              renews=_SAMPLE,
              help="key of generated notes (sharps or flats: F#, Gb); auto = the key of the phrase played; "
                   "none = no key, every pitch allowed"),
    ParamSpec("scale", Kind.CHOICE, "major", choices=tuple(SCALES),
              renews=_SAMPLE,
              help="scale within the key (ignored while key is none)"),
    ParamSpec("pitch_low", Kind.INT, 0, low=0, high=MIDI_MAX, unit="MIDI note",
              renews=_SAMPLE,
              help="lowest note generated (60 = middle C); at most pitch_high"),
    ParamSpec("pitch_high", Kind.INT, MIDI_MAX, low=0, high=MIDI_MAX, unit="MIDI note",
              renews=_SAMPLE,
              help="highest note generated; at least pitch_low"),
    ParamSpec("channel_in", Kind.CHANNEL, 0, low=0, high=MIDI_CHANNELS,
              help="MIDI channel Antiphon listens to (0 = every channel)"),
    ParamSpec("channel_out", Kind.CHANNEL, 1, low=1, high=MIDI_CHANNELS,
              renews=frozenset({Renews.ANSWER}),
              help="MIDI channel answers are played on"),
    ParamSpec("accompany_channels", Kind.CHANNELS, (10, 2, 3), low=1, high=MIDI_CHANNELS,
              help="MIDI channels of the accompaniment's tracks, in the model's track order "
                   "(e.g. drums, bass, chords)"),
    ParamSpec("style", Kind.CHOICE, "auto", choices=RESTYLE_STYLES,
              help="the style restyle mode plays your bars in: rock, latin or swing with the bundled models "
                   "(auto = the preset's model's own: latin in restyle, swing in restyle-swing)"),
    ParamSpec("bpm", Kind.FLOAT, 120.0, low=MIN_BPM, high=MAX_BPM, unit="BPM",
              renews=frozenset({Renews.TEMPO}),
              help="tempo in quarter notes per minute, used only while no MIDI clock arrives "
                   "(the DAW's clock wins)"),
    ParamSpec("meter_numerator", Kind.INT, 4, low=1, high=32, unit="beats",
              renews=frozenset({Renews.METER, Renews.ANSWER}),
              help="beats in a bar (the 3 of 3/4), used only while no MIDI clock arrives"),
    ParamSpec("meter_denominator", Kind.INT, 4, choices=METER_DENOMINATORS,
              renews=frozenset({Renews.METER, Renews.ANSWER}),
              help="note value of those beats (the 4 of 3/4)"),
)

SPECS: Mapping[str, ParamSpec] = {spec.name: spec for spec in PARAMS}
""":data:`PARAMS` by name."""


def spec(name: str) -> ParamSpec:
    """The :class:`ParamSpec` called ``name``.

    Raises:
        UnknownParamError: no such parameter; the message suggests the closest name.
    """
    if not isinstance(name, str):
        raise UnknownParamError(f"a parameter name must be a string, got {show(name)}")
    found = SPECS.get(name)
    if found is None:
        close = difflib.get_close_matches(name, SPECS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownParamError(f"unknown parameter {show(name)}; {hint}parameters are: {', '.join(SPECS)}")
    return found


def show(value: Any) -> str:
    """``repr(value)`` cut to :data:`MAX_SHOWN_CHARS` characters, for error messages."""
    text = repr(value)
    if len(text) > MAX_SHOWN_CHARS:
        extra = f" ({len(value)} characters)" if isinstance(value, (str, bytes)) else ""
        text = text[:MAX_SHOWN_CHARS - 3] + "..." + extra
    return text


def _type_word(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (bytes, bytearray)):
        return "a blob"
    if value is None:
        return "nil"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, int):
        return "a whole number"
    return type(value).__name__


def _number(p: ParamSpec, value: Any) -> float:
    """``value`` as a finite float, or :class:`ParamTypeError`/:class:`ParamRangeError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamTypeError(f"{p.name} must be a number {p.describe_range()}, got {show(value)} "
                             f"({_type_word(value)})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamRangeError(f"{p.name} must be a finite number {p.describe_range()}, got {value}")
    return float(value)


def _whole(p: ParamSpec, value: Any) -> int:
    """``value`` as an int; a float is accepted when it is whole (Pd sends every number as a float)."""
    number = _number(p, value)
    if isinstance(value, int):
        return value
    if not number.is_integer():
        raise ParamTypeError(f"{p.name} must be a whole number {p.describe_range()}, got {_num(number)}")
    return int(number)


def _in_range(p: ParamSpec, value: float) -> None:
    assert p.low is not None and p.high is not None  # every numeric spec has both
    if not p.low <= value <= p.high:
        unit = f" {p.unit}" if p.unit else ""
        raise ParamRangeError(f"{p.name} must be {p.describe_range()}{unit}, got {_num(value)}")


def _text(p: ParamSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise ParamTypeError(f"{p.name} must be one of {p.describe_range()} (a string), got {show(value)} "
                             f"({_type_word(value)})")
    return value.strip()


def parse_key(text: str) -> int | str | None:
    """A key name as a pitch class 0-11, None for ``"none"``, or :data:`AUTO_KEY` (the one grammar:
    :func:`daemon.music.scales.parse_key`).

    Raises:
        ParamRangeError: not a key name.
    """
    try:
        return parse_any_key(text)
    except SamplingError as exc:
        raise ParamRangeError(f"key: {exc}") from exc


def _channel(p: ParamSpec, value: Any) -> int:
    number = _whole(p, value)
    _in_range(p, number)
    return number


def validate(name: str, value: Any) -> Any:
    """Check an edge value for parameter ``name`` and return its internal form.

    Args:
        name: a parameter in :data:`PARAMS`.
        value: the value as a musician writes it: a number, a string, or for
            ``accompany_channels`` a sequence of channels 1-16. Whole-number parameters accept a
            float with no fraction (``3.0``), as Pure Data sends every number as a float.

    Returns:
        The internal value: float, int, canonical lower-case name, key pitch class 0-11 or
        None, channel 0-15 or None (omni), or a tuple of channels 0-15.

    Raises:
        UnknownParamError: ``name`` is not a parameter.
        ParamTypeError: the value has the wrong type (a string for a number, 2.5 for a whole number).
        ParamRangeError: the value is outside the range or not one of the choices (NaN and
            infinity are out of every range).
    """
    p = spec(name)
    if p.kind is Kind.FLOAT:
        number = _number(p, value)
        _in_range(p, number)
        return number
    if p.kind is Kind.INT:
        whole = _whole(p, value)
        if p.choices:
            if whole not in p.choices:
                raise ParamRangeError(f"{p.name} must be one of {p.describe_range()}, got {whole}")
        else:
            _in_range(p, whole)
        return whole
    if p.kind is Kind.CHOICE:
        text = _text(p, value).lower()
        text = SCALE_ALIASES.get(text, text) if p.name == "scale" else text
        if text not in p.choices:
            close = difflib.get_close_matches(text, p.choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ParamRangeError(f"{p.name} must be one of {p.describe_range()}, got {show(value)}{hint}")
        return text
    if p.kind is Kind.KEY:
        return parse_key(_text(p, value))
    if p.kind is Kind.CHANNEL:
        channel = _channel(p, value)
        return None if channel == 0 else channel - 1
    # Kind.CHANNELS
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ParamTypeError(f"{p.name} must be a list of 1-{MAX_TRACK_CHANNELS} MIDI channels 1-16, "
                             f"got {show(value)} ({_type_word(value)})")
    if not 1 <= len(value) <= MAX_TRACK_CHANNELS:
        raise ParamRangeError(f"{p.name} takes 1-{MAX_TRACK_CHANNELS} channels, got {len(value)}")
    return tuple(_channel(p, item) - 1 for item in value)


def validate_args(name: str, args: Sequence[Any]) -> Any:
    """Check the argument list of one OSC ``/antiphon/set/<name>`` message; see :func:`validate`.

    Raises:
        ParamError: the wrong number of arguments (one, or 1-8 for a channel list), or a bad value.
    """
    p = spec(name)
    if p.kind is Kind.CHANNELS:
        return validate(name, tuple(args))
    if len(args) != 1:
        raise ParamTypeError(f"{p.name} takes exactly one value ({p.osc_type} {p.describe_range()}), "
                             f"got {len(args)}")
    return validate(name, args[0])


def to_edge(name: str, value: Any) -> Any:
    """The edge form of internal ``value`` of parameter ``name`` (inverse of :func:`validate`)."""
    p = spec(name)
    if p.kind is Kind.KEY:
        return key_name(value)
    if p.kind is Kind.CHANNEL:
        return 0 if value is None else value + 1
    if p.kind is Kind.CHANNELS:
        return tuple(channel + 1 for channel in value)
    return value


def edge_args(name: str, value: Any) -> list[Any]:
    """Internal ``value`` as a list of OSC arguments (a channel list is several ints)."""
    edge = to_edge(name, value)
    return list(edge) if isinstance(edge, tuple) else [edge]


def sampler_density(live: float) -> float:
    """The sampler's density factor (> 0, 1 = as learned) for a live density 0-1 (0.5 = as learned)."""
    return float(DENSITY_SPAN ** (2.0 * (min(max(live, 0.0), 1.0) - 0.5)))


def live_density(factor: float) -> float:
    """Inverse of :func:`sampler_density`, clamped to the live range 0-1."""
    if not factor > 0:
        return 0.0
    return min(1.0, max(0.0, 0.5 + math.log(factor) / (2.0 * math.log(DENSITY_SPAN))))


def live_attributes(values: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    """The attribute moves a live state asks for (``attribute_<name>`` values other than 0), by name."""
    return tuple((name, float(values[f"{ATTRIBUTE_PREFIX}{name}"])) for name in VAE_ATTRIBUTES
                 if values.get(f"{ATTRIBUTE_PREFIX}{name}"))


def defaults() -> dict[str, Any]:
    """Every parameter's default, internal form, in table order."""
    return {p.name: validate(p.name, p.default) for p in PARAMS}


def invalid_example(name: str) -> Any:
    """An edge value of the right type that parameter ``name`` refuses (for tests and docs)."""
    p = spec(name)
    if p.kind in (Kind.CHOICE, Kind.KEY):
        return "no-such-choice"
    if p.kind is Kind.CHANNELS:
        return (MIDI_CHANNELS + 1,)
    if p.choices:
        return max(p.choices) + 1
    assert p.high is not None
    return p.high + 1 if p.kind is not Kind.FLOAT else p.high * 2 + 1.0


__all__ = [
    "KEY_NAMES", "MODES", "NO_KEY", "PARAMS", "SPECS", "Kind", "ParamError", "ParamRangeError", "ParamSpec",
    "ParamTypeError", "Renews", "UnknownParamError", "defaults", "edge_args", "invalid_example", "key_name",
    "live_density", "parse_key", "sampler_density", "show", "spec", "to_edge", "validate", "validate_args",
]
