"""The one music representation: time grid, notes, LSTM tokens and pianoroll bars.

Training, export and the daemon all import this module, so what a model learned is exactly
what the daemon feeds it. Musical time is in *ticks*: whole steps of a grid with
``ticks_per_beat`` ticks per quarter-note beat, a divisor of MIDI clock's 24 ppqn. Seconds
appear only in the two live conversions at the bottom (messages stamped with a monotonic
clock in, timed messages out).

Three encodings live here, each with a name and a version that model files carry:

* ``note-events/1`` -- one compound event per note: (time shift, pitch, duration, velocity),
  plus REST events for gaps longer than the largest shift. Any polyphony, no vocabulary misses.
* ``chord/1`` -- chordified (chord, duration) pairs over a vocabulary fitted on a corpus;
  unseen chords and durations map to the nearest known one.
* ``pianoroll/1`` -- bars of (tracks x steps x pitches) with onset and velocity planes; drums
  folded to a few classes.

Round trips are lossless for *normalised*, grid-aligned notes inside each encoding's range
(see :func:`normalise_notes` and the encoders' docstrings).

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from daemon.errors import RepresentationError
from daemon.music.grid import DEFAULT_VELOCITY, Grid

log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True, slots=True)
class Note:
    """One note on the grid. Ordered by start, then pitch.

    Attributes:
        start: onset in ticks from the piece's origin (>= 0).
        pitch: MIDI note number, 0-127.
        duration: length in ticks (>= 1).
        velocity: MIDI velocity, 1-127.
        channel: MIDI channel 0-15 (or a track index where a caller says so).
    """

    start: int
    pitch: int
    duration: int
    velocity: int = DEFAULT_VELOCITY
    channel: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.pitch <= 127 and self.duration >= 1 and 1 <= self.velocity <= 127
                and self.start >= 0 and 0 <= self.channel <= 15):
            raise RepresentationError(f"not a valid note: {self!r}")

    @property
    def end(self) -> int:
        """Tick at which the note stops sounding."""
        return self.start + self.duration


def normalise_notes(notes: Iterable[Note]) -> list[Note]:
    """Sort notes and make them unambiguous for every encoding.

    Exact duplicates (same channel, pitch and start) keep the longest; a note that overlaps a
    later note of the same channel and pitch is cut where the later one starts. The result is
    sorted by (start, pitch, channel).
    """
    by_key: dict[tuple[int, int], dict[int, Note]] = defaultdict(dict)
    for note in notes:
        slot = by_key[(note.channel, note.pitch)]
        kept = slot.get(note.start)
        if kept is None or note.duration > kept.duration:
            slot[note.start] = note
    out: list[Note] = []
    for slot in by_key.values():
        starts = sorted(slot)
        for i, start in enumerate(starts):
            note = slot[start]
            if i + 1 < len(starts) and note.end > starts[i + 1]:
                note = Note(start, note.pitch, starts[i + 1] - start, note.velocity, note.channel)
            out.append(note)
    out.sort(key=lambda n: (n.start, n.pitch, n.channel))
    return out


def transpose(notes: Iterable[Note], semitones: int) -> list[Note]:
    """Shift pitched notes by ``semitones``; raises if any note would leave 0-127."""
    out = []
    for n in notes:
        pitch = n.pitch + semitones
        if not 0 <= pitch <= 127:
            raise RepresentationError(f"transposing pitch {n.pitch} by {semitones} leaves the MIDI range")
        out.append(Note(n.start, pitch, n.duration, n.velocity, n.channel))
    return out


def shift_notes(notes: Iterable[Note], ticks: int) -> list[Note]:
    """Move notes in time by ``ticks``; notes that would start before tick 0 are dropped."""
    return [Note(n.start + ticks, n.pitch, n.duration, n.velocity, n.channel) for n in notes if n.start + ticks >= 0]


def notes_to_array(notes: Sequence[Note]) -> np.ndarray:
    """Pack notes as an ``(N, 5)`` int32 array of (start, pitch, duration, velocity, channel)."""
    if not notes:
        return np.zeros((0, 5), np.int32)
    return np.array([(n.start, n.pitch, n.duration, n.velocity, n.channel) for n in notes], np.int32)


def notes_from_array(array: np.ndarray) -> list[Note]:
    """Inverse of :func:`notes_to_array`."""
    return [Note(int(s), int(p), int(d), int(v), int(c)) for s, p, d, v, c in np.asarray(array).reshape(-1, 5)]


class NoteSpan:
    """What a piece of notes on a grid knows of its length and meter (shared by :class:`Piece`
    and the training corpus's records). Needs ``notes``, ``grid`` and ``time_signatures``."""

    notes: tuple[Note, ...]
    grid: Grid
    time_signatures: tuple[tuple[int, int, int], ...]

    @property
    def end(self) -> int:
        """Tick after the last note ends (0 for an empty piece)."""
        return max((n.end for n in self.notes), default=0)

    @property
    def n_bars(self) -> int:
        """Bars the notes span from tick 0, counted in the piece's first meter."""
        return -(-self.end // self.grid.ticks_per_bar)

    @property
    def single_meter(self) -> bool:
        """True when the piece never changes time signature."""
        return len({(n, d) for _, n, d in self.time_signatures}) <= 1


@dataclass(frozen=True)
class Piece(NoteSpan):
    """Notes read from a file, with what the file said about time.

    Attributes:
        notes: normalised notes, ``channel`` being the MIDI channel.
        grid: the grid the notes are on, with the file's first time signature.
        bpm: the file's first tempo (120 when it gives none).
        name: where the piece came from.
        time_signatures: every (tick, numerator, denominator) the file sets.
        tempo_changes: how many times the tempo changes after the first one.
        programs: first program change seen on each channel.
        unclosed_notes: note-ons the file never closed (closed at the end of the file).
    """

    notes: tuple[Note, ...]
    grid: Grid
    bpm: float = 120.0
    name: str = ""
    time_signatures: tuple[tuple[int, int, int], ...] = ()
    tempo_changes: int = 0
    programs: Mapping[int, int] = field(default_factory=dict)
    unclosed_notes: int = 0


Chord = tuple[int, ...]
"""A sorted tuple of sounding pitches: ``p`` is struck here, ``p + 128`` is held from before.
The empty tuple is a rest."""
