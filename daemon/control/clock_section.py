"""``[clock]`` of a preset: tempo and meter, and which clock the daemon follows.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from daemon.control.params import ParamError, validate
from daemon.control.toml_schema import _build
from daemon.errors import PresetError

ClockSource = Literal["midi", "internal", "link"]
MIN_CLOCK_TIMEOUT_S, MAX_CLOCK_TIMEOUT_S = 0.2, 10.0  # a MIDI clock pulse comes every 10-125 ms


def _live_check(name: str, value: Any, where: str) -> None:
    try:
        validate(name, value)
    except ParamError as exc:
        raise PresetError(f"{where}: {exc}") from exc


@dataclass(frozen=True)
class ClockSection:
    """``[clock]``: tempo and meter while no MIDI clock arrives, and how to follow one.

    Attributes:
        bpm: quarter notes per minute of the internal clock (20-300).
        numerator: beats in a bar (the 3 of 3/4), also used under MIDI clock (which has no meter).
        denominator: note value of those beats (1, 2, 4, 8, 16 or 32).
        source: ``midi`` (follow MIDI clock when it arrives), ``internal`` (never), ``link`` (an
            Ableton Link session, from the daemon's start; MIDI clock is then not followed).
        follow_midi_clock: False is ``source = "internal"``.
        midi_clock_timeout_s: with no pulse for this many seconds, the internal clock takes over
            at the last tempo heard.
        link_start_stop: under Link, play only while the session plays (its start/stop sync).
    """

    bpm: float = 120.0
    numerator: int = 4
    denominator: int = 4
    source: ClockSource = "midi"
    follow_midi_clock: bool = True
    midi_clock_timeout_s: float = 1.0
    link_start_stop: bool = True

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], where: str) -> ClockSection:
        built: ClockSection = _build(cls, table, where)
        if built.source == "internal":
            built = dataclasses.replace(built, follow_midi_clock=False)
        _live_check("bpm", built.bpm, f"{where}.bpm")
        _live_check("meter_numerator", built.numerator, f"{where}.numerator")
        _live_check("meter_denominator", built.denominator, f"{where}.denominator")
        if not MIN_CLOCK_TIMEOUT_S <= built.midi_clock_timeout_s <= MAX_CLOCK_TIMEOUT_S:
            raise PresetError(f"{where}.midi_clock_timeout_s must be {MIN_CLOCK_TIMEOUT_S:g}-"
                              f"{MAX_CLOCK_TIMEOUT_S:g} seconds, got {built.midi_clock_timeout_s:g}")
        return built
