"""Writing notes as an ABC tune: what the ABC model is given to continue.

The notes are written as one melody line (``L:1/8``) in a key (given, or estimated from the
notes by :func:`daemon.music.keys.estimate_key`) and a given meter: notes starting together
become a chord ``[..]``, overlaps are cut at the next onset, gaps become rests ``z``, and a note
crossing a bar line is split and tied. Pitches are spelled from the key's signature; other
pitch classes take a sharp in sharp keys and a flat in flat keys, and accidentals are written
again only where the bar has not already set them.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from daemon.music.abc_keys import LETTERS, NATURAL_PC, AbcError, AbcKey, parse_abc_key
from daemon.music.grid import Grid
from daemon.music.keys import estimate_key
from daemon.music.notes import Note

UNIT = Fraction(1, 8)  # L:1/8, in whole notes
BARS_PER_LINE = 4
MAJOR_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_NAMES = ("Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm")


def key_for_notes(notes: Sequence[Note]) -> AbcKey:
    """The major or minor key the notes are most likely in (C major for no notes)."""
    found = estimate_key(notes)
    if found is None:
        return parse_abc_key("C")
    return parse_abc_key((MINOR_NAMES if found.minor else MAJOR_NAMES)[found.root])


def spell(pitch: int, key: AbcKey) -> tuple[str, int, int]:
    """(letter, alteration in semitones, octave with 4 = the octave of middle C) for a MIDI pitch."""
    signature = key.signature()
    pc = pitch % 12
    candidates = []
    for letter in LETTERS:
        for alter in (-1, 0, 1):
            if (NATURAL_PC[letter] + alter) % 12 == pc:
                in_key = alter == signature[letter]
                wrong_way = (alter > 0 and key.fifths < 0) or (alter < 0 and key.fifths >= 0)
                candidates.append((not in_key, wrong_way, abs(alter), letter, alter))
    _, _, _, letter, alter = min(candidates)
    octave = (pitch - alter - NATURAL_PC[letter]) // 12 - 1
    return letter, alter, octave


def _pitch_text(pitch: int, key: AbcKey, bar_state: dict[tuple[str, int], int]) -> str:
    letter, alter, octave = spell(pitch, key)
    current = bar_state.get((letter, octave), key.signature()[letter])
    accidental = ""
    if alter != current:
        accidental = {-2: "__", -1: "_", 0: "=", 1: "^", 2: "^^"}[alter]
        bar_state[(letter, octave)] = alter
    if octave >= 5:
        name = letter.lower() + "'" * (octave - 5)
    else:
        name = letter + "," * (4 - octave)
    return accidental + name


def length_text(length: Fraction) -> str:
    """An ABC length suffix for ``length`` units: ``""``, ``2``, ``/2``, ``3/2``."""
    if length == 1:
        return ""
    if length.denominator == 1:
        return str(length.numerator)
    if length.numerator == 1:
        return f"/{length.denominator}"
    return f"{length.numerator}/{length.denominator}"


def notes_to_abc(notes: Sequence[Note], grid: Grid, key: AbcKey | str | None = None, rhythm: str = "",
                 title: str = "") -> str:
    """An ABC tune (header with ``M:`` from ``grid``, ``L:1/8``, ``K:``; then the body) of the notes.

    Tick 0 is taken as a bar line. ``key`` may be an :class:`AbcKey`, a ``K:`` value, or None
    to estimate it from the notes.

    Raises:
        AbcError: no notes, or a key this writer cannot read.
    """
    if not notes:
        raise AbcError("there are no notes to write as ABC")
    abc_key = key if isinstance(key, AbcKey) else (parse_abc_key(key) if key else key_for_notes(notes))
    header = ["X:1"] + ([f"T:{title}"] if title else []) + ([f"R:{rhythm}"] if rhythm else [])
    header += [f"M:{grid.numerator}/{grid.denominator}", "L:1/8", f"K:{abc_key.name()}"]
    return "\n".join(header) + "\n" + body_text(notes, grid, abc_key)


def body_text(notes: Sequence[Note], grid: Grid, key: AbcKey, close: bool = True) -> str:
    """The body lines of :func:`notes_to_abc`; ``close`` ends it with ``|]``, else with a bar line
    that a continuation can follow."""
    ticks_per_unit = Fraction(4 * grid.ticks_per_beat) * UNIT
    bar_ticks = grid.ticks_per_bar
    onsets = sorted({n.start for n in notes})
    events: list[tuple[int, int, list[int]]] = []  # (start, end, pitches; empty = rest)
    position = 0
    for k, start in enumerate(onsets):
        group = [n for n in notes if n.start == start]
        end = max(n.end for n in group)
        if k + 1 < len(onsets):
            end = min(end, onsets[k + 1])
        if start > position:
            events.append((position, start, []))
        events.append((start, end, sorted({n.pitch for n in group})))
        position = end
    last_bar_end = -(-position // bar_ticks) * bar_ticks
    bars: list[str] = []
    current: list[str] = []
    bar_state: dict[tuple[str, int], int] = {}
    for start, end, pitches in events:
        cursor = start
        while cursor < end:
            bar_end = (cursor // bar_ticks + 1) * bar_ticks
            piece_end = min(end, bar_end)
            length = Fraction(piece_end - cursor) / ticks_per_unit
            if pitches:
                names = [_pitch_text(p, key, bar_state) for p in pitches]
                text = names[0] if len(names) == 1 else "[" + "".join(names) + "]"
                current.append(text + length_text(length) + ("-" if piece_end < end else ""))
            else:
                current.append("z" + length_text(length))
            cursor = piece_end
            if cursor == bar_end:
                bars.append(" ".join(current))
                current, bar_state = [], {}
    if current:
        pad = Fraction(last_bar_end - position) / ticks_per_unit
        if pad > 0:
            current.append("z" + length_text(pad))
        bars.append(" ".join(current))
    lines = []
    for i in range(0, len(bars), BARS_PER_LINE):
        chunk = bars[i:i + BARS_PER_LINE]
        last = i + BARS_PER_LINE >= len(bars)
        lines.append(" | ".join(chunk) + (" |]" if last and close else " |"))
    return "\n".join(lines) + "\n"
