"""The time grid: whole ticks per beat dividing MIDI clock's 24 ppqn, bars and meters.

Musical time is in *ticks*: whole steps of a grid with ``ticks_per_beat`` ticks per quarter-note
beat. Seconds appear only at the edges (:mod:`daemon.music.midi_files`).

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daemon.errors import RepresentationError

MIDI_CLOCK_PPQN = 24  # MIDI clock pulses per quarter note (MIDI 1.0 spec)
DRUM_CHANNEL = 9  # General MIDI percussion channel (channel 10 at the user-facing edge)
DEFAULT_VELOCITY = 80  # used where an encoding carries no velocity
OUTPUT_PPQ = 480  # resolution of written MIDI files; a multiple of every allowed grid


# MIDI status names as mido spells them.
NOTE_ON = "note_on"
NOTE_OFF = "note_off"


def is_note_on(msg: Any) -> bool:
    """A mido note-on with a velocity above 0 (velocity 0 is a note-off)."""
    return bool(msg.type == NOTE_ON and msg.velocity > 0)


def is_note_off(msg: Any) -> bool:
    """A mido note-off, or a note-on with velocity 0."""
    return bool(msg.type == NOTE_OFF or (msg.type == NOTE_ON and msg.velocity == 0))


@dataclass(frozen=True)
class Grid:
    """A time grid: whole ticks per quarter-note beat, and a meter.

    Attributes:
        ticks_per_beat: ticks per quarter note; must divide 24 so that every tick is a whole
            number of MIDI clock pulses (12: sixteenths are 3 ticks, eighth triplets 4).
        numerator: beats in a bar as the time signature writes them (the 3 of 3/4).
        denominator: note value of those beats (the 4 of 3/4); a power of two.
    """

    ticks_per_beat: int = 12
    numerator: int = 4
    denominator: int = 4

    def __post_init__(self) -> None:
        if self.ticks_per_beat < 1 or MIDI_CLOCK_PPQN % self.ticks_per_beat:
            raise RepresentationError(
                f"ticks_per_beat={self.ticks_per_beat} must divide MIDI clock's {MIDI_CLOCK_PPQN} ppqn "
                "(use 1, 2, 3, 4, 6, 8, 12 or 24)"
            )
        if self.numerator < 1 or self.denominator < 1 or self.denominator & (self.denominator - 1):
            raise RepresentationError(f"time signature {self.numerator}/{self.denominator} is not valid")
        if (self.ticks_per_beat * self.numerator * 4) % self.denominator:
            raise RepresentationError(
                f"a bar of {self.numerator}/{self.denominator} is not a whole number of ticks "
                f"at {self.ticks_per_beat} ticks per beat"
            )

    @property
    def ticks_per_bar(self) -> int:
        """Ticks in one bar of this meter."""
        return self.ticks_per_beat * self.numerator * 4 // self.denominator

    @property
    def clock_pulses_per_tick(self) -> int:
        """MIDI clock pulses (24 ppqn) per grid tick."""
        return MIDI_CLOCK_PPQN // self.ticks_per_beat

    def seconds_per_tick(self, bpm: float) -> float:
        """Length of one tick in seconds at ``bpm`` quarter notes per minute."""
        if not bpm > 0:
            raise RepresentationError(f"tempo must be positive, got {bpm} bpm")
        return 60.0 / (bpm * self.ticks_per_beat)

    def with_meter(self, numerator: int, denominator: int) -> Grid:
        """The same resolution with another time signature."""
        return Grid(self.ticks_per_beat, numerator, denominator)

    def to_dict(self) -> dict[str, int]:
        return {"ticks_per_beat": self.ticks_per_beat, "numerator": self.numerator, "denominator": self.denominator}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grid:
        return cls(int(data["ticks_per_beat"]), int(data["numerator"]), int(data["denominator"]))
