"""ABC key fields (``K:G``, ``K:Ador``, ``K:E Minor``, ``K:F#m``): tonic, mode and signature.

One reader of ABC keys for the daemon's ABC parser and writer and for the training data's
normalisation, so both spell a key the same way (:func:`AbcKey.name`: ``G``, ``Em``, ``Ador``,
``Dmix``). Explicit extra accidentals after the mode (``K:D =c``) and the bagpipe keys (``HP``)
are refused: the collections this project reads use neither for more than a handful of tunes.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from daemon.errors import AntiphonError


class AbcError(AntiphonError, ValueError):
    """ABC text that cannot be read; the message says where and what to fix."""


LETTERS = "CDEFGAB"
NATURAL_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# mode -> (degree of the tonic in its relative major scale, 0 = ionian; short name in the canonical spelling)
MODES: dict[str, tuple[int, str]] = {
    "maj": (0, ""), "ion": (0, ""), "dor": (1, "dor"), "phr": (2, "phr"), "lyd": (3, "lyd"),
    "mix": (4, "mix"), "min": (5, "m"), "aeo": (5, "m"), "m": (5, "m"), "loc": (6, "loc"), "": (0, ""),
}
MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
SHARP_ORDER = "FCGDAEB"
FIFTHS_OF_NATURAL_MAJOR = {"C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F": -1}
_KEY = re.compile(r"^\s*([A-Ga-g])([#b]?)\s*([A-Za-z]*)\s*$")


@dataclass(frozen=True)
class AbcKey:
    """A key as an ABC ``K:`` field gives it.

    Attributes:
        tonic: the tonic's letter, ``C``..``B``.
        tonic_alter: -1 (flat), 0 or 1 (sharp) on the tonic.
        mode: one of ``""`` (major), ``m``, ``dor``, ``phr``, ``lyd``, ``mix``, ``loc``.
    """

    tonic: str
    tonic_alter: int
    mode: str

    @property
    def tonic_pc(self) -> int:
        """Pitch class of the tonic, 0-11 (0 = C)."""
        return (NATURAL_PC[self.tonic] + self.tonic_alter) % 12

    @property
    def degree(self) -> int:
        """The tonic's degree (0-6) in the major scale with the same signature."""
        return next(d for d, short in MODES.values() if short == self.mode)

    @property
    def fifths(self) -> int:
        """The signature: sharps (> 0) or flats (< 0) of the relative major."""
        major_letter = LETTERS[(LETTERS.index(self.tonic) - self.degree) % 7]
        major_pc = (self.tonic_pc - MAJOR_STEPS[self.degree]) % 12
        alter = (major_pc - NATURAL_PC[major_letter] + 6) % 12 - 6
        return FIFTHS_OF_NATURAL_MAJOR[major_letter] + 7 * alter

    def signature(self) -> dict[str, int]:
        """Letter (upper case) -> semitones every note of that letter is moved by the key."""
        fifths = self.fifths
        out = dict.fromkeys(LETTERS, 0)
        if fifths > 0:
            for i in range(fifths):
                out[SHARP_ORDER[i % 7]] += 1
        for i in range(-fifths):
            out[SHARP_ORDER[6 - i % 7]] -= 1
        return out

    def scale_pitch_classes(self) -> frozenset[int]:
        """The seven pitch classes of the key's mode."""
        signature = self.signature()
        return frozenset((NATURAL_PC[letter] + signature[letter]) % 12 for letter in LETTERS)

    def name(self) -> str:
        """The canonical spelling: ``G``, ``F#m``, ``Bb``, ``Ador``, ``Dmix``."""
        accidental = {1: "#", -1: "b", 0: ""}[self.tonic_alter]
        return f"{self.tonic}{accidental}{self.mode}"


def parse_abc_key(text: str) -> AbcKey:
    """An ABC ``K:`` value (without ``K:``), e.g. ``G``, ``Ador``, ``E Minor``, ``F#m``, ``Bb``.

    Comments (``% ...``) and clef settings (``clef=treble``) are ignored; the mode is matched on
    its first three letters in any case, as ABC 2.1 says.

    Raises:
        AbcError: a key this reader does not know (``HP``, ``none``, extra accidentals).
    """
    value = text.split("%", 1)[0]
    value = re.sub(r"\b\w+=\S*", "", value).strip()
    match = _KEY.match(value)
    if not match:
        raise AbcError(f"K:{text.strip()[:30]} is not a key this reader knows; write a tonic and a mode, "
                       "e.g. K:G, K:Em, K:Ador, K:Dmix")
    letter, accidental, mode = match.groups()
    lowered = mode.lower()
    short = MODES.get(lowered[:3]) if lowered not in ("m",) else MODES["m"]
    if short is None or (len(lowered) > 3 and not _mode_word(lowered)):
        raise AbcError(f"K:{text.strip()[:30]}: unknown mode {mode!r}; known: major, minor (m), dorian, phrygian, "
                       "lydian, mixolydian, aeolian, locrian")
    return AbcKey(letter.upper(), {"#": 1, "b": -1, "": 0}[accidental], short[1])


def _mode_word(lowered: str) -> bool:
    words = ("major", "ionian", "dorian", "phrygian", "lydian", "mixolydian", "minor", "aeolian", "locrian")
    return any(word.startswith(lowered) for word in words)
