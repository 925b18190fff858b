"""Chords as the band hears them: chord symbols, the chord a player holds, and how well notes agree.

One chord vocabulary serves training, the daemon and the evaluation:

* :func:`parse_chord` reads a symbol (``C``, ``Am``, ``G7``, ``F#m7``, ``Bbmaj7``, ``Ddim``, ...)
  into a :class:`Chord` (root pitch class and quality);
* :func:`recognise` finds the chord a player holds from the pitch classes sounding (the
  template with most matches and fewest strays, at least two of its notes held);
* :func:`chord_vector` is the GAN's ``chord`` input: the chord's pitch classes (12) and a flag
  that says whether there is a chord at all (1) or not (0);
* :func:`note_in_chord` measures harmony: the share of notes whose pitch class is in the chord
  of their bar (ReaLchords' "harmony" figure).

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from daemon.errors import AntiphonError

N_PITCH_CLASSES = 12
CHORD_DIM = N_PITCH_CLASSES + 1  # the chord's pitch classes + "there is a chord" flag
QUALITIES: dict[str, tuple[int, ...]] = {  # intervals above the root, in semitones
    "": (0, 4, 7),
    "m": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus4": (0, 5, 7),
    "sus2": (0, 2, 7),
}
RECOGNISED = ("", "m", "7", "m7", "maj7", "dim", "sus4")  # what recognise() chooses among, simplest first
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_SYMBOL = re.compile(r"^([A-Ga-g])([#b]?)(.*)$")
_LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ALIASES = {"": "", "maj": "", "M": "", "min": "m", "-": "m", "m": "m", "7": "7", "dom7": "7", "maj7": "maj7",
            "M7": "maj7", "m7": "m7", "min7": "m7", "-7": "m7", "dim": "dim", "o": "dim", "aug": "aug", "+": "aug",
            "sus4": "sus4", "sus": "sus4", "sus2": "sus2"}
MIN_HELD = 2  # a chord is recognised from at least this many of its notes


class ChordError(AntiphonError):
    """A chord symbol that cannot be read."""


@dataclass(frozen=True)
class Chord:
    """A chord: ``root`` pitch class 0-11 and a ``quality`` of :data:`QUALITIES`."""

    root: int
    quality: str

    @property
    def pitch_classes(self) -> frozenset[int]:
        return frozenset((self.root + i) % N_PITCH_CLASSES for i in QUALITIES[self.quality])

    @property
    def name(self) -> str:
        return NAMES[self.root] + self.quality

    def transposed(self, semitones: int) -> Chord:
        return Chord((self.root + semitones) % N_PITCH_CLASSES, self.quality)


def parse_chord(symbol: str) -> Chord:
    """``"Am"`` -> ``Chord(9, "m")``.

    Raises:
        ChordError: not a root letter (with ``#``/``b``) followed by a known quality.
    """
    match = _SYMBOL.match(symbol.strip())
    quality = None if match is None else _ALIASES.get(match.group(3))
    if match is None or quality is None:
        known = ", ".join(repr(q) for q in QUALITIES)
        raise ChordError(f"{symbol!r} is not a chord symbol: a root C..B with # or b, then one of {known} "
                         "(e.g. C, Am, G7, F#m7, Bbmaj7)")
    root = _LETTERS[match.group(1).lower()] + {"": 0, "#": 1, "b": -1}[match.group(2)]
    return Chord(root % N_PITCH_CLASSES, quality)


def parse_progression(text: str) -> tuple[Chord, ...]:
    """``"C Am F G7"`` (spaces, commas or bars ``|`` between) -> one chord a bar.

    Raises:
        ChordError: an empty progression or a symbol :func:`parse_chord` cannot read.
    """
    symbols = [s for s in re.split(r"[\s,|]+", text) if s]
    if not symbols:
        raise ChordError("the chord progression is empty; give one chord a bar, e.g. 'C Am F G7'")
    return tuple(parse_chord(s) for s in symbols)


def recognise(pitch_classes: Iterable[int]) -> Chord | None:
    """The chord that best explains the pitch classes held: most of its notes held, fewest held
    notes outside it, then the simplest quality; None with fewer than :data:`MIN_HELD` notes of it."""
    held = {int(p) % N_PITCH_CLASSES for p in pitch_classes}
    if len(held) < MIN_HELD:
        return None
    best: tuple[int, int, int] | None = None
    chosen: Chord | None = None
    for rank, quality in enumerate(RECOGNISED):
        for root in range(N_PITCH_CLASSES):
            chord = Chord(root, quality)
            tones = chord.pitch_classes
            hits = len(held & tones)
            if hits < MIN_HELD:
                continue
            key = (hits - len(held - tones), -len(tones - held), -rank)
            if best is None or key > best:
                best, chosen = key, chord
    return chosen


def chord_vector(chords: Iterable[Chord | None]) -> np.ndarray:
    """``(N, 13)`` float32: each chord's pitch classes and a 1 flag; zeros for None (no chord)."""
    rows = []
    for chord in chords:
        row = np.zeros(CHORD_DIM, np.float32)
        if chord is not None:
            row[sorted(chord.pitch_classes)] = 1.0
            row[-1] = 1.0
        rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, CHORD_DIM), np.float32)


def note_in_chord(pitches: Iterable[int], chord: Chord) -> tuple[int, int]:
    """(notes whose pitch class is in ``chord``, notes) of ``pitches``."""
    tones = chord.pitch_classes
    values = [int(p) % N_PITCH_CLASSES for p in pitches]
    return sum(p in tones for p in values), len(values)
