"""Reading ABC tunes into the project's notes (numpy and the standard library only).

What is read: the header fields that carry music (``M:``, ``L:``, ``K:``; ``R:`` is kept as a
label), every other standard field is ignored, and a field letter ABC does not define is an
error. In the body: notes with accidentals (``^ ^^ _ __ =``, carried to the bar's end for the
same letter and octave), octave marks (``,`` ``'``), lengths (``2``, ``/2``, ``/``, ``3/2``),
broken rhythm (``> >> < <<``), rests (``z``, ``x``; ``Z`` whole bars), ties (``-``, joining
the next note of the same pitch), tuplets (``(3``, ``(p:q:r``), bar lines (``| || |] [| |: :|
::``) and endings (``[1``, ``|2``: played as written, one after the other, as
:mod:`training.data.sources.abc` does), chords (``[CEG]``: every note), grace notes ``{..}``,
decorations, slurs and quoted annotations skipped.

Not read (an :class:`AbcError` saying so): a key, meter or unit length changed inside the body,
several voices (``V:``), text outside ASCII.

Times are kept exact (fractions of a whole note) until :meth:`ParsedTune.to_piece` rounds
onsets and ends to the grid, so rounding never accumulates.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from daemon.music.abc_keys import AbcError, AbcKey, parse_abc_key
from daemon.music.grid import DEFAULT_VELOCITY, Grid
from daemon.music.notes import Note, Piece, normalise_notes

__all__ = ["AbcError", "AbcNote", "ParsedTune", "bar_check", "parse_tune", "split_tunes", "tune_header"]

# Field letters of ABC 2.1; other letters before the body are errors.
KNOWN_FIELDS = frozenset("ABCDFGHIKLMmNOPQRrSsTUVWwXZ")
MUSIC_FIELDS = ("R", "M", "L", "K")
MIDDLE_C = 60  # ABC "C" is MIDI 60, "c" 72
DECORATION_CHARS = frozenset("~.HLMOPSTuvJRkyY`\\\t\n\r ")
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_FIELD = re.compile(r"^([A-Za-z+]):(.*)$")
_LENGTH = re.compile(r"(\d*)(/*)(\d*)")
_TUPLET = re.compile(r"\((\d)(?::(\d?)(?::(\d?))?)?")
_BAR = re.compile(r"\[?[|:][|:\]]*(?:\[?\d+(?:[,-]\d+)*)?|\[\d+(?:[,-]\d+)*")
MAX_TUNE_CHARS = 200_000


@dataclass(frozen=True)
class AbcNote:
    """One written note, exact: ``start`` and ``duration`` in whole notes, ``pitch`` MIDI."""

    start: Fraction
    pitch: int
    duration: Fraction


@dataclass(frozen=True)
class ParsedTune:
    """A tune read from ABC.

    Attributes:
        fields: the music header fields as written (``R``, ``M``, ``L``, ``K``), values stripped.
        meter: (numerator, denominator).
        unit: the unit note length ``L:`` in whole notes.
        key: the ``K:`` key.
        notes: sounding notes (ties joined), sorted by onset then pitch.
        bars: (length in whole notes, at a section boundary) of every non-empty bar, in order;
            a boundary bar is the first or last bar, or one next to a repeat sign, double bar
            line or ending, where a pickup or a shortened ending is written.
        repeats: repeat signs (``|:``, ``:|``, ``::``) and endings (``[1``) read.
        end: where the last note or rest ends, in whole notes.
    """

    fields: dict[str, str]
    meter: tuple[int, int]
    unit: Fraction
    key: AbcKey
    notes: tuple[AbcNote, ...]
    bars: tuple[tuple[Fraction, bool], ...]
    repeats: int
    end: Fraction

    @property
    def bar_length(self) -> Fraction:
        """A full bar of the meter, in whole notes."""
        return Fraction(self.meter[0], self.meter[1])

    @property
    def pickup(self) -> Fraction:
        """The length of the first bar when it is a pickup (shorter than a bar), else 0."""
        if self.bars and self.bars[0][0] < self.bar_length:
            return self.bars[0][0]
        return Fraction(0)

    def to_piece(self, ticks_per_beat: int = 12, velocity: int = DEFAULT_VELOCITY, name: str = "") -> Piece:
        """The notes on a grid of ``ticks_per_beat`` with the tune's meter; onsets and ends are
        rounded to the nearest tick (a note keeps at least one tick). A pickup is shifted so that
        it ends on the first bar line; otherwise tick 0 is the tune's start."""
        grid = Grid(ticks_per_beat, *self.meter) if _meter_fits(self.meter, ticks_per_beat) else Grid(ticks_per_beat)
        ticks_per_whole = 4 * ticks_per_beat
        shift = self.bar_length - self.pickup if self.pickup else Fraction(0)
        notes = []
        for note in self.notes:
            start = round((note.start + shift) * ticks_per_whole)
            end = max(start + 1, round((note.start + shift + note.duration) * ticks_per_whole))
            if 0 <= note.pitch <= 127:
                notes.append(Note(start, note.pitch, end - start, velocity))
        return Piece(notes=tuple(normalise_notes(notes)), grid=grid, name=name,
                     time_signatures=((0, grid.numerator, grid.denominator),))


def _meter_fits(meter: tuple[int, int], ticks_per_beat: int) -> bool:
    numerator, denominator = meter
    return numerator >= 1 and denominator >= 1 and not denominator & (denominator - 1) and \
        not (ticks_per_beat * numerator * 4) % denominator


def split_tunes(text: str) -> list[str]:
    """The tunes of an ABC file: each ``X:`` starts one; a file without ``X:`` is one tune.

    Raises:
        AbcError: text outside ASCII (with the line), or no tune (no ``K:`` field) at all.
    """
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.isascii():
            bad = next(ch for ch in line if not ch.isascii())
            raise AbcError(f"line {number} holds {bad!r}, which is not ASCII: ABC tunes are read as ASCII; "
                           "remove or replace it")
    tunes: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("X:") or not tunes:
            tunes.append([])
        tunes[-1].append(line)
    found = ["\n".join(lines).strip() + "\n" for lines in tunes if any(_is_key_line(line) for line in lines)]
    if not found:
        raise AbcError("no tune found: an ABC tune needs at least a K: line (the key) before its notes")
    return found


def _is_key_line(line: str) -> bool:
    return line.startswith("K:")


def tune_header(text: str) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """The music fields of a tune's header and its body lines (line number, text).

    Raises:
        AbcError: a field letter ABC does not define, no ``K:``, a second voice.
    """
    fields: dict[str, str] = {}
    body: list[tuple[int, str]] = []
    in_body = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        match = _FIELD.match(line)
        if not in_body:
            if not line.strip() or line.startswith("%"):
                continue
            if not match:
                raise AbcError(f"line {number}: notes before the K: field; the header ends with K: (the key)")
            letter, value = match.group(1), match.group(2).split("%", 1)[0].strip()
            if letter not in KNOWN_FIELDS:
                raise AbcError(f"line {number}: unknown header field {letter}: (ABC 2.1 defines A-D, F-I, K-W, X, Z)")
            if letter == "V":
                raise AbcError(f"line {number}: several voices (V:) are not read; keep one voice")
            if letter in MUSIC_FIELDS and letter not in fields:
                fields[letter] = value
            in_body = letter == "K"
            continue
        if match and match.group(1) in KNOWN_FIELDS:
            if match.group(1) in ("K", "M", "L"):
                raise AbcError(f"line {number}: the {match.group(1)}: field changes inside the tune; "
                               "a key, meter or unit length change is not read: split the tune there")
            if match.group(1) == "V":
                raise AbcError(f"line {number}: several voices (V:) are not read; keep one voice")
            continue
        body.append((number, line))
    if "K" not in fields:
        raise AbcError("the tune has no K: field (its key); add one, e.g. K:D, as the header's last line")
    return fields, body


def parse_meter(value: str | None) -> tuple[int, int]:
    if value is None:
        return (4, 4)
    text = value.replace(" ", "")
    text = {"C": "4/4", "C|": "2/2"}.get(text, text)
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise AbcError(f"M:{value} is not a meter this reader knows; write a fraction (6/8) or C or C|")
    return int(match.group(1)), int(match.group(2))


def parse_unit(value: str | None, meter: tuple[int, int]) -> Fraction:
    if not value:
        return Fraction(1, 16) if Fraction(*meter) < Fraction(3, 4) else Fraction(1, 8)
    match = re.fullmatch(r"(\d+)/(\d+)", value.replace(" ", ""))
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise AbcError(f"L:{value} is not a unit note length; write a fraction such as 1/8")
    return Fraction(int(match.group(1)), int(match.group(2)))


def parse_tune(text: str, carry_accidentals: bool = True) -> ParsedTune:
    """Read one tune (header and body).

    ``carry_accidentals``: an accidental holds for the same letter and octave until the bar's
    end, as ABC 2.1 and ``abc2midi`` read it; False reads it for its own note only, as
    music21's ABC reader does.

    Raises:
        AbcError: with the line and column of what could not be read.
    """
    if len(text) > MAX_TUNE_CHARS:
        raise AbcError(f"the tune is {len(text)} characters long; at most {MAX_TUNE_CHARS} are read")
    if not text.isascii():
        split_tunes(text)  # raises with the line of the first non-ASCII character
    fields, body = tune_header(text)
    meter = parse_meter(fields.get("M"))
    unit = parse_unit(fields.get("L"), meter)
    key = parse_abc_key(fields["K"])
    reader = _BodyReader(meter, unit, key, carry_accidentals)
    for number, line in body:
        reader.read_line(number, line)
    return reader.finish(fields)


@dataclass
class _BodyReader:
    meter: tuple[int, int]
    unit: Fraction
    key: AbcKey
    carry_accidentals: bool = True
    time: Fraction = Fraction(0)
    bar_start: Fraction = Fraction(0)
    notes: list[AbcNote] = field(default_factory=list)
    bars: list[tuple[Fraction, bool]] = field(default_factory=list)
    repeats: int = 0
    accidentals: dict[tuple[str, int], int] = field(default_factory=dict)
    tied: dict[int, int] = field(default_factory=dict)  # pitch -> index in notes, tied onwards
    tuplet: tuple[Fraction, int] | None = None  # (factor, notes left)
    broken: Fraction | None = None  # length factor of the next element
    boundary_before: bool = True  # the current bar began at a section boundary
    last: tuple[list[int], Fraction] | None = None  # notes and length of the element just read

    def __post_init__(self) -> None:
        self.signature = self.key.signature()

    def read_line(self, number: int, line: str) -> None:
        self.number = number
        self.line = line
        i = 0
        text = line.split("%", 1)[0]
        while i < len(text):
            i = self._read(text, i)

    def _fail(self, column: int, what: str) -> AbcError:
        snippet = self.line[max(0, column - 8):column + 8]
        return AbcError(f"line {self.number}, column {column + 1} (near {snippet!r}): {what}")

    def _read(self, text: str, i: int) -> int:
        ch = text[i]
        if ch in DECORATION_CHARS:
            return i + 1
        if ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise self._fail(i, "a quoted annotation or chord name is not closed with \"")
            return end + 1
        if ch in "!+":
            end = text.find(ch, i + 1)
            if end < 0:
                raise self._fail(i, f"a decoration {ch}...{ch} is not closed")
            return end + 1
        if ch == "{":
            end = text.find("}", i + 1)
            if end < 0:
                raise self._fail(i, "a grace-note group { is not closed with }")
            return end + 1
        if ch == "(":
            match = _TUPLET.match(text, i)
            if match:
                self._start_tuplet(match)
                return match.end()
            return i + 1  # a slur
        if ch == ")":
            return i + 1
        if ch == "-":
            self._tie()
            return i + 1
        if ch in "><":
            return self._broken_rhythm(text, i)
        if ch == "[" and i + 2 < len(text) and text[i + 1].isalpha() and text[i + 2] == ":":
            end = text.find("]", i)
            letter = text[i + 1]
            if letter in ("K", "M", "L"):
                raise self._fail(i, f"an inline [{letter}:] change is not read: split the tune there")
            return len(text) if end < 0 else end + 1
        bar = _BAR.match(text, i)
        if bar and (ch != "[" or not _is_chord_start(text, i)):
            self._bar_line(bar.group(0))
            return bar.end()
        if ch == "[":
            return self._chord(text, i)
        if ch in "zx":
            return self._rest(text, i)
        if ch == "Z":
            match = re.compile(r"Z(\d*)").match(text, i)
            assert match is not None
            bars = int(match.group(1) or 1)
            self._close_bar(boundary=False)
            self.time += bars * Fraction(*self.meter)
            self.bars.extend([(Fraction(*self.meter), False)] * bars)
            self.bar_start = self.time
            return match.end()
        if ch in "^_=" or ch.upper() in _LETTER_PC:
            pitches, length, end = self._note(text, i)
            self._element(text, end, pitches, length)
            return end
        raise self._fail(i, f"{ch!r} is not ABC music here")

    def _start_tuplet(self, match: re.Match[str]) -> None:
        p = int(match.group(1))
        if p < 2:
            raise self._fail(match.start(), "a tuplet needs at least 2 notes")
        compound = self.meter[0] % 3 == 0 and self.meter[0] > 3
        default_q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if compound else 2)
        q = int(match.group(2)) if match.group(2) else default_q
        r = int(match.group(3)) if match.group(3) else p
        self.tuplet = (Fraction(q, p), r)

    def _tie(self) -> None:
        if self.notes:
            last_start = max(n.start for n in self.notes[-8:])
            self.tied = {n.pitch: k for k, n in enumerate(self.notes) if n.start == last_start and k >= len(self.notes) - 8}

    def _length(self, text: str, i: int) -> tuple[Fraction, int]:
        match = _LENGTH.match(text, i)
        assert match is not None
        numerator, slashes, denominator = match.groups()
        value = Fraction(int(numerator) if numerator else 1)
        if slashes:
            if denominator:
                value /= int(denominator) * 2 ** (len(slashes) - 1)
            else:
                value /= 2 ** len(slashes)
        elif denominator:
            raise self._fail(i, "a note length is malformed")
        if value == 0:
            raise self._fail(i, "a note length of 0")
        return value, match.end()

    def _note(self, text: str, i: int) -> tuple[list[int], Fraction, int]:
        """One note: (pitch in a list, length in units, index after it)."""
        alter: int | None = None
        start = i
        while i < len(text) and text[i] in "^_=":
            step = {"^": 1, "_": -1, "=": 0}[text[i]]
            alter = step if alter is None or step == 0 else alter + step
            i += 1
        if i >= len(text) or text[i].upper() not in _LETTER_PC:
            raise self._fail(start, "an accidental with no note letter after it")
        letter = text[i]
        octave = 4 if letter.isupper() else 5
        i += 1
        while i < len(text) and text[i] in ",'":
            octave += 1 if text[i] == "'" else -1
            i += 1
        upper = letter.upper()
        if alter is not None and self.carry_accidentals:
            self.accidentals[(upper, octave)] = alter
        alter_now = alter if alter is not None else self.accidentals.get((upper, octave), self.signature[upper])
        pitch = MIDDLE_C + 12 * (octave - 4) + _LETTER_PC[upper] + alter_now
        length, i = self._length(text, i)
        return [pitch], length, i

    def _chord(self, text: str, i: int) -> int:
        end = text.find("]", i)
        if end < 0:
            raise self._fail(i, "a chord [ is not closed with ]")
        pitches: list[int] = []
        length: Fraction | None = None
        j = i + 1
        while j < end:
            if text[j] in "^_=" or text[j].upper() in _LETTER_PC:
                found, note_length, j = self._note(text, j)
                pitches += found
                length = note_length if length is None else length
            elif text[j] in DECORATION_CHARS or text[j] in "-)(":
                j += 1
            elif text[j] in "zx":
                _, j = self._length(text, j + 1)
            else:
                raise self._fail(j, f"{text[j]!r} inside a chord")
        if not pitches:
            raise self._fail(i, "an empty chord []")
        multiplier, after = self._length(text, end + 1)
        self._element(text, after, sorted(set(pitches)), (length or Fraction(1)) * multiplier)
        return after

    def _rest(self, text: str, i: int) -> int:
        length, end = self._length(text, i + 1)
        self._element(text, end, [], length)
        return end

    def _element(self, text: str, end: int, pitches: list[int], length: Fraction) -> None:
        duration = length * self.unit
        if self.tuplet is not None:
            factor, left = self.tuplet
            duration *= factor
            self.tuplet = (factor, left - 1) if left > 1 else None
        if self.broken is not None:
            duration *= self.broken
            self.broken = None
        tied, self.tied = self.tied, {}
        touched = []
        for pitch in pitches:
            k = tied.get(pitch)
            if k is not None and self.notes[k].start + self.notes[k].duration == self.time:
                old = self.notes[k]
                self.notes[k] = AbcNote(old.start, pitch, old.duration + duration)
            else:
                self.notes.append(AbcNote(self.time, pitch, duration))
                k = len(self.notes) - 1
            touched.append(k)
        self.last = (touched, duration)
        self.time += duration

    def _broken_rhythm(self, text: str, i: int) -> int:
        """``>`` or ``<`` (or doubled): lengthen or shorten the element before, the reverse for the next."""
        run = re.compile(r"(>+|<+)").match(text, i)
        assert run is not None
        if self.last is None:
            raise self._fail(i, f"broken rhythm {text[i]} with no note before it")
        short = Fraction(1, 2 ** len(run.group(1)))
        first, second = (2 - short, short) if text[i] == ">" else (short, 2 - short)
        touched, duration = self.last
        delta = duration * first - duration
        for k in touched:
            old = self.notes[k]
            self.notes[k] = AbcNote(old.start, old.pitch, old.duration + delta)
        self.time += delta
        self.broken = second
        self.last = None
        return run.end()

    def _bar_line(self, token: str) -> None:
        boundary = token not in ("|",)
        if ":" in token or any(ch.isdigit() for ch in token):
            self.repeats += 1
        self._close_bar(boundary)
        self.accidentals = {}
        self.last = None

    def _close_bar(self, boundary: bool) -> None:
        length = self.time - self.bar_start
        if length > 0:
            self.bars.append((length, boundary or self.boundary_before or not self.bars))
            self.boundary_before = boundary
        else:
            self.boundary_before = self.boundary_before or boundary
        self.bar_start = self.time

    def finish(self, fields: dict[str, str]) -> ParsedTune:
        if self.tuplet is not None and self.tuplet[1] > 0 and not self.notes:
            raise AbcError("a tuplet is not followed by its notes")
        if self.time > self.bar_start:
            self._close_bar(boundary=True)
        elif self.bars:
            length, _ = self.bars[-1]
            self.bars[-1] = (length, True)
        if not self.notes:
            raise AbcError("the tune has no notes")
        notes = tuple(sorted(self.notes, key=lambda n: (n.start, n.pitch)))
        return ParsedTune(fields=fields, meter=self.meter, unit=self.unit, key=self.key, notes=notes,
                          bars=tuple(self.bars), repeats=self.repeats, end=self.time)


def _is_chord_start(text: str, i: int) -> bool:
    return i + 1 < len(text) and (text[i + 1] in "^_=" or text[i + 1].upper() in _LETTER_PC)


def bar_check(tune: ParsedTune) -> tuple[int, int]:
    """(bars whose length is right, bars in all): a bar is right when it is a full bar of the
    meter, or shorter at a section boundary (a pickup, or an ending completed by the pickup)."""
    full = tune.bar_length
    right = sum(1 for length, boundary in tune.bars if length == full or (boundary and length < full))
    return right, len(tune.bars)
