"""Freedoom's music: the General MIDI songs stored as lumps inside its WAD files (BSD-3).

A WAD is a tiny container: a 12-byte header (``IWAD``/``PWAD``, lump count, directory
offset, little-endian int32s) and a directory of 16-byte entries (file offset, size, 8-byte
name). Music lumps are named ``D_*``; Freedoom stores them as standard MIDI files (``MThd``).
A lump in Doom's own MUS format is counted as skipped (no MUS reader here).

One work item per music lump; channel roles by General MIDI (channel 10 drums, bass
programs bass, ...). Piece ids are ``freedoom/<wad stem>/<lump name>``.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from training.data.sources import CorpusError, ItemResult, Skip, ToolMissingError, WorkItem
from training.data.sources.midi_files import read_midi_checked, record_from_piece

log = logging.getLogger(__name__)

SOURCE = "freedoom"
LICENCE = "BSD-3 (Freedoom)"
WAD_DIR = Path(os.environ.get("ANTIPHON_WAD_DIR", "/usr/share/games/doom"))
WAD_NAMES = ("freedoom1.wad", "freedoom2.wad")
INSTALL_HINT = "apt-get install freedoom"

WAD_HEADER = struct.Struct("<4sii")  # identification, number of lumps, directory offset
WAD_ENTRY = struct.Struct("<ii8s")  # file offset, size, name (NUL-padded ASCII)
WAD_KINDS = (b"IWAD", b"PWAD")
MIDI_MAGIC = b"MThd"
MUS_MAGIC = b"MUS\x1a"
MUSIC_PREFIX = "D_"


@dataclass(frozen=True)
class Lump:
    """One directory entry of a WAD: ``size`` bytes at ``offset``."""

    name: str
    offset: int
    size: int


def parser_version() -> str:
    return "freedoom/1"


def wad_paths() -> list[Path]:
    """The Freedoom WADs that are installed."""
    return [WAD_DIR / name for name in WAD_NAMES if (WAD_DIR / name).is_file()]


def check_available() -> None:
    """Raise :class:`ToolMissingError` when no Freedoom WAD is installed."""
    if not wad_paths():
        raise ToolMissingError(f"Freedoom's WAD files are not in {WAD_DIR}: {INSTALL_HINT} "
                               "(or set ANTIPHON_WAD_DIR to where they are)")


def read_directory(path: Path) -> list[Lump]:
    """The lumps of a WAD file.

    Raises:
        CorpusError: not a WAD, or a directory that points outside the file.
    """
    with path.open("rb") as wad:
        header = wad.read(WAD_HEADER.size)
        if len(header) < WAD_HEADER.size:
            raise CorpusError(f"{path} is too short to be a WAD file")
        kind, count, directory = WAD_HEADER.unpack(header)
        if kind not in WAD_KINDS:
            raise CorpusError(f"{path} is not a WAD file (it starts with {kind!r}, not IWAD or PWAD)")
        file_size = path.stat().st_size
        if count < 0 or directory < 0 or directory + count * WAD_ENTRY.size > file_size:
            raise CorpusError(f"{path}: its directory ({count} lumps at byte {directory}) does not fit the file")
        wad.seek(directory)
        table = wad.read(count * WAD_ENTRY.size)
    lumps = []
    for i in range(count):
        offset, size, raw_name = WAD_ENTRY.unpack_from(table, i * WAD_ENTRY.size)
        name = raw_name.split(b"\0", 1)[0].decode("ascii", errors="replace")
        if 0 <= offset and 0 <= size and offset + size <= file_size:
            lumps.append(Lump(name, offset, size))
        else:
            log.warning("%s: lump %s points outside the file; ignored", path, name)
    return lumps


def read_lump(path: Path, lump: Lump) -> bytes:
    with path.open("rb") as wad:
        wad.seek(lump.offset)
        return wad.read(lump.size)


def list_items(ticks_per_beat: int) -> tuple[list[WorkItem], list[Skip]]:
    """One item per MIDI music lump of each WAD; MUS lumps are skips."""
    check_available()
    items: list[WorkItem] = []
    skipped: list[Skip] = []
    for path in wad_paths():
        stat = path.stat()
        with path.open("rb") as wad:
            for lump in read_directory(path):
                wad.seek(lump.offset)
                magic = wad.read(4)
                if not (lump.name.upper().startswith(MUSIC_PREFIX) or magic in (MIDI_MAGIC, MUS_MAGIC)):
                    continue
                piece_id = f"freedoom/{path.stem}/{lump.name}"
                if magic == MUS_MAGIC:
                    skipped.append(Skip(piece_id, "MUS lump (not MIDI)", "Doom's MUS format is not read"))
                    continue
                if magic != MIDI_MAGIC:
                    skipped.append(Skip(piece_id, "not a music lump", f"a {lump.name} lump that starts with {magic!r}"))
                    continue
                items.append(WorkItem(
                    SOURCE, f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{lump.name}|{lump.offset}|tpb={ticks_per_beat}",
                    piece_id, payload={"path": str(path), "name": lump.name, "offset": lump.offset,
                                       "size": lump.size, "id": piece_id, "ticks_per_beat": ticks_per_beat}))
    return items, skipped


def parse_item(item: WorkItem) -> ItemResult:
    """Read one MIDI lump."""
    piece_id = str(item.payload["id"])
    lump = Lump(str(item.payload["name"]), int(item.payload["offset"]), int(item.payload["size"]))
    try:
        data = read_lump(Path(str(item.payload["path"])), lump)
    except OSError as exc:
        return ItemResult(skipped=[Skip(piece_id, "unreadable file", str(exc))])
    piece = read_midi_checked(data, piece_id, int(item.payload["ticks_per_beat"]))
    if isinstance(piece, Skip):
        return ItemResult(skipped=[piece])
    if not piece.notes:
        return ItemResult(skipped=[Skip(piece_id, "no notes", "the song has no notes")])
    return ItemResult(pieces=[record_from_piece(piece, piece_id, SOURCE, lump.name)])
