"""Scales and key roots: the names a preset, OSC or the command line may give them.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Sequence

from daemon.errors import AntiphonError


class SamplingError(AntiphonError, ValueError):
    """Sampling parameters that cannot work together (a negative temperature, an empty scale)."""


# Pitch-class sets relative to the key root (semitones), by the names presets may use.
SCALES: dict[str, tuple[int, ...]] = {
    "chromatic": tuple(range(12)),
    "major": (0, 2, 4, 5, 7, 9, 11),
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "harmonic-minor": (0, 2, 3, 5, 7, 8, 11),
    "melodic-minor": (0, 2, 3, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "major-pentatonic": (0, 2, 4, 7, 9),
    "minor-pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}
_NOTE_NAMES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def parse_key_root(value: int | str) -> int:
    """A key root as a pitch class 0-11, from an int or a name like ``"C"``, ``"F#"``, ``"Bb"``."""
    if isinstance(value, bool):
        raise SamplingError(f"key_root must be a pitch class 0-11 or a note name, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value <= 11:
            raise SamplingError(f"key_root must be a pitch class 0-11 (0 = C), got {value}")
        return value
    text = str(value).strip().lower()
    if not text or text[0] not in _NOTE_NAMES:
        raise SamplingError(f"key_root {value!r} is not a note name (C, C#, Db, ... B)")
    root = _NOTE_NAMES[text[0]]
    for accidental in text[1:]:
        if accidental in "#s":
            root += 1
        elif accidental == "b":
            root -= 1
        else:
            raise SamplingError(f"key_root {value!r} is not a note name (C, C#, Db, ... B)")
    return root % 12


def parse_scale(value: str | Sequence[int]) -> tuple[int, ...]:
    """A scale as sorted pitch classes relative to the root, from a name in :data:`SCALES` or ints."""
    if isinstance(value, str):
        found = SCALES.get(value.strip().lower())
        if found is None:
            raise SamplingError(f"unknown scale {value!r}; known: {', '.join(SCALES)} (or a list of 0-11)")
        return found
    return tuple(value)
