"""MIDI CC control of live parameters: bindings from a preset, and learn mode.

A :class:`CcBinding` says "CC number ``cc`` (on ``channel``, or any) drives parameter
``param``": the CC's value 0-127 is scaled onto the parameter's range (or onto ``low``-``high``
when given; ``low`` above ``high`` turns the knob round), onto its choices in order (mode,
scale, key, meter_denominator), and the result goes through :func:`daemon.control.params.validate`
like any other value. Channel lists (``accompany_channels``) cannot be driven by one CC.

Preset section (add ``cc: CcMapSection = CcMapSection()`` to :class:`daemon.control.presets.Preset`)::

    [cc]
    bindings = [
        { param = "temperature", cc = 74 },                         # any channel, full range
        { param = "density", cc = 1, channel = 2, low = 0.2, high = 0.8 },
    ]

Channels are 1-16 as a musician counts (0 or absent = any channel), converted once to 0-15.
CC 120-127 are channel mode messages (all notes off, reset controllers...) and cannot be bound.

Learn mode (:meth:`CcMapper.learn`, from ``/antiphon/learn <param>``): the next CC 0-119 that
arrives binds to the parameter on the channel it came on, replacing that parameter's earlier
bindings and whatever that CC and channel drove before; :func:`apply_control_change` reports it
with ``/antiphon/learned <param> <cc> <channel>``.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import mido

from daemon.control.events import SetParam
from daemon.control.live_state import LiveState
from daemon.control.params import (
    KEY_NAMES,
    MIDI_CHANNELS,
    MIDI_MAX,
    NO_KEY,
    Kind,
    ParamError,
    ParamSpec,
    show,
    spec,
    validate,
)
from daemon.errors import PresetError

log = logging.getLogger(__name__)

CONTROL_CHANGE = "control_change"  # mido's name for status 0xB0-0xBF
FIRST_MODE_CC = 120  # MIDI 1.0: CC 120-127 are channel mode messages, never a knob
BINDING_KEYS = ("param", "cc", "channel", "low", "high")
SECTION_KEYS = ("bindings",)


@dataclass(frozen=True)
class CcBinding:
    """CC ``cc`` on ``channel`` drives parameter ``param``.

    Attributes:
        param: a CC-mappable parameter of :data:`daemon.control.params.PARAMS`.
        cc: controller number 0-119.
        channel: MIDI channel 0-15 (inside form), or None for any channel.
        low: edge value CC 0 gives (numeric parameters only); None = the parameter's low end.
        high: edge value CC 127 gives; None = the parameter's high end.
    """

    param: str
    cc: int
    channel: int | None = None
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        p = spec(self.param)
        if not p.cc_mappable:
            raise ParamError(f"{self.param} is a list of channels and cannot be driven by one CC")
        if isinstance(self.cc, bool) or not isinstance(self.cc, int) or not 0 <= self.cc < FIRST_MODE_CC:
            raise ParamError(f"cc must be a controller number 0-{FIRST_MODE_CC - 1} "
                             f"(120-127 are channel mode messages), got {show(self.cc)}")
        if self.channel is not None and (isinstance(self.channel, bool) or not isinstance(self.channel, int)
                                         or not 0 <= self.channel < MIDI_CHANNELS):
            raise ParamError(f"channel must be 0-15 inside (1-16 in a preset), got {show(self.channel)}")
        for end in ("low", "high"):
            value = getattr(self, end)
            if value is None:
                continue
            if not _numeric(p):
                raise ParamError(f"{end} applies only to numeric parameters; {self.param} takes "
                                 f"{p.describe_range()}")
            validate(self.param, _snap(p, value))  # an end outside the parameter's range is refused

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "cc.bindings") -> CcBinding:
        """Build a binding from a preset table; ``channel`` there is 1-16, or 0 / absent for any.

        Raises:
            PresetError: an unknown key (named), a missing ``param`` or ``cc``, or a bad value.
        """
        if not isinstance(data, Mapping):
            raise PresetError(f"{where} must be a table like {{ param = \"temperature\", cc = 74 }}, "
                              f"got {show(data)}")
        unknown = [key for key in data if key not in BINDING_KEYS]
        if unknown:
            raise PresetError(f"unknown key {where}.{unknown[0]}; "
                              f"a CC binding takes: {', '.join(BINDING_KEYS)}")
        for required in ("param", "cc"):
            if required not in data:
                raise PresetError(f"{where} needs {required!r} (e.g. {{ param = \"temperature\", cc = 74 }})")
        channel = data.get("channel", 0)
        if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel <= MIDI_CHANNELS:
            raise PresetError(f"{where}.channel must be a MIDI channel 1-16 (0 = any), got {show(channel)}")
        try:
            return cls(param=data["param"], cc=data["cc"], channel=None if channel == 0 else channel - 1,
                       low=data.get("low"), high=data.get("high"))
        except ParamError as exc:
            raise PresetError(f"{where}: {exc}") from exc

    def value_for(self, cc_value: int) -> Any:
        """The internal parameter value CC value ``cc_value`` (0-127) stands for."""
        p = spec(self.param)
        fraction = min(max(cc_value, 0), MIDI_MAX) / MIDI_MAX
        if _numeric(p):
            assert p.low is not None and p.high is not None
            low = p.low if self.low is None else self.low
            high = p.high if self.high is None else self.high
            return validate(self.param, _snap(p, low + (high - low) * fraction))
        options = _options(p)
        index = min(len(options) - 1, int(fraction * len(options)))
        return validate(self.param, options[index])


def _numeric(p: ParamSpec) -> bool:
    return p.kind in (Kind.FLOAT, Kind.INT, Kind.CHANNEL) and not p.choices


def _snap(p: ParamSpec, value: float) -> float | int:
    return float(value) if p.kind is Kind.FLOAT else round(value)


def _options(p: ParamSpec) -> tuple[Any, ...]:
    if p.kind is Kind.KEY:
        return (NO_KEY, *KEY_NAMES)
    return p.choices


@dataclass(frozen=True)
class CcMapSection:
    """``[cc]`` in a preset: the CC bindings the daemon starts with.

    Attributes:
        bindings: the bindings, at most one per (cc, channel).
    """

    bindings: tuple[CcBinding, ...] = ()

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], where: str = "cc") -> CcMapSection:
        """Build the section from its TOML table (the loader in :mod:`daemon.control.presets` calls this).

        Raises:
            PresetError: an unknown key (named), a bad binding, or one CC and channel bound twice.
        """
        if not isinstance(table, Mapping):
            raise PresetError(f"{where} must be a table ([{where}]), got {show(table)}")
        unknown = [key for key in table if key not in SECTION_KEYS]
        if unknown:
            raise PresetError(f"unknown key {where}.{unknown[0]}; [{where}] takes: {', '.join(SECTION_KEYS)}")
        raw = table.get("bindings", [])
        if not isinstance(raw, list):
            raise PresetError(f"{where}.bindings must be a list of tables, got {show(raw)}")
        bindings = tuple(CcBinding.from_dict(item, f"{where}.bindings[{i}]") for i, item in enumerate(raw))
        seen: dict[tuple[int, int | None], str] = {}
        for binding in bindings:
            key = (binding.cc, binding.channel)
            if key in seen:
                where_ch = "any channel" if binding.channel is None else f"channel {binding.channel + 1}"
                raise PresetError(f"{where}: CC {binding.cc} on {where_ch} is bound twice "
                                  f"({seen[key]} and {binding.param}); keep one")
            seen[key] = binding.param
        return cls(bindings)

    from_dict = from_toml


@dataclass(frozen=True)
class CcOutcome:
    """What one CC did.

    Attributes:
        event: the parameter change it makes.
        learned: the binding it created, when it ended learn mode; else None.
    """

    event: SetParam
    learned: CcBinding | None = None


class CcMapper:
    """The live CC bindings and learn mode.

    Thread-safety: every method may be called from any thread (the OSC thread starts learning,
    the engine thread handles CCs); one lock guards the bindings.

    Args:
        bindings: the bindings to start with (e.g. ``preset.cc.bindings``).
    """

    def __init__(self, bindings: Iterable[CcBinding] = ()) -> None:
        self._bindings: dict[tuple[int, int | None], CcBinding] = {}
        for binding in bindings:
            self._bindings[(binding.cc, binding.channel)] = binding
        self._learning: str | None = None
        self._lock = threading.Lock()

    @property
    def learning(self) -> str | None:
        """The parameter waiting for a CC, or None."""
        with self._lock:
            return self._learning

    def bindings(self) -> tuple[CcBinding, ...]:
        """The bindings now, sorted by CC then channel (any channel first)."""
        with self._lock:
            return tuple(sorted(self._bindings.values(),
                                key=lambda b: (b.cc, -1 if b.channel is None else b.channel)))

    def set_bindings(self, bindings: Iterable[CcBinding]) -> None:
        """Replace every binding (a preset switch); learn mode is left as it was."""
        fresh = {(b.cc, b.channel): b for b in bindings}
        with self._lock:
            self._bindings = fresh

    def learn(self, param: str | None) -> None:
        """Bind the next CC that arrives to ``param``; None leaves learn mode.

        Raises:
            UnknownParamError: no such parameter.
            ParamError: the parameter cannot be driven by a CC.
        """
        if param is not None:
            p = spec(param)
            if not p.cc_mappable:
                raise ParamError(f"{param} is a list of channels and cannot be driven by one CC")
        with self._lock:
            self._learning = param

    def handle(self, cc: int, channel: int, value: int) -> CcOutcome | None:
        """Turn one control change into a parameter change, learning first if asked to.

        Args:
            cc: controller number 0-127.
            channel: MIDI channel 0-15.
            value: controller value 0-127.

        Returns:
            The outcome, or None when no binding covers this CC (or it is a channel mode message).
        """
        if not 0 <= cc < FIRST_MODE_CC:
            return None
        with self._lock:
            learned = None
            if self._learning is not None:
                learned = CcBinding(self._learning, cc, channel)
                self._bindings = {key: b for key, b in self._bindings.items()
                                  if b.param != learned.param and key != (cc, channel)}
                self._bindings[(cc, channel)] = learned
                self._learning = None
            binding = self._bindings.get((cc, channel)) or self._bindings.get((cc, None))
        if binding is None:
            return None
        return CcOutcome(SetParam(binding.param, binding.value_for(value)), learned)


class FeedbackSink(Protocol):
    """What :func:`apply_control_change` reports to (:class:`daemon.io.osc_feedback.OscFeedback` is one)."""

    def learned(self, param: str, cc: int, channel: int) -> bool:
        """Report a learned binding (channel 0-15)."""

    def param(self, name: str, value: Any) -> bool:
        """Report a parameter's new internal value."""


def apply_control_change(msg: mido.Message, mapper: CcMapper, state: LiveState,
                         feedback: FeedbackSink | None = None) -> SetParam | None:
    """What the engine does with an incoming control change: learn, map, apply, report.

    Args:
        msg: a mido message; anything but ``control_change`` is ignored.
        mapper: the CC bindings and learn mode.
        state: the live state the change is applied to.
        feedback: where ``/antiphon/learned`` and ``/antiphon/state/<param>`` go (None: nowhere).

    Returns:
        The applied change, for the engine to act on; None when the CC drives nothing or the
        change was refused (e.g. ``pitch_low`` above ``pitch_high``; logged at debug level, as a
        sweeping knob may produce many).
    """
    if msg.type != CONTROL_CHANGE:
        return None
    outcome = mapper.handle(msg.control, msg.channel, msg.value)
    if outcome is None:
        return None
    if outcome.learned is not None:
        log.info("learned: CC %d on channel %d drives %s",
                 msg.control, msg.channel + 1, outcome.learned.param)
        if feedback is not None:
            feedback.learned(outcome.learned.param, msg.control, msg.channel)
    try:
        state.apply(outcome.event)
    except ParamError as exc:
        log.debug("CC %d value %d not applied: %s", msg.control, msg.value, exc)
        return None
    if feedback is not None:
        feedback.param(outcome.event.name, outcome.event.value)
    return outcome.event


__all__ = [
    "FIRST_MODE_CC",
    "CcBinding",
    "CcMapSection",
    "CcMapper",
    "CcOutcome",
    "FeedbackSink",
    "apply_control_change",
]
