"""``pianoroll/1``: bars of (tracks x steps x pitches) with onset and velocity planes.

Drums are folded to nine classes. Notes to bars, bars to notes, and binarising a generator's
probabilities.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daemon.errors import RepresentationError
from daemon.music.encoding import check_version
from daemon.music.grid import DEFAULT_VELOCITY, Grid
from daemon.music.notes import Note

# (class name, canonical GM pitch written back, GM pitches folded into the class)
DRUM_CLASSES: tuple[tuple[str, int, tuple[int, ...]], ...] = (
    ("kick", 36, (35, 36)),
    ("snare", 38, (37, 38, 39, 40)),
    ("closed_hat", 42, (42, 44, 69, 70, 82)),
    ("open_hat", 46, (46,)),
    ("low_tom", 45, (41, 43, 45, 58, 64, 66)),
    ("mid_tom", 47, (47, 48, 62, 63, 68, 74, 78, 79)),
    ("high_tom", 50, (50, 60, 61, 65, 67, 71, 72, 73, 76, 77, 80, 81, 75)),
    ("crash", 49, (49, 52, 55, 57)),
    ("ride", 51, (51, 53, 54, 56, 59)),
)
_DRUM_CLASS_OF = {p: i for i, (_, _, pitches) in enumerate(DRUM_CLASSES) for p in pitches}


def drum_class(pitch: int) -> int | None:
    """The drum class a GM percussion pitch folds into, or None for pitches outside the kit."""
    return _DRUM_CLASS_OF.get(pitch)


@dataclass(frozen=True)
class TrackSpec:
    """One track of a pianoroll bar.

    Attributes:
        name: what the track plays ("drums", "bass", "chords", "soprano", ...).
        drums: True folds pitches to :data:`DRUM_CLASSES` and keeps onsets only.
        lowest_pitch: MIDI pitch of row 0 (pitched tracks).
        n_pitches: rows of the track (pitched tracks); notes outside are folded by octaves.
        channel: MIDI channel decoded notes are written on.
        program: General MIDI program of the track.
    """

    name: str
    drums: bool = False
    lowest_pitch: int = 24
    n_pitches: int = 84
    channel: int = 0
    program: int = 0

    @property
    def rows(self) -> int:
        return len(DRUM_CLASSES) if self.drums else self.n_pitches

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "drums": self.drums, "lowest_pitch": self.lowest_pitch,
                "n_pitches": self.n_pitches, "channel": self.channel, "program": self.program}


@dataclass(frozen=True)
class RollSpec:
    """``pianoroll/1``: the shape of a bar, (tracks x steps x pitches).

    A step is ``ticks_per_step`` grid ticks; the grid's meter sets the bar. Pitch rows are as
    many as the widest track; narrower tracks leave their upper rows empty.
    """

    tracks: tuple[TrackSpec, ...]
    grid: Grid = Grid()  # noqa: RUF009 (frozen: one shared default is safe)
    ticks_per_step: int = 1

    NAME = "pianoroll"
    VERSION = 1

    def __post_init__(self) -> None:
        if not self.tracks:
            raise RepresentationError("a pianoroll needs at least one track")
        if self.ticks_per_step < 1 or self.grid.ticks_per_bar % self.ticks_per_step:
            raise RepresentationError(
                f"ticks_per_step={self.ticks_per_step} must divide a bar of {self.grid.ticks_per_bar} ticks")

    @property
    def steps_per_bar(self) -> int:
        return self.grid.ticks_per_bar // self.ticks_per_step

    @property
    def n_pitches(self) -> int:
        return max(t.rows for t in self.tracks)

    @property
    def bar_shape(self) -> tuple[int, int, int]:
        """(tracks, steps, pitches) of one bar."""
        return (len(self.tracks), self.steps_per_bar, self.n_pitches)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.NAME, "version": self.VERSION, "grid": self.grid.to_dict(),
                "ticks_per_step": self.ticks_per_step, "tracks": [t.to_dict() for t in self.tracks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RollSpec:
        check_version(data, cls.NAME, cls.VERSION)
        tracks = tuple(TrackSpec(**t) for t in data["tracks"])
        return cls(tracks, Grid.from_dict(data["grid"]), int(data["ticks_per_step"]))


@dataclass(frozen=True)
class Bars:
    """Pianoroll bars with enough planes to give the notes back exactly.

    Attributes:
        active: bool ``(bars, tracks, steps, pitches)``, the note sounds during the step.
        onset: bool, same shape, the note starts at the step (a note that continues from the
            previous bar has ``active`` but no ``onset`` at step 0).
        velocity: uint8, same shape, the velocity at onsets (0 elsewhere).
    """

    active: np.ndarray
    onset: np.ndarray
    velocity: np.ndarray

    def __len__(self) -> int:
        return int(self.active.shape[0])


def notes_to_bars(tracks: Sequence[Sequence[Note]], spec: RollSpec, n_bars: int | None = None,
                  origin: int = 0) -> Bars:
    """Lay out one list of notes per track as pianoroll bars from tick ``origin``.

    Drum notes are folded to their class and kept as one-step hits; pitches outside the kit
    are dropped. Pitched notes outside a track's rows are moved by octaves into them. Onsets
    and ends are floored to steps; a note lasts at least one step.
    """
    if len(tracks) != len(spec.tracks):
        raise RepresentationError(f"got notes for {len(tracks)} tracks, the roll has {len(spec.tracks)}")
    tps = spec.ticks_per_step
    if n_bars is None:
        end = max((n.end for notes in tracks for n in notes), default=origin)
        n_bars = max(0, -(-(end - origin) // spec.grid.ticks_per_bar))
    steps = n_bars * spec.steps_per_bar
    shape = (len(spec.tracks), steps, spec.n_pitches)
    active = np.zeros(shape, bool)
    onset = np.zeros(shape, bool)
    velocity = np.zeros(shape, np.uint8)
    for t, (track, notes) in enumerate(zip(spec.tracks, tracks)):
        for n in notes:
            first = (n.start - origin) // tps
            if first < 0 or first >= steps:
                continue
            if track.drums:
                row = drum_class(n.pitch)
                if row is None:
                    continue
                last = first + 1
            else:
                row = _fold_into(n.pitch, track.lowest_pitch, track.n_pitches)
                last = min(steps, max(first + 1, (n.end - origin) // tps))
            active[t, first:last, row] = True
            onset[t, first, row] = True
            velocity[t, first, row] = max(velocity[t, first, row], n.velocity)
    per_bar = (len(spec.tracks), n_bars, spec.steps_per_bar, spec.n_pitches)

    def split(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a.reshape(per_bar).transpose(1, 0, 2, 3))
    return Bars(split(active), split(onset), split(velocity))


def _fold_into(pitch: int, lowest: int, rows: int) -> int:
    row = pitch - lowest
    while row < 0:
        row += 12
    while row >= rows:
        row -= 12
    if row < 0:
        raise RepresentationError(f"a track of {rows} rows cannot hold pitch {pitch} by octaves")
    return row


def bars_to_notes(bars: Bars, spec: RollSpec, origin: int = 0,
                  default_velocity: int = DEFAULT_VELOCITY) -> list[list[Note]]:
    """Notes per track from consecutive bars; inverse of :func:`notes_to_bars`.

    A note runs from an onset (or from an active step with no onset where the previous step
    is silent) until the row goes silent or the next onset. Drum hits last one step and are
    written at their class's canonical pitch.
    """
    n_bars, n_tracks, steps, pitches = bars.active.shape
    if n_tracks != len(spec.tracks) or steps != spec.steps_per_bar:
        raise RepresentationError(f"bars of shape {bars.active.shape} do not match the roll {spec.bar_shape}")

    def join(a: np.ndarray) -> np.ndarray:
        return a.transpose(1, 0, 2, 3).reshape(n_tracks, n_bars * steps, pitches)
    active, onset, velocity = join(bars.active), join(bars.onset), join(bars.velocity)
    tps = spec.ticks_per_step
    out: list[list[Note]] = []
    for t, track in enumerate(spec.tracks):
        notes: list[Note] = []
        rows = range(len(DRUM_CLASSES)) if track.drums else range(track.n_pitches)
        for row in rows:
            col_active = active[t, :, row]
            if not col_active.any():
                continue
            pitch = DRUM_CLASSES[row][1] if track.drums else track.lowest_pitch + row
            if not 0 <= pitch <= 127:
                continue
            col_onset = onset[t, :, row]
            starts = np.flatnonzero(col_active & (col_onset | ~np.concatenate(([False], col_active[:-1]))))
            for i, s in enumerate(starts):
                if track.drums:
                    e = s + 1
                else:
                    stop = starts[i + 1] if i + 1 < len(starts) else len(col_active)
                    silent = np.flatnonzero(~col_active[s:stop])
                    e = s + (silent[0] if len(silent) else stop - s)
                v = int(velocity[t, s, row]) or default_velocity
                notes.append(Note(origin + int(s) * tps, pitch, int(e - s) * tps, v, track.channel))
        out.append(sorted(notes))
    return out


def binarise(roll: np.ndarray, spec: RollSpec, threshold: float | None = 0.5,
             rng: np.random.Generator | None = None, velocity: int = DEFAULT_VELOCITY) -> Bars:
    """Turn a model's real-valued roll ``(bars, tracks, steps, pitches)`` in [0, 1] into bars.

    With ``threshold`` set, a step is on above it; with ``threshold=None``, each step is drawn
    from a Bernoulli of its value using ``rng``. Pitched onsets are inferred (an active step
    after a silent one, across bar lines); every active drum step is a hit. Rows a track does
    not have are cleared.
    """
    roll = np.asarray(roll, np.float32)
    if roll.ndim != 4 or roll.shape[1:] != spec.bar_shape:
        raise RepresentationError(f"a roll of shape {roll.shape} does not match bars of {spec.bar_shape}")
    if threshold is None:
        generator = rng if rng is not None else np.random.default_rng()
        active = generator.random(roll.shape, dtype=np.float32) < np.clip(roll, 0.0, 1.0)
    else:
        active = roll > threshold
    for t, track in enumerate(spec.tracks):
        active[:, t, :, track.rows:] = False
    n_bars, n_tracks, steps, pitches = active.shape
    flat = active.transpose(1, 0, 2, 3).reshape(n_tracks, n_bars * steps, pitches)
    previous = np.concatenate([np.zeros_like(flat[:, :1]), flat[:, :-1]], axis=1)
    onset = (flat & ~previous).reshape(n_tracks, n_bars, steps, pitches).transpose(1, 0, 2, 3)
    for t, track in enumerate(spec.tracks):
        if track.drums:
            onset[:, t] = active[:, t]
    onset = np.ascontiguousarray(onset)
    return Bars(active, onset, np.where(onset, np.uint8(velocity), np.uint8(0)))
