"""Folk tunes in ABC from music21's corpus, converted with Debian's ``abc2midi`` (package abcmidi).

Sources: ``oneills`` (O'Neill's 1850), ``ryans`` (Ryan's Mammoth Collection), ``airds``
(Aird's Airs) -- public-domain tunes -- and ``essen`` (Essen folksongs: **non-commercial use
only**, built only when asked for by name).

One work item per ABC file (a file holds one tune or hundreds). ``abc2midi`` is far faster
than music21's ABC parser, but it *performs* a tune, so the text is first made to read as
written -- the way music21 (and DATA.md's counts) read it:

* repeat signs and ending numbers are removed, so repeats are not played twice and first and
  second endings follow each other (as music21 lists them);
* a header ``P:`` play order (``P:ABA``) is dropped, so parts are not replayed;
* ornament decorations (``~`` rolls, ``T`` and ``!trill!`` etc.) are dropped, so an ornament is
  one written note, not a burst of short notes; fermatas do not lengthen notes (``-NFER``);
* guitar chords (``-NGUI``) and ``%%MIDI`` accompaniment directives are dropped: only the
  written voices are kept. The first voice is ``melody``, further voices are ``other``.
* ``X:`` reference numbers are renumbered inside the scratch copy so that a file that reuses
  a number loses no tune.

Bar alignment: ``abc2midi`` accents the first note of every bar (velocity 105 against 95/80),
so the most common position of accented onsets in the bar is where the bar lines fall; a
pickup is padded to end on a bar line. Velocities are then set to
:data:`~daemon.music.grid.DEFAULT_VELOCITY`: the accents are abc2midi's, not the tune's.

Piece ids are ``<source>/<file stem>/<X: number>``, e.g. ``oneills/0001-0050/1``.
"""

from __future__ import annotations

import logging
import re
import subprocess
import tempfile
from collections import Counter
from functools import lru_cache
from pathlib import Path

from daemon.music.grid import DEFAULT_VELOCITY
from daemon.music.notes import Note, Piece, normalise_notes
from training.data.records import PieceRecord
from training.data.sources import ItemResult, Skip, ToolMissingError, WorkItem, require_tool
from training.data.sources.midi_files import read_midi_checked

log = logging.getLogger(__name__)

# source -> (music21 corpus folder, licence)
COLLECTIONS: dict[str, tuple[str, str]] = {
    "oneills": ("oneills1850", "public domain tunes (music21 corpus)"),
    "ryans": ("ryansMammoth", "public domain tunes (music21 corpus)"),
    "airds": ("airdsAirs", "public domain tunes (music21 corpus)"),
    "essen": ("essenFolksong", "NON-COMMERCIAL use only (Essen Folksong Collection, music21 corpus)"),
}
ABC2MIDI_FLAGS = ("-NGUI", "-NFER", "-silent")  # no guitar chords, fermatas as written, quiet
ABC2MIDI_TIMEOUT_S = 120.0  # per ABC file; the largest takes well under a second
INSTALL_HINT = "apt-get install abcmidi"

_HEADER_FIELD = re.compile(r"^[A-Za-z+]:")
_REFERENCE = re.compile(r"^X:\s*(\S*)", re.MULTILINE)
_TITLE = re.compile(r"^T:\s*(.*)$")
_PROTECTED = re.compile(r'"[^"\n]*"|\[[A-Za-z]:[^\]\n]*\]|%.*$')  # annotations, inline fields, comments
_DECORATION = re.compile(r"![^!\n]*!|\+[A-Za-z.][A-Za-z0-9.]*\+")
_TRILL = re.compile(r"T(?=[=^_A-Ga-gz(.~\[])")
_BAR_RUN = re.compile(r"[:|]*\|[:|]*|::+")
_ENDING_AFTER_BAR = re.compile(r"\|(\s*)\d+(?:[,\-]\d+)*")
_ENDING_BRACKET = re.compile(r"\[\d+(?:[,\-]\d+)*")


def licence(source: str) -> str:
    return COLLECTIONS[source][1]


@lru_cache(maxsize=1)
def _abc2midi_version() -> str:
    path = require_tool("abc2midi", INSTALL_HINT)
    done = subprocess.run([path, "-ver"], check=False, capture_output=True, text=True, timeout=30)
    return (done.stdout.strip() or done.stderr.strip()).splitlines()[0] if (done.stdout or done.stderr) else "?"


def parser_version() -> str:
    """Changes whenever what this module produces would change (abc2midi's version included)."""
    return f"abc/3 abc2midi/{_abc2midi_version()}"


def check_available() -> None:
    """Raise :class:`ToolMissingError` when abc2midi or music21's corpus is missing."""
    require_tool("abc2midi", INSTALL_HINT)
    collection_files("oneills")


def collection_files(source: str) -> list[Path]:
    """The ABC files of a collection in music21's corpus, sorted by name."""
    try:
        from music21 import corpus
    except ImportError as exc:
        raise ToolMissingError("music21 is not installed: pip install 'antiphon[train]'") from exc
    folder = COLLECTIONS[source][0]
    paths = corpus.corpora.CoreCorpus().getPaths(fileExtensions=("abc",))
    return sorted((Path(p) for p in paths if Path(p).parent.name == folder), key=lambda p: p.name)


def list_items(source: str, ticks_per_beat: int) -> tuple[list[WorkItem], list[Skip]]:
    """One item per ABC file of the collection; ``expected`` is its number of tunes."""
    items = []
    for path in collection_files(source):
        text = path.read_bytes().decode("latin-1")
        stat = path.stat()
        items.append(WorkItem(
            source, f"{path}|{stat.st_size}|{stat.st_mtime_ns}|tpb={ticks_per_beat}", f"{source}/{path.stem}",
            expected=max(1, len(_REFERENCE.findall(text))),
            payload={"path": str(path), "source": source, "ticks_per_beat": ticks_per_beat}))
    return items, []


def as_written(text: str) -> tuple[str, list[tuple[str, str]]]:
    """ABC text that ``abc2midi`` plays as written, and the (X: number, title) of each tune.

    Tunes are renumbered 1, 2, ... in the returned text (abc2midi names its output files by
    number); the list gives each one's original number and first title.
    """
    out: list[str] = []
    tunes: list[tuple[str, str]] = []
    in_body = False
    for line in text.splitlines():
        if line.startswith("X:"):
            in_body = False
            match = _REFERENCE.match(line)
            tunes.append(((match.group(1) if match else "") or str(len(tunes) + 1), ""))
            out.append(f"X:{len(tunes)}")
            continue
        if line.startswith("%%MIDI") and "program" not in line:
            continue
        if not in_body:
            if line.startswith("P:"):
                continue
            title = _TITLE.match(line)
            if title and tunes and not tunes[-1][1]:
                tunes[-1] = (tunes[-1][0], _decode_title(title.group(1).strip()))
            if line.startswith("K:"):
                in_body = True
            out.append(line)
            continue
        if _HEADER_FIELD.match(line) or line.startswith("%"):
            out.append(line)
            continue
        pieces: list[str] = []
        position = 0
        for protected in _PROTECTED.finditer(line):
            pieces.append(_as_written_music(line[position:protected.start()]))
            pieces.append(protected.group(0))
            position = protected.end()
        pieces.append(_as_written_music(line[position:]))
        out.append("".join(pieces))
    return "\n".join(out) + "\n", tunes


def _as_written_music(segment: str) -> str:
    segment = _DECORATION.sub("", segment)
    segment = _TRILL.sub("", segment.replace("~", ""))
    segment = _BAR_RUN.sub(lambda m: m.group(0).replace(":", "") or "|", segment)
    segment = _ENDING_AFTER_BAR.sub(r"|\1", segment)
    return _ENDING_BRACKET.sub("", segment)


def _decode_title(raw: str) -> str:
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return raw


def bar_offset(notes: list[Note], ticks_per_bar: int) -> int:
    """Ticks to shift notes so that abc2midi's bar accents fall on bar lines (0..bar-1).

    The accented velocity is the highest in the tune; onset 0 is left out because abc2midi
    accents a pickup's first note too.
    """
    if not notes:
        return 0
    accent = max(n.velocity for n in notes)
    if accent == min(n.velocity for n in notes):
        return 0
    phases = Counter(n.start % ticks_per_bar for n in notes if n.velocity == accent and n.start > 0)
    if not phases:
        return 0
    phase = max(sorted(phases), key=lambda p: phases[p])
    return (ticks_per_bar - phase) % ticks_per_bar


def parse_item(item: WorkItem) -> ItemResult:
    """Convert one ABC file with abc2midi and read every tune in it."""
    path = Path(str(item.payload["path"]))
    source = str(item.payload["source"])
    tpb = int(item.payload["ticks_per_beat"])
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as exc:
        return ItemResult(skipped=[Skip(item.label, "unreadable file", str(exc))])
    written, tunes = as_written(text)
    if not tunes:
        return ItemResult(skipped=[Skip(item.label, "no tunes", "the file has no X: field")])
    result = ItemResult()
    with tempfile.TemporaryDirectory(prefix="antiphon-abc-") as scratch:
        (Path(scratch) / "t.abc").write_bytes(written.encode("latin-1", errors="replace"))
        try:
            subprocess.run([require_tool("abc2midi", INSTALL_HINT), "t.abc", *ABC2MIDI_FLAGS], cwd=scratch,
                           capture_output=True, timeout=ABC2MIDI_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            result.skipped = [Skip(f"{item.label}#{i}", "abc2midi timed out", f"after {ABC2MIDI_TIMEOUT_S:.0f} s")
                              for i in range(1, len(tunes) + 1)]
            result.cacheable = False
            return result
        seen: set[str] = set()
        for index, (number, title) in enumerate(tunes, start=1):
            piece_id = f"{source}/{path.stem}/{number}"
            if piece_id in seen:
                piece_id = f"{piece_id}-{index}"
            seen.add(piece_id)
            midi_path = Path(scratch) / f"t{index}.mid"
            if not midi_path.exists():
                result.skipped.append(Skip(piece_id, "abc2midi gave no MIDI", "the tune did not convert"))
                continue
            piece = read_midi_checked(midi_path, piece_id, tpb)
            if isinstance(piece, Skip):
                result.skipped.append(piece)
                continue
            record = _record(piece, piece_id, source, title or piece_id)
            if record is None:
                result.skipped.append(Skip(piece_id, "no notes", "the tune has no notes"))
            else:
                result.pieces.append(record)
    return result


def _record(piece: Piece, piece_id: str, source: str, title: str) -> object | None:

    if not piece.notes:
        return None
    shift = bar_offset(list(piece.notes), piece.grid.ticks_per_bar)
    notes = normalise_notes(Note(n.start + shift, n.pitch, n.duration, DEFAULT_VELOCITY, n.channel)
                            for n in piece.notes)
    channels = sorted({n.channel for n in notes})
    return PieceRecord(
        id=piece_id,
        source=source,
        name=title,
        notes=tuple(notes),
        grid=piece.grid,
        bpm=piece.bpm,
        roles={ch: ("melody" if i == 0 else "other") for i, ch in enumerate(channels)},
        time_signatures=tuple((t + shift if t else 0, n, d) for t, n, d in piece.time_signatures),
        tempo_changes=piece.tempo_changes,
    )
