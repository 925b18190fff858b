"""Pieces on disk: the split files ``antiphon train data`` writes and training reads.

Each piece is a record of notes on the grid with its source, licence and split; splits are by
piece id, so no piece is in two splits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from daemon.errors import AntiphonError
from daemon.music.chords import ChordCodec
from daemon.music.events import NoteEventCodec
from daemon.music.grid import Grid
from daemon.music.notes import Note, NoteSpan, notes_to_array
from daemon.music.pianoroll import RollSpec


class CorpusError(AntiphonError):
    """Corpus data that cannot be built or read; the message says what to do."""


SPLITS = ("train", "valid", "test")
TICKS_PER_BEAT = 12  # grid resolution of every piece: sixteenths are 3 ticks, eighth triplets 4
SPLIT_PERCENT = (80, 10, 10)  # train / valid / test, by piece
FORMAT_VERSION = 1  # layout of the files under --out; load_split refuses another
REPRESENTATION_VERSIONS = {NoteEventCodec.NAME: NoteEventCodec.VERSION, ChordCodec.NAME: ChordCodec.VERSION,
                           RollSpec.NAME: RollSpec.VERSION}
UNPITCHED_ROLES = frozenset({"drums"})


class MissingDataError(CorpusError, FileNotFoundError):
    """A split that ``antiphon train data`` has not written (also a ``FileNotFoundError``)."""


@dataclass(frozen=True)
class PieceRecord(NoteSpan):
    """One piece of a corpus.

    Attributes:
        id: stable id, ``<source>/<where it came from>`` (e.g. ``bach/bwv269``,
            ``oneills/0001-0050/1``, ``grooves/stdlib/50srock/50sRock``); the split hashes it.
        source: ``bach``, ``oneills``, ``ryans``, ``airds``, ``essen``, ``grooves``, ``freedoom``
            or ``dir``.
        name: a title for people.
        notes: normalised notes on ``grid`` (ticks); ``channel`` is the MIDI channel or the
            voice index.
        grid: ``Grid(12, numerator, denominator)`` with the piece's first meter. Tick 0 is a bar
            line for every source but ``dir`` files that do not start on one.
        bpm: the first tempo, quarter notes per minute.
        roles: channel -> one of :data:`ROLES` for every channel that has notes.
        time_signatures: (tick, numerator, denominator) of each meter the piece sets.
        tempo_changes: how many times the tempo changes after the first one.
        programs: channel -> General MIDI program, where the source says.
        transposition: semitones this record is moved from the piece as written.
    """

    id: str
    source: str
    name: str
    notes: tuple[Note, ...]
    grid: Grid
    bpm: float
    roles: Mapping[int, str]
    time_signatures: tuple[tuple[int, int, int], ...] = ()
    tempo_changes: int = 0
    programs: Mapping[int, int] = field(default_factory=dict)
    transposition: int = 0

    @property
    def pitched_channels(self) -> frozenset[int]:
        """Channels whose notes are pitches (every role but drums)."""
        return frozenset(n.channel for n in self.notes if self.roles.get(n.channel, "other") not in UNPITCHED_ROLES)


def split_of(piece_id: str) -> str:
    """``train``, ``valid`` or ``test`` for a piece, from a hash of its id (~80/10/10).

    Deterministic across runs, machines and Python versions (SHA-1, not ``hash()``), and by
    piece: every window or bar of a piece lands in the same split.
    """
    bucket = int.from_bytes(hashlib.sha1(piece_id.encode("utf-8")).digest()[:8], "big") % 100
    if bucket < SPLIT_PERCENT[0]:
        return SPLITS[0]
    if bucket < SPLIT_PERCENT[0] + SPLIT_PERCENT[1]:
        return SPLITS[1]
    return SPLITS[2]


def transposed(piece: PieceRecord, semitones: int) -> PieceRecord | None:
    """``piece`` with its pitched channels moved by ``semitones`` (drums never move).

    Returns None when a note would leave MIDI's 0-127. The record keeps its id (so its split)
    and adds ``semitones`` to ``transposition``.
    """
    if semitones == 0:
        return piece
    pitched = piece.pitched_channels
    notes = []
    for n in piece.notes:
        if n.channel in pitched:
            pitch = n.pitch + semitones
            if not 0 <= pitch <= 127:
                return None
            notes.append(Note(n.start, pitch, n.duration, n.velocity, n.channel))
        else:
            notes.append(n)
    notes.sort(key=lambda n: (n.start, n.pitch, n.channel))
    return dataclasses.replace(piece, notes=tuple(notes), transposition=piece.transposition + semitones)


def augmented(pieces: Iterable[PieceRecord], max_semitones: int) -> Iterator[PieceRecord]:
    """Each piece, then its transpositions by -N..-1 and +1..+N that stay in range.

    A piece with no pitched note (drums only) is yielded once: moving it changes nothing.
    """
    for piece in pieces:
        yield piece
        if max_semitones <= 0 or not piece.pitched_channels:
            continue
        for semitones in (*range(-max_semitones, 0), *range(1, max_semitones + 1)):
            moved = transposed(piece, semitones)
            if moved is not None:
                yield moved


def _record_meta(record: PieceRecord) -> dict[str, Any]:
    return {
        "id": record.id, "source": record.source, "name": record.name, "grid": record.grid.to_dict(),
        "bpm": record.bpm, "roles": {str(ch): role for ch, role in sorted(record.roles.items())},
        "time_signatures": [list(ts) for ts in record.time_signatures], "tempo_changes": record.tempo_changes,
        "programs": {str(ch): p for ch, p in sorted(record.programs.items())},
        "transposition": record.transposition, "n_notes": len(record.notes),
    }


def _pack(records: Sequence[PieceRecord]) -> tuple[np.ndarray, np.ndarray]:
    """(notes (N, 5) int32, offsets (P + 1,) int64) for ``records``."""
    offsets = np.zeros(len(records) + 1, np.int64)
    offsets[1:] = np.cumsum([len(r.notes) for r in records])
    arrays = [notes_to_array(r.notes) for r in records]
    notes = np.concatenate(arrays) if arrays else np.zeros((0, 5), np.int32)
    return notes.astype(np.int32, copy=False), offsets


def _unpack(notes: np.ndarray, offsets: np.ndarray, metas: Sequence[Mapping[str, Any]]) -> list[PieceRecord]:
    if len(offsets) != len(metas) + 1 or int(offsets[-1]) != len(notes):
        raise CorpusError("the notes and the piece list of a corpus file disagree; rebuild it with antiphon train data")
    rows = notes.tolist()
    records = []
    for i, meta in enumerate(metas):
        piece_notes = tuple(Note(*row) for row in rows[int(offsets[i]):int(offsets[i + 1])])
        records.append(PieceRecord(
            id=str(meta["id"]), source=str(meta["source"]), name=str(meta["name"]), notes=piece_notes,
            grid=Grid.from_dict(meta["grid"]), bpm=float(meta["bpm"]),
            roles={int(ch): str(role) for ch, role in meta["roles"].items()},
            time_signatures=tuple((int(t), int(n), int(d)) for t, n, d in meta.get("time_signatures", ())),
            tempo_changes=int(meta.get("tempo_changes", 0)),
            programs={int(ch): int(p) for ch, p in meta.get("programs", {}).items()},
            transposition=int(meta.get("transposition", 0)),
        ))
    return records


def _write_atomic(path: Path, write: Any) -> None:
    """Write through a temporary file in the same folder, then rename: never a half file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.savez_compressed(f, **arrays)
    _write_atomic(path, write)


def _save_json(path: Path, data: Any) -> None:
    _write_atomic(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                                                   encoding="utf-8"))


def _rebuild_hint(source: str, data_dir: Path) -> str:
    return f"run `antiphon train data --source {source} --out {data_dir}`"


def load_split(data_dir: Path | str, source: str, split: str, augment: bool = False) -> list[PieceRecord]:
    """The pieces of ``source``'s ``split`` under ``data_dir``, in a stable order.

    Args:
        data_dir: the ``--out`` folder of ``antiphon train data``.
        source: a source name (``bach``, ``oneills``, ``grooves``, ...; ``dir`` for a folder).
        split: one of :data:`SPLITS`.
        augment: for the train split, add every in-range transposition by ±1..N semitones,
            N being the ``--transpose`` the data was built with (0: nothing added).

    Raises:
        MissingDataError: the split was not built (also a ``FileNotFoundError``).
        CorpusError: the files were written by another format or representation version.
    """
    if split not in SPLITS:
        raise CorpusError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    data_dir = Path(data_dir)
    npz_path = data_dir / source / f"{split}.npz"
    json_path = data_dir / source / f"{split}.json"
    if not npz_path.is_file() or not json_path.is_file():
        raise MissingDataError(f"no {split} split of {source!r} in {data_dir}; {_rebuild_hint(source, data_dir)}")
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
        with np.load(npz_path, allow_pickle=False) as arrays:
            notes, offsets = arrays["notes"], arrays["offsets"]
    except (OSError, ValueError, KeyError) as exc:
        raise CorpusError(f"{npz_path} or its .json cannot be read ({exc}); {_rebuild_hint(source, data_dir)}") from exc
    if meta.get("format_version") != FORMAT_VERSION or meta.get("representation") != REPRESENTATION_VERSIONS:
        raise CorpusError(
            f"{json_path} was written by another version of Antiphon (format {meta.get('format_version')}, "
            f"representation {meta.get('representation')}); {_rebuild_hint(source, data_dir)}")
    records = _unpack(notes, offsets, meta["pieces"])
    if augment and split == SPLITS[0]:
        return list(augmented(records, int(meta.get("transpose", 0))))
    return records


def load_summary(data_dir: Path | str) -> dict[str, Any]:
    """``summary.json`` of a data folder (counts per source, the ``transpose`` it was built with)."""
    path = Path(data_dir) / "summary.json"
    if not path.is_file():
        raise MissingDataError(f"no summary.json in {data_dir}; run `antiphon train data --out {data_dir}`")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"{path} cannot be read ({exc}); run `antiphon train data --out {data_dir}` again") from exc
    return data
