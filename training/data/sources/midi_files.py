"""MIDI files: reading them safely, General MIDI roles, and the ``dir:/path`` source.

``read_midi_checked`` wraps :func:`daemon.music.midi_files.read_midi` so that a corrupt, empty,
type-2 or SMPTE-timed file becomes a :class:`~training.data.sources.Skip` with a reason instead of
an exception. The ``dir`` source reads every ``.mid``/``.midi`` file under a folder
(recursively, in sorted path order); ids are ``dir/<path relative to the folder, no suffix>``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from pathlib import Path

import mido

from daemon.errors import MidiFileError
from daemon.music.grid import DRUM_CHANNEL
from daemon.music.midi_files import read_midi
from daemon.music.notes import Piece
from training.data.records import PieceRecord
from training.data.sources import CorpusError, ItemResult, Skip, WorkItem

log = logging.getLogger(__name__)

SOURCE = "dir"
LICENCE = "the user's own files"
MIDI_SUFFIXES = (".mid", ".midi")

# General MIDI program ranges (0-based) -> role
GM_BASS_PROGRAMS = range(32, 40)  # acoustic .. synth bass
GM_MELODY_PROGRAMS = range(56, 88)  # brass, reed, pipe, synth lead
GM_CHORD_PROGRAMS = (range(32), range(40, 56), range(88, 104))  # keys, organ, guitar, strings, pads, fx
# everything else (ethnic, percussive, sound effects) is "other"


def parser_version() -> str:
    return "midi/1"


def check_available() -> None:
    """Nothing to install: mido is a dependency."""


def gm_role(channel: int, program: int | None) -> str:
    """The role a General MIDI channel plays: channel 10 is drums, then by program number."""
    if channel == DRUM_CHANNEL:
        return "drums"
    program = 0 if program is None else program
    if program in GM_BASS_PROGRAMS:
        return "bass"
    if program in GM_MELODY_PROGRAMS:
        return "melody"
    if any(program in r for r in GM_CHORD_PROGRAMS):
        return "chords"
    return "other"


def gm_roles(channels: set[int], programs: Mapping[int, int]) -> dict[int, str]:
    """Role of every channel in ``channels`` from its first program (General MIDI)."""
    return {ch: gm_role(ch, programs.get(ch)) for ch in sorted(channels)}


def classify_midi_error(exc: MidiFileError) -> str:
    """A short skip reason for a file :func:`read_midi` refused."""
    text = str(exc)
    if "type 2" in text:
        return "type 2 MIDI"
    if "SMPTE" in text:
        return "SMPTE timing"
    return "corrupt MIDI"


def read_midi_checked(source: Path | bytes | mido.MidiFile, name: str, ticks_per_beat: int) -> Piece | Skip:
    """Read a MIDI file (a path, the file's bytes, or an open file); a :class:`Skip` for anything unreadable."""
    if isinstance(source, mido.MidiFile):
        midi = source
    else:
        try:
            data = source if isinstance(source, bytes) else source.read_bytes()
        except OSError as exc:
            return Skip(name, "unreadable file", str(exc))
        if not data:
            return Skip(name, "empty file", "0 bytes")
        try:
            midi = mido.MidiFile(file=io.BytesIO(data), clip=True)
        except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as exc:
            return Skip(name, "corrupt MIDI", f"{type(exc).__name__}: {exc}")
    try:
        return read_midi(midi, ticks_per_beat=ticks_per_beat, name=name)
    except MidiFileError as exc:
        return Skip(name, classify_midi_error(exc), str(exc))


def record_from_piece(piece: Piece, piece_id: str, source: str, name: str,
                      roles: Mapping[int, str] | None = None) -> object:
    """A :class:`~training.data.records.PieceRecord` from a read MIDI file (GM roles by default)."""

    channels = {n.channel for n in piece.notes}
    return PieceRecord(
        id=piece_id,
        source=source,
        name=name,
        notes=piece.notes,
        grid=piece.grid,
        bpm=piece.bpm,
        roles=dict(roles) if roles is not None else gm_roles(channels, piece.programs),
        time_signatures=piece.time_signatures,
        tempo_changes=piece.tempo_changes,
        programs={ch: p for ch, p in piece.programs.items() if ch in channels},
    )


def list_items(folder: Path, ticks_per_beat: int) -> tuple[list[WorkItem], list[Skip]]:
    """One item per MIDI file under ``folder``."""
    if not folder.is_dir():
        raise CorpusError(f"{folder} is not a folder; give --source dir:/path/to/a/folder/of/midi/files")
    items = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file()):
        rel = path.relative_to(folder).with_suffix("").as_posix()
        stat = path.stat()
        items.append(WorkItem(SOURCE, f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|tpb={ticks_per_beat}",
                              f"dir/{rel}", payload={"path": str(path), "id": f"dir/{rel}",
                                                     "ticks_per_beat": ticks_per_beat}))
    if not items:
        log.warning("no .mid or .midi file under %s", folder)
    return items, []


def parse_item(item: WorkItem) -> ItemResult:
    """Read one MIDI file."""
    path = Path(str(item.payload["path"]))
    piece_id = str(item.payload["id"])
    piece = read_midi_checked(path, piece_id, int(item.payload["ticks_per_beat"]))
    if isinstance(piece, Skip):
        return ItemResult(skipped=[piece])
    if not piece.notes:
        return ItemResult(skipped=[Skip(piece_id, "no notes", "the file has no notes")])
    return ItemResult(pieces=[record_from_piece(piece, piece_id, SOURCE, path.stem)])
