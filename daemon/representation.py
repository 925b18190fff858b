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
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mido
import numpy as np

from daemon.errors import MidiFileError, RepresentationError

log = logging.getLogger(__name__)

MIDI_CLOCK_PPQN = 24  # MIDI clock pulses per quarter note (MIDI 1.0 spec)
DRUM_CHANNEL = 9  # General MIDI percussion channel (channel 10 at the user-facing edge)
DEFAULT_VELOCITY = 80  # used where an encoding carries no velocity
OUTPUT_PPQ = 480  # resolution of written MIDI files; a multiple of every allowed grid

# MIDI status names as mido spells them.
NOTE_ON = "note_on"
NOTE_OFF = "note_off"


# --------------------------------------------------------------------------------------------
# Grid and notes
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# MIDI files <-> notes
# --------------------------------------------------------------------------------------------


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



def read_midi(source: str | Path | mido.MidiFile, ticks_per_beat: int = 12, name: str = "") -> Piece:
    """Read a MIDI file into grid-quantised notes.

    Onsets and ends are rounded to the nearest tick; a note shorter than a tick lasts one tick.
    Tempo changes do not move notes (time is in beats); they are counted.

    Raises:
        MidiFileError: the file is corrupt, unreadable, or of type 2.
    """
    if isinstance(source, mido.MidiFile):
        midi = source
        name = name or (midi.filename or "")
    else:
        name = name or str(source)
        try:
            midi = mido.MidiFile(str(source), clip=True)
        except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise MidiFileError(f"cannot read MIDI file {name}: {exc}") from exc
    if midi.type == 2:
        raise MidiFileError(f"{name} is a type 2 MIDI file (independent sequences); save it as type 0 or 1")
    if midi.ticks_per_beat <= 0:
        raise MidiFileError(f"{name} uses SMPTE time division, which has no beats; export it with PPQ timing")
    scale = ticks_per_beat / midi.ticks_per_beat

    tempos: list[int] = []
    signatures: list[tuple[int, int, int]] = []
    programs: dict[int, int] = {}
    open_notes: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    notes: list[Note] = []
    now = 0
    for msg in mido.merge_tracks(midi.tracks):
        now += msg.time
        if msg.type == NOTE_ON and msg.velocity > 0:
            open_notes[(msg.channel, msg.note)].append((now, msg.velocity))
        elif msg.type in (NOTE_ON, NOTE_OFF):
            stack = open_notes.get((msg.channel, msg.note))
            if stack:
                on_time, velocity = stack.pop(0)
                notes.append(_quantised_note(on_time, now, msg.note, velocity, msg.channel, scale))
        elif msg.type == "set_tempo":
            tempos.append(msg.tempo)
        elif msg.type == "time_signature":
            signatures.append((round(now * scale), msg.numerator, msg.denominator))
        elif msg.type == "program_change":
            programs.setdefault(msg.channel, msg.program)
    unclosed = 0
    for (channel, pitch), stack in open_notes.items():
        for on_time, velocity in stack:
            unclosed += 1
            notes.append(_quantised_note(on_time, max(now, on_time + 1), pitch, velocity, channel, scale))
    numerator, denominator = (signatures[0][1], signatures[0][2]) if signatures else (4, 4)
    try:
        grid = Grid(ticks_per_beat, numerator, denominator)
    except RepresentationError:
        grid = Grid(ticks_per_beat)
    distinct_tempos = [t for i, t in enumerate(tempos) if i == 0 or t != tempos[i - 1]]
    return Piece(
        notes=tuple(normalise_notes(notes)),
        grid=grid,
        bpm=round(mido.tempo2bpm(tempos[0]), 3) if tempos else 120.0,
        name=name,
        time_signatures=tuple(signatures),
        tempo_changes=max(0, len(distinct_tempos) - 1),
        programs=programs,
        unclosed_notes=unclosed,
    )


def _quantised_note(on: float, off: float, pitch: int, velocity: int, channel: int, scale: float) -> Note:
    start = round(on * scale)
    end = round(off * scale)
    return Note(start, pitch, max(1, end - start), max(1, min(127, velocity)), channel)


def write_midi(
    notes: Iterable[Note],
    grid: Grid,
    bpm: float = 120.0,
    programs: Mapping[int, int] | None = None,
    path: str | Path | None = None,
) -> mido.MidiFile:
    """Write notes as a type 0 MIDI file at :data:`OUTPUT_PPQ` ticks per beat.

    Every note-on gets its note-off; at equal times note-offs come first so repeated notes
    retrigger. ``programs`` maps channel to program number.
    """
    per_tick = OUTPUT_PPQ // grid.ticks_per_beat
    events: list[tuple[int, int, mido.Message]] = []
    for n in notes:
        events.append((n.start * per_tick, 1, mido.Message(NOTE_ON, channel=n.channel, note=n.pitch, velocity=n.velocity)))
        events.append((n.end * per_tick, 0, mido.Message(NOTE_OFF, channel=n.channel, note=n.pitch, velocity=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=grid.numerator, denominator=grid.denominator, time=0))
    for channel, program in sorted((programs or {}).items()):
        track.append(mido.Message("program_change", channel=channel, program=program, time=0))
    now = 0
    for when, _, msg in events:
        track.append(msg.copy(time=when - now))
        now = when
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=OUTPUT_PPQ)
    midi.tracks.append(track)
    if path is not None:
        midi.save(str(path))
    return midi


# --------------------------------------------------------------------------------------------
# Live messages <-> notes (the only place seconds meet ticks)
# --------------------------------------------------------------------------------------------


def notes_from_timed_messages(
    events: Iterable[tuple[float, mido.Message]],
    grid: Grid,
    bpm: float,
    origin_s: float,
    end_s: float | None = None,
) -> list[Note]:
    """Quantise live messages, stamped with a monotonic clock, to grid notes.

    Args:
        events: (time in seconds, message) pairs; only note-on/note-off count, a note-on of
            velocity 0 is a note-off, a note-off without a note-on is ignored.
        grid: the grid to quantise to.
        bpm: tempo in quarter notes per minute.
        origin_s: the monotonic time of tick 0; earlier onsets are clamped to tick 0.
        end_s: where notes still held are closed (default: the last event's time).
    """
    per_tick = grid.seconds_per_tick(bpm)
    open_notes: dict[tuple[int, int], list[tuple[float, int]]] = defaultdict(list)
    notes: list[Note] = []
    last = origin_s
    for when, msg in events:
        last = max(last, when)
        if msg.type == NOTE_ON and msg.velocity > 0:
            open_notes[(msg.channel, msg.note)].append((when, msg.velocity))
        elif msg.type in (NOTE_ON, NOTE_OFF):
            stack = open_notes.get((msg.channel, msg.note))
            if stack:
                on, velocity = stack.pop(0)
                notes.append(_live_note(on, when, msg.note, velocity, msg.channel, origin_s, per_tick))
    close = last if end_s is None else end_s
    for (channel, pitch), stack in open_notes.items():
        for on, velocity in stack:
            notes.append(_live_note(on, max(close, on), pitch, velocity, channel, origin_s, per_tick))
    return normalise_notes(notes)


def _live_note(on: float, off: float, pitch: int, velocity: int, channel: int, origin: float, per_tick: float) -> Note:
    start = max(0, round((on - origin) / per_tick))
    end = max(0, round((off - origin) / per_tick))
    return Note(start, pitch, max(1, end - start), velocity, channel)


def notes_to_timed_messages(
    notes: Iterable[Note], grid: Grid, bpm: float, origin_s: float = 0.0
) -> list[tuple[float, mido.Message]]:
    """Turn grid notes into (time in seconds, message) pairs, note-offs first at equal times."""
    per_tick = grid.seconds_per_tick(bpm)
    events: list[tuple[float, int, mido.Message]] = []
    for n in notes:
        events.append((origin_s + n.start * per_tick, 1,
                       mido.Message(NOTE_ON, channel=n.channel, note=n.pitch, velocity=n.velocity)))
        events.append((origin_s + n.end * per_tick, 0,
                       mido.Message(NOTE_OFF, channel=n.channel, note=n.pitch, velocity=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    return [(when, msg) for when, _, msg in events]


# --------------------------------------------------------------------------------------------
# Note events: one compound token per note
# --------------------------------------------------------------------------------------------


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

    grid: Grid = Grid()
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
        _check_version(data, cls.NAME, cls.VERSION)
        return cls(Grid.from_dict(data["grid"]), int(data["max_shift_ticks"]), int(data["max_duration_ticks"]))


# --------------------------------------------------------------------------------------------
# Chords: chordified (chord, duration) pairs over a fitted vocabulary
# --------------------------------------------------------------------------------------------

Chord = tuple[int, ...]
"""A sorted tuple of sounding pitches: ``p`` is struck here, ``p + 128`` is held from before.
The empty tuple is a rest."""

TIED = 128


def chordify(notes: Iterable[Note], origin: int = 0) -> list[tuple[Chord, int]]:
    """Slice notes at every onset and release into (chord, duration in ticks) segments.

    Like music21's ``chordify`` with ties: a note spanning several segments is struck in the
    first and held (``pitch + 128``) in the rest. Channels are merged; gaps become rests.
    Notes must be normalised per pitch (see :func:`normalise_notes`).
    """
    merged = normalise_notes(Note(n.start, n.pitch, n.duration, n.velocity, 0) for n in notes)
    if not merged:
        return []
    bounds = sorted({origin, *(n.start for n in merged), *(n.end for n in merged)})
    starts_at: dict[int, list[Note]] = defaultdict(list)
    for n in merged:
        starts_at[n.start].append(n)
    sounding: list[Note] = []
    out: list[tuple[Chord, int]] = []
    for a, b in zip(bounds, bounds[1:]):
        sounding = [n for n in sounding if n.end > a]
        held = {n.pitch for n in sounding}
        struck = [n.pitch for n in starts_at.get(a, ())]
        sounding.extend(starts_at.get(a, ()))
        chord = tuple(sorted([*struck, *(p + TIED for p in held)]))
        out.append((chord, b - a))
    return out


def unchordify(segments: Iterable[tuple[Chord, int]], origin: int = 0, velocity: int = DEFAULT_VELOCITY,
               channel: int = 0) -> list[Note]:
    """Inverse of :func:`chordify`; a held pitch with nothing to continue is struck."""
    now = origin
    open_at: dict[int, int] = {}
    notes: list[Note] = []
    for chord, duration in segments:
        struck = {p for p in chord if p < TIED}
        held = {p - TIED for p in chord if p >= TIED} - struck
        for pitch in [p for p in open_at if p not in held or p in struck]:
            start = open_at.pop(pitch)
            notes.append(Note(start, pitch, now - start, velocity, channel))
        for pitch in struck | (held - set(open_at)):
            open_at[pitch] = now
        now += max(1, int(duration))
    for pitch, start in open_at.items():
        notes.append(Note(start, pitch, now - start, velocity, channel))
    return normalise_notes(notes)


@dataclass(frozen=True)
class ChordVocabulary:
    """Chords and durations a chord model knows, most frequent first (index 0 is the rest)."""

    chords: tuple[Chord, ...]
    durations: tuple[int, ...]

    @classmethod
    def fit(cls, pieces: Iterable[Sequence[tuple[Chord, int]]], max_chords: int | None = None,
            min_count: int = 1) -> ChordVocabulary:
        """Count chords and durations over chordified pieces."""
        chords: Counter[Chord] = Counter()
        durations: Counter[int] = Counter()
        for segments in pieces:
            for chord, duration in segments:
                chords[chord] += 1
                durations[duration] += 1
        chords.pop((), None)
        kept = [c for c, k in sorted(chords.items(), key=lambda kv: (-kv[1], kv[0])) if k >= min_count]
        if max_chords is not None:
            kept = kept[: max(0, max_chords - 1)]
        if not durations:
            raise RepresentationError("cannot fit a chord vocabulary on pieces with no notes")
        return cls(((), *kept), tuple(sorted(durations)))

    def __post_init__(self) -> None:
        chord_rows = np.zeros((len(self.chords), 2 * 128), np.float32)
        for i, chord in enumerate(self.chords):
            chord_rows[i, list(chord)] = 1.0
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.chords)})
        object.__setattr__(self, "_rows", chord_rows)
        pitches = chord_rows[1:, :128] + chord_rows[1:, 128:]  # the rest (row 0) is never the nearest
        object.__setattr__(self, "_row_pitches", pitches)
        object.__setattr__(self, "_row_classes", _pitch_classes(pitches))
        object.__setattr__(self, "_durations", np.array(self.durations, np.int64))

    def chord_index(self, chord: Chord) -> int:
        """Index of ``chord``, or of the nearest known chord.

        Nearness: pitches present in one but not the other cost 2 each, a pitch struck in one
        and held in the other costs 1, and a pitch class missing on either side costs 0.5.
        """
        index: dict[Chord, int] = self._index  # type: ignore[attr-defined]
        found = index.get(chord)
        if found is not None:
            return found
        if not chord or len(self.chords) == 1:
            return 0
        rows: np.ndarray = self._rows[1:]  # type: ignore[attr-defined]  # a sounding chord never maps to the rest
        pitches: np.ndarray = self._row_pitches  # type: ignore[attr-defined]
        query = np.zeros(256, np.float32)
        query[list(chord)] = 1.0
        q_pitches = query[:128] + query[128:]
        cost = 2.0 * np.abs(pitches - q_pitches).sum(1)
        shared = pitches * q_pitches
        cost += (np.abs(rows[:, :128] - query[:128]) * shared).sum(1)
        row_classes: np.ndarray = self._row_classes  # type: ignore[attr-defined]
        cost += 0.5 * np.abs(row_classes - _pitch_classes(q_pitches[None])).sum(1)
        return 1 + int(np.argmin(cost))

    def duration_index(self, duration: int) -> int:
        """Index of ``duration`` in ticks, or of the nearest known duration."""
        durations: np.ndarray = self._durations  # type: ignore[attr-defined]
        return int(np.argmin(np.abs(durations - int(duration))))

    def to_dict(self) -> dict[str, Any]:
        return {"chords": [list(c) for c in self.chords], "durations": list(self.durations)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChordVocabulary:
        return cls(tuple(tuple(int(p) for p in c) for c in data["chords"]), tuple(int(d) for d in data["durations"]))


def _pitch_classes(pitch_rows: np.ndarray) -> np.ndarray:
    """(N, 128) pitch indicators -> (N, 12) pitch-class indicators."""
    padded = np.pad(pitch_rows, ((0, 0), (0, 4)))  # 132 = 11 octaves of 12
    return padded.reshape(len(pitch_rows), 11, 12).max(1)


@dataclass(frozen=True)
class ChordCodec:
    """``chord/1``: (chord index, duration index) pairs, the two-head chord/duration design.

    Lossless for normalised notes of one velocity whose chords and durations are all in the
    vocabulary (channels are merged); anything else maps to the nearest entry.
    Token arrays are ``(N, 2)`` int64 in field order :attr:`FIELDS`.
    """

    grid: Grid
    vocabulary: ChordVocabulary

    NAME = "chord"
    VERSION = 1
    FIELDS = ("chord", "duration")

    @property
    def vocab_sizes(self) -> tuple[int, int]:
        return (len(self.vocabulary.chords), len(self.vocabulary.durations))

    def encode(self, notes: Iterable[Note], origin: int = 0) -> np.ndarray:
        rows = [(self.vocabulary.chord_index(c), self.vocabulary.duration_index(d)) for c, d in chordify(notes, origin)]
        return np.array(rows, np.int64).reshape(-1, 2)

    def decode(self, tokens: np.ndarray, origin: int = 0, velocity: int = DEFAULT_VELOCITY,
               channel: int = 0) -> list[Note]:
        vocab = self.vocabulary
        segments = [(vocab.chords[int(c)], vocab.durations[int(d)]) for c, d in np.asarray(tokens).reshape(-1, 2)]
        return unchordify(segments, origin, velocity, channel)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.NAME, "version": self.VERSION, "grid": self.grid.to_dict(),
                "vocabulary": self.vocabulary.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChordCodec:
        _check_version(data, cls.NAME, cls.VERSION)
        return cls(Grid.from_dict(data["grid"]), ChordVocabulary.from_dict(data["vocabulary"]))


# --------------------------------------------------------------------------------------------
# Pianoroll bars
# --------------------------------------------------------------------------------------------

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
    grid: Grid = Grid()
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
        _check_version(data, cls.NAME, cls.VERSION)
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


def _check_version(data: Mapping[str, Any], name: str, version: int) -> None:
    if data.get("name") != name:
        raise RepresentationError(f"expected a {name!r} representation, got {data.get('name')!r}")
    if int(data.get("version", -1)) != version:
        raise RepresentationError(
            f"{name} representation version {data.get('version')} is not known to this Antiphon "
            f"(it reads version {version}); re-export the model or upgrade Antiphon")


def codec_from_dict(data: Mapping[str, Any]) -> NoteEventCodec | ChordCodec | RollSpec:
    """Rebuild whichever representation a model file's metadata names."""
    kinds: dict[str, Any] = {NoteEventCodec.NAME: NoteEventCodec, ChordCodec.NAME: ChordCodec,
                             RollSpec.NAME: RollSpec}
    kind = kinds.get(str(data.get("name")))
    if kind is None:
        raise RepresentationError(f"unknown representation {data.get('name')!r}; known: {', '.join(kinds)}")
    return kind.from_dict(data)
