"""``note-events/1``: one compound token per note (time shift, pitch, duration, velocity).

Plus REST events for gaps longer than the largest shift. Any polyphony, no vocabulary misses.
Round trips are lossless for normalised, grid-aligned notes inside the codec's range.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from daemon.errors import RepresentationError
from daemon.music.encoding import check_version
from daemon.music.grid import DEFAULT_VELOCITY, Grid
from daemon.music.notes import Note


@dataclass(frozen=True)
class NoteEventCodec:
    """``note-events/1``: notes as compound events (shift, pitch, duration, velocity).

    ``shift`` is the ticks since the previous event's onset (0..max_shift_ticks); a gap longer
    than that is bridged by REST events (pitch field :attr:`REST`, duration and velocity 0).
    Notes at the same onset come in ascending pitch with shift 0. Durations longer than
    ``max_duration_ticks`` are clipped to it (the only loss; :meth:`clipped` counts them).
    The channel is not encoded: decoded notes take the channel the caller gives.

    Token arrays are ``(N, 4)`` int64 in field order :attr:`FIELDS`.
    """

    grid: Grid = Grid()  # noqa: RUF009 (frozen: one shared default is safe)
    max_shift_ticks: int = 48
    max_duration_ticks: int = 192

    NAME = "note-events"
    VERSION = 1
    FIELDS = ("shift", "pitch", "duration", "velocity")
    REST = 128
    BOS = 129

    def __post_init__(self) -> None:
        if self.max_shift_ticks < 1 or self.max_duration_ticks < 1:
            raise RepresentationError("max_shift_ticks and max_duration_ticks must be at least 1")

    @property
    def vocab_sizes(self) -> tuple[int, int, int, int]:
        """Classes per field: shift, pitch (128 notes + REST + BOS), duration, velocity."""
        return (self.max_shift_ticks + 1, 130, self.max_duration_ticks + 1, 128)

    def bos(self) -> np.ndarray:
        """The start-of-sequence event that primes a model before any note."""
        return np.array([0, self.BOS, 0, 0], np.int64)

    def clipped(self, notes: Iterable[Note]) -> int:
        """How many notes :meth:`encode` would shorten."""
        return sum(n.duration > self.max_duration_ticks for n in notes)

    def encode(self, notes: Iterable[Note], origin: int = 0) -> np.ndarray:
        """Encode notes (any channels) as events starting at tick ``origin``."""
        ordered = sorted(notes, key=lambda n: (n.start, n.pitch))
        rows: list[tuple[int, int, int, int]] = []
        previous = origin
        for n in ordered:
            if n.start < previous:
                raise RepresentationError(f"note at tick {n.start} starts before the origin {origin}")
            gap = n.start - previous
            while gap > self.max_shift_ticks:
                rows.append((self.max_shift_ticks, self.REST, 0, 0))
                gap -= self.max_shift_ticks
            rows.append((gap, n.pitch, min(n.duration, self.max_duration_ticks), n.velocity))
            previous = n.start
        return np.array(rows, np.int64).reshape(-1, 4)

    def decode(self, tokens: np.ndarray, origin: int = 0, channel: int = 0) -> list[Note]:
        """Decode events into notes; tolerant of any in-range model output (0 duration -> 1 tick)."""
        now = origin
        notes = []
        for shift, pitch, duration, velocity in np.asarray(tokens, np.int64).reshape(-1, 4):
            now += int(shift)
            if pitch >= 128 or pitch < 0:
                continue
            notes.append(Note(now, int(pitch), max(1, int(duration)),
                              int(velocity) if 1 <= velocity <= 127 else DEFAULT_VELOCITY, channel))
        return notes

    def advance(self, token: np.ndarray) -> int:
        """Ticks a token moves time forward by."""
        return int(token[0])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.NAME, "version": self.VERSION, "grid": self.grid.to_dict(),
                "max_shift_ticks": self.max_shift_ticks, "max_duration_ticks": self.max_duration_ticks}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NoteEventCodec:
        check_version(data, cls.NAME, cls.VERSION)
        return cls(Grid.from_dict(data["grid"]), int(data["max_shift_ticks"]), int(data["max_duration_ticks"]))
