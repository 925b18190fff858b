"""Bach chorales from music21's corpus (``corpus.chorales.Iterator()``, public-domain music).

One work item per chorale. Each part becomes a channel (part index 0, 1, ...), its role taken
from the part's name ("Soprano" -> ``soprano``, "Bass Continuo" -> ``bass``, an instrument ->
``other``); four unnamed parts are soprano, alto, tenor and bass. Ties are merged, grace notes
(no duration) are dropped, velocity is :data:`~daemon.music.grid.DEFAULT_VELOCITY`.

Notes are *bar-aligned*: a pickup measure is padded so that bar lines fall on multiples of
``grid.ticks_per_bar`` (what pianoroll bars need).

The iterator lists 371 chorales, 21 of them a second time under another number; the second
listing of a file is skipped as a duplicate.

music21 is imported only inside these functions.
"""

from __future__ import annotations

import logging
import warnings
from fractions import Fraction
from functools import lru_cache
from typing import Any

from daemon.errors import RepresentationError
from daemon.music.grid import DEFAULT_VELOCITY, Grid
from daemon.music.notes import Note, normalise_notes
from training.data.records import PieceRecord
from training.data.sources import ItemResult, Skip, ToolMissingError, WorkItem, first_line

log = logging.getLogger(__name__)

SOURCE = "bach"
LICENCE = "public domain (music21 corpus; music21 is BSD-3)"
MAX_CHANNELS = 16
DEFAULT_BPM = 100.0  # the chorales carry no tempo; a moderate chorale tempo, quarter notes per minute
_VOICE_ROLES = ("soprano", "alto", "tenor", "bass")


def _music21() -> Any:
    try:
        import music21
    except ImportError as exc:
        raise ToolMissingError("music21 is not installed: pip install 'antiphon[train]'") from exc
    return music21


@lru_cache(maxsize=1)
def parser_version() -> str:
    """Changes whenever what this module produces would change (music21's version included)."""
    return f"bach/2 music21/{_music21().__version__}"


def check_available() -> None:
    """Raise :class:`ToolMissingError` when music21 is missing."""
    _music21()


def list_items(ticks_per_beat: int) -> tuple[list[WorkItem], list[Skip]]:
    """One item per chorale, in the iterator's (Riemenschneider) order; repeats are skips."""
    music21 = _music21()
    names = list(music21.corpus.chorales.Iterator(returnType="filename"))
    items: list[WorkItem] = []
    skipped: list[Skip] = []
    seen: set[str] = set()
    for number, name in enumerate(names, start=1):
        piece_id = str(name)
        if piece_id in seen:
            skipped.append(Skip(piece_id, "duplicate", f"Riemenschneider {number} is the same file as an earlier one"))
            continue
        seen.add(piece_id)
        items.append(WorkItem(SOURCE, f"{piece_id}|tpb={ticks_per_beat}", piece_id,
                              payload={"name": piece_id, "ticks_per_beat": ticks_per_beat}))
    return items, skipped


def role_of_part(name: str | None, index: int, n_parts: int) -> str:
    """``soprano`` / ``alto`` / ``tenor`` / ``bass`` from a part name, else ``other``."""
    words = (name or "").lower().split()
    if words and words[0] in _VOICE_ROLES:
        return words[0]
    if not name and n_parts == len(_VOICE_ROLES):
        return _VOICE_ROLES[index]
    return "other"


def parse_item(item: WorkItem) -> ItemResult:
    """Parse one chorale into a piece (never raises for a bad score)."""

    music21 = _music21()
    name = str(item.payload["name"])
    tpb = int(item.payload["ticks_per_beat"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = music21.corpus.parse(name)
    except Exception as exc:  # noqa: BLE001  # music21 raises many unrelated types for a bad file
        return ItemResult(skipped=[Skip(name, "music21 could not parse", first_line(exc))])
    parts = list(score.parts)
    if not parts:
        return ItemResult(skipped=[Skip(name, "no notes", "the score has no parts")])
    if len(parts) > MAX_CHANNELS:
        return ItemResult(skipped=[Skip(name, "too many parts", f"{len(parts)} parts, MIDI has {MAX_CHANNELS} channels")])

    signatures = _time_signatures(score, tpb)
    numerator, denominator = (signatures[0][1], signatures[0][2]) if signatures else (4, 4)
    try:
        grid = Grid(tpb, numerator, denominator)
    except RepresentationError as exc:
        return ItemResult(skipped=[Skip(name, "meter not on the grid", str(exc))])
    pickup = _pickup_ticks(parts[0], grid)
    notes: list[Note] = []
    roles: dict[int, str] = {}
    for channel, part in enumerate(parts):
        roles[channel] = role_of_part(part.partName, channel, len(parts))
        for element in part.stripTies().flatten().notes:
            quarter_length = Fraction(element.quarterLength)
            if quarter_length <= 0:
                continue  # grace note
            start = round(Fraction(element.offset) * tpb) + pickup
            duration = max(1, round(quarter_length * tpb))
            for pitch in element.pitches:
                if 0 <= pitch.midi <= 127 and start >= 0:
                    notes.append(Note(start, int(pitch.midi), duration, DEFAULT_VELOCITY, channel))
    if not notes:
        return ItemResult(skipped=[Skip(name, "no notes", "the score has no sounding notes")])
    used = {n.channel for n in notes}
    title = score.metadata.title if score.metadata is not None and score.metadata.title else name.split("/")[-1]
    record = PieceRecord(
        id=name,
        source=SOURCE,
        name=str(title),
        notes=tuple(normalise_notes(notes)),
        grid=grid,
        bpm=_first_bpm(score),
        roles={ch: role for ch, role in roles.items() if ch in used},
        time_signatures=tuple((tick + pickup if tick else 0, n, d) for tick, n, d in signatures),
    )
    return ItemResult(pieces=[record])


def _time_signatures(score: Any, tpb: int) -> list[tuple[int, int, int]]:
    """(tick, numerator, denominator) of each change of meter in the first part."""
    out: list[tuple[int, int, int]] = []
    part = score.parts[0]
    for ts in part.recurse().getElementsByClass("TimeSignature"):
        tick = round(Fraction(ts.getOffsetInHierarchy(part)) * tpb)
        entry = (tick, int(ts.numerator), int(ts.denominator))
        if not out or out[-1][1:] != entry[1:]:
            out.append(entry)
    return out


def _pickup_ticks(part: Any, grid: Grid) -> int:
    """Ticks of silence to put before a pickup measure so that it ends on a bar line."""
    first = part.getElementsByClass("Measure").first()
    if first is None:
        return 0
    padding = Fraction(first.paddingLeft or 0)
    if padding == 0 and first.number == 0:
        bar = Fraction(first.barDuration.quarterLength)
        padding = max(Fraction(0), bar - Fraction(first.duration.quarterLength))
    return round(padding * grid.ticks_per_beat) % grid.ticks_per_bar


def _first_bpm(score: Any) -> float:
    for mark in score.recurse().getElementsByClass("MetronomeMark"):
        bpm = mark.getQuarterBPM()
        if bpm:
            return round(float(bpm), 3)
    return DEFAULT_BPM
