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


KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")  # pitch classes 0-11
NO_KEY = "none"  # no key: every pitch allowed
AUTO_KEY = "auto"  # the key of the phrase being answered, estimated as it ends
_LETTER_PC = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ACCIDENTALS = {"": 0, "#": 1, "b": -1}
KEY_GRAMMAR = f"a note name C, C#, Db, ... B, {AUTO_KEY!r} or {NO_KEY!r}"


def parse_key(value: int | str) -> int | str | None:
    """The one grammar of keys: a pitch class 0-11 from an int or a note name (``"C"`` 0,
    ``"F#"``/``"Gb"`` 6, any case), None for ``"none"``, :data:`AUTO_KEY` for ``"auto"``.

    Raises:
        SamplingError: anything else (a bool, an int outside 0-11, ``"H"``, ``"C##"``).
    """
    if isinstance(value, bool):
        raise SamplingError(f"a key is {KEY_GRAMMAR}, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value <= 11:
            raise SamplingError(f"a key as a number is a pitch class 0-11 (0 = C), got {value}")
        return value
    lowered = str(value).strip().lower()
    if lowered == NO_KEY:
        return None
    if lowered == AUTO_KEY:
        return AUTO_KEY
    if not 1 <= len(lowered) <= 2 or lowered[0] not in _LETTER_PC or lowered[1:] not in _ACCIDENTALS:
        raise SamplingError(f"{str(value)[:40]!r} is not a note name: a key is {KEY_GRAMMAR}")
    return (_LETTER_PC[lowered[0]] + _ACCIDENTALS[lowered[1:]]) % 12


def parse_key_root(value: int | str) -> int:
    """A key root as a pitch class 0-11 (:func:`parse_key`'s grammar, without ``none`` and ``auto``)."""
    root = parse_key(value)
    if not isinstance(root, int):
        raise SamplingError(f"key_root {value!r} is not a note name (C, C#, Db, ... B) or a pitch class 0-11")
    return root


def key_name(pitch_class: int | str | None) -> str:
    """The edge name of a key: ``"C"``..``"B"`` (sharps), ``"auto"``, or ``"none"`` for None."""
    if pitch_class == AUTO_KEY:
        return AUTO_KEY
    return NO_KEY if pitch_class is None else KEY_NAMES[int(pitch_class) % 12]


def parse_scale(value: str | Sequence[int]) -> tuple[int, ...]:
    """A scale as sorted pitch classes relative to the root, from a name in :data:`SCALES` or ints."""
    if isinstance(value, str):
        found = SCALES.get(value.strip().lower())
        if found is None:
            raise SamplingError(f"unknown scale {value!r}; known: {', '.join(SCALES)} (or a list of 0-11)")
        return found
    return tuple(value)
