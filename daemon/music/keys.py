"""The key a group of notes is in: Krumhansl-Kessler key profiles on a duration-weighted pitch-class profile.

Used to report the key of each phrase heard (``/antiphon/phrase``), and by the tests that check
that an answer stays in its phrase's key. Drum notes are the caller's to leave out.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from daemon.music.notes import Note

# Krumhansl & Kessler (1982) probe-tone ratings, C major and C minor (index = semitones above the tonic).
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PITCH_CLASSES = 12


@dataclass(frozen=True)
class Key:
    """A key estimate.

    Attributes:
        root: pitch class of the tonic, 0-11 (0 = C).
        minor: True for a minor key.
        correlation: Pearson correlation of the notes' profile with the key's (-1..1); near 0
            or below means the notes say little about a key.
    """

    root: int
    minor: bool
    correlation: float

    def scale(self) -> tuple[int, ...]:
        """Pitch classes relative to the root: major, or natural minor."""
        return (0, 2, 3, 5, 7, 8, 10) if self.minor else (0, 2, 4, 5, 7, 9, 11)

    def relative_major_root(self) -> int:
        """The tonic of the major key with the same signature (A minor -> C)."""
        return (self.root + 3) % PITCH_CLASSES if self.minor else self.root


def pitch_class_profile(notes: Iterable[Note]) -> np.ndarray:
    """``(12,)`` float: ticks sounded per pitch class."""
    profile = np.zeros(PITCH_CLASSES)
    for note in notes:
        profile[note.pitch % PITCH_CLASSES] += note.duration
    return profile


def estimate_key(notes: Iterable[Note]) -> Key | None:
    """The best-correlated of the 24 major and minor keys, or None for no notes (or one pitch class)."""
    profile = pitch_class_profile(notes)
    if np.count_nonzero(profile) < 2:
        return None
    best: Key | None = None
    for minor, template in ((False, MAJOR_PROFILE), (True, MINOR_PROFILE)):
        for root in range(PITCH_CLASSES):
            r = float(np.corrcoef(profile, np.roll(template, root))[0, 1])
            if best is None or r > best.correlation:
                best = Key(root, minor, r)
    return best


def in_key_fraction(notes: Iterable[Note], key: Key) -> float:
    """Share of the notes' duration on pitch classes of ``key``'s scale (1.0 for no notes)."""
    profile = pitch_class_profile(notes)
    total = profile.sum()
    if total == 0:
        return 1.0
    classes = [(key.root + step) % PITCH_CLASSES for step in key.scale()]
    return float(profile[classes].sum() / total)
