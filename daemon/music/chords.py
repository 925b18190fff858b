"""``chord/1``: chordified (chord, duration) pairs over a vocabulary fitted on a corpus.

Unseen chords and durations map to the nearest known one.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daemon.errors import RepresentationError
from daemon.music.encoding import check_version
from daemon.music.grid import DEFAULT_VELOCITY, Grid
from daemon.music.notes import Chord, Note, normalise_notes

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
    for a, b in itertools.pairwise(bounds):
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
        check_version(data, cls.NAME, cls.VERSION)
        return cls(Grid.from_dict(data["grid"]), ChordVocabulary.from_dict(data["vocabulary"]))
