"""Grooves of the mma (Musical MIDI Accompaniment) library, rendered to MIDI with the ``mma`` CLI.

Licence: the library is GPL-2+; a model trained on it must say so next to the model.

One work item per library file (``/usr/share/mma/lib/**.mma``). Every groove the file defines
(``DefGroove NAME``) is rendered for :data:`BARS` bars over :data:`CHORDS`, all grooves of a
file in one ``mma`` run (start-up is most of the cost), each preceded by a MIDI marker so the
render can be cut back into one piece per groove. A file that fails to render is rendered
again groove by groove, so one bad groove costs only itself. ``RndSeed`` makes the renders
repeatable (mma humanises timing and velocity at random).

Each piece is exactly :data:`BARS` bars long (notes ringing past the last bar are cut there),
starts on a bar line, and has the meter the render really has: the bar length is measured
between markers (some 6/8 grooves declare 6/8 but count six quarter-note beats, so their bars
are 6/4). Channel roles come from mma's track names: ``Drum*`` -> drums, ``Bass*``/``Walk*``
-> bass, ``Chord``/``Arpeggio``/``Plectrum``/``Scale``/``Aria`` -> chords,
``Solo``/``Melody`` -> melody, anything else -> other.

Piece ids are ``grooves/<library folder>/<file stem>/<groove name>``.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import subprocess
import tempfile
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

import mido

from daemon.errors import RepresentationError
from daemon.music.grid import Grid
from daemon.music.notes import Note, Piece, normalise_notes
from training.data.records import PieceRecord
from training.data.sources import CorpusError, ItemResult, Skip, ToolMissingError, WorkItem, require_tool
from training.data.sources.midi_files import read_midi_checked

log = logging.getLogger(__name__)

SOURCE = "grooves"
LICENCE = "GPL-2+ (mma groove library): say so next to any model trained on it"
MMA_LIB = Path(os.environ.get("ANTIPHON_MMA_LIB", "/usr/share/mma/lib"))
INSTALL_HINT = "apt-get install --no-install-recommends mma"
BARS = 8  # bars rendered per groove
CHORDS = ("C", "Am", "F", "G7", "C", "Am", "F", "G7")  # one chord per bar
RANDOM_SEED = 1  # mma's RndSeed: the same render every time
MMA_TIMEOUT_S = 300.0  # per library file (the largest renders in a few seconds)
MARKER_PREFIX = "ANTIPHON:"
END_MARKER = "END"

_DEFGROOVE = re.compile(r"^\s*defgroove\s+(\S+)", re.IGNORECASE | re.MULTILINE)
_TRACK_ROLES = (
    ("drum", "drums"), ("bass", "bass"), ("walk", "bass"),
    ("chord", "chords"), ("arpeggio", "chords"), ("plectrum", "chords"), ("scale", "chords"), ("aria", "chords"),
    ("solo", "melody"), ("melody", "melody"),
)


@lru_cache(maxsize=1)
def _mma_version() -> str:
    done = subprocess.run([require_tool("mma", INSTALL_HINT), "-v"], check=False, capture_output=True,
                          text=True, timeout=60)
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip() and "Warning" not in ln]
    return lines[-1].strip() if lines else "?"


def parser_version() -> str:
    """Changes whenever what this module produces would change (mma's version included)."""
    return f"grooves/3 mma/{_mma_version()} bars={BARS} chords={'-'.join(CHORDS)} seed={RANDOM_SEED}"


def check_available() -> None:
    """Raise :class:`ToolMissingError` when mma or its groove library is missing."""
    require_tool("mma", INSTALL_HINT)
    if not MMA_LIB.is_dir():
        raise ToolMissingError(f"the mma groove library is not at {MMA_LIB}: {INSTALL_HINT} "
                               "(or set ANTIPHON_MMA_LIB to where it is)")


def role_of_track(track_name: str) -> str:
    """``"Chord-Piano"`` -> ``chords``, ``"Walk"`` -> ``bass``, ``"Drum"`` -> ``drums``."""
    head = track_name.split("-")[0].strip().lower()
    for prefix, role in _TRACK_ROLES:
        if head.startswith(prefix):
            return role
    return "other"


def groove_names(path: Path) -> tuple[list[str], list[str]]:
    """Groove names a library file defines, in order, each once (names are case-insensitive),
    and the names it defines again (mma plays the last definition; it is rendered once)."""
    names: dict[str, str] = {}
    again: list[str] = []
    for name in _DEFGROOVE.findall(path.read_text(encoding="latin-1")):
        if name.lower() in names:
            again.append(name)
        names.setdefault(name.lower(), name)
    return list(names.values()), again


def list_items(ticks_per_beat: int) -> tuple[list[WorkItem], list[Skip]]:
    """One item per library file that defines grooves; ``expected`` is its number of grooves."""
    check_available()
    items: list[WorkItem] = []
    skipped: list[Skip] = []
    for path in sorted(MMA_LIB.rglob("*.mma")):
        names, again = groove_names(path)
        if not names:
            continue
        rel = path.relative_to(MMA_LIB).with_suffix("").as_posix()
        skipped += [Skip(f"grooves/{rel}/{name}", "defined twice in one file", "mma plays the last definition")
                    for name in again]
        stat = path.stat()
        items.append(WorkItem(SOURCE, f"{path}|{stat.st_size}|{stat.st_mtime_ns}|tpb={ticks_per_beat}",
                              f"grooves/{rel}", expected=len(names),
                              payload={"path": str(path), "rel": rel, "names": tuple(names),
                                       "ticks_per_beat": ticks_per_beat}))
    if not items:
        raise CorpusError(f"no grooves found under {MMA_LIB}; is mma's library installed? ({INSTALL_HINT})")
    return items, skipped


def song_text(library_file: Path, names: list[str] | tuple[str, ...]) -> str:
    """An mma song that plays each groove for :data:`BARS` bars, with a marker before each."""
    lines = [f"RndSeed {RANDOM_SEED}", f"Use {library_file}"]
    for index, name in enumerate(names):
        lines += [f"MidiMark {MARKER_PREFIX}{index}", f"Groove {name}", *CHORDS[:BARS]]
    lines.append(f"MidiMark {MARKER_PREFIX}{END_MARKER}")
    return "\n".join(lines) + "\n"


def render(library_file: Path, names: list[str] | tuple[str, ...], scratch: Path) -> tuple[mido.MidiFile | None, str]:
    """Run mma on a song of ``names``; (the MIDI file or None, mma's complaint)."""
    song = scratch / "song.mma"
    out = scratch / "song.mid"
    out.unlink(missing_ok=True)
    song.write_text(song_text(library_file, names), encoding="latin-1")
    try:
        done = subprocess.run([require_tool("mma", INSTALL_HINT), "-w", str(song), "-f", str(out)], cwd=scratch,
                              capture_output=True, text=True, timeout=MMA_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return None, f"mma timed out after {MMA_TIMEOUT_S:.0f} s"
    complaint = " ".join(ln.strip() for ln in (done.stdout + done.stderr).splitlines()
                         if ln.strip() and "PLUGIN" not in ln)[:300]
    if done.returncode != 0 or not out.exists():
        return None, complaint or f"mma exited with status {done.returncode}"
    try:
        return mido.MidiFile(str(out), clip=True), ""
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        return None, f"mma wrote an unreadable file: {exc}"


def parse_item(item: WorkItem) -> ItemResult:
    """Render every groove of one library file and cut the render into one piece per groove."""
    path = Path(str(item.payload["path"]))
    rel = str(item.payload["rel"])
    names = list(item.payload["names"])
    tpb = int(item.payload["ticks_per_beat"])
    result = ItemResult()
    with tempfile.TemporaryDirectory(prefix="antiphon-mma-") as scratch_name:
        scratch = Path(scratch_name)
        midi, complaint = render(path, names, scratch)
        if midi is not None:
            _cut(midi, names, rel, tpb, result)
            return result
        log.info("%s did not render as a whole (%s); rendering its grooves one by one", rel, complaint)
        for name in names:
            midi, complaint = render(path, [name], scratch)
            if midi is None:
                reason = "no notes" if "No data created" in complaint else "mma could not render"
                result.skipped.append(Skip(f"grooves/{rel}/{name}", reason, complaint))
                if "timed out" in complaint:
                    result.cacheable = False
            else:
                _cut(midi, [name], rel, tpb, result)
    return result


def _cut(midi: mido.MidiFile, names: list[str], rel: str, tpb: int, result: ItemResult) -> None:
    """Split one render at its markers into pieces (appended to ``result``)."""

    piece = read_midi_checked(midi, rel, tpb)
    if isinstance(piece, Skip):
        result.skipped.extend(Skip(f"grooves/{rel}/{n}", piece.reason, piece.detail) for n in names)
        return
    scale = tpb / midi.ticks_per_beat
    markers: dict[str, int] = {}
    tempos: list[tuple[int, int]] = []
    now = 0
    for msg in mido.merge_tracks(midi.tracks):
        now += msg.time
        if msg.type == "marker" and msg.text.startswith(MARKER_PREFIX):
            markers.setdefault(msg.text[len(MARKER_PREFIX):], round(now * scale))
        elif msg.type == "set_tempo":
            tempos.append((round(now * scale), msg.tempo))
    end = markers.get(END_MARKER)
    bounds = [markers.get(str(i)) for i in range(len(names))] + [end]
    usage = _channel_usage(midi, scale)
    for index, name in enumerate(names):
        piece_id = f"grooves/{rel}/{name}"
        start, stop = bounds[index], bounds[index + 1]
        if start is None or stop is None or stop <= start:
            result.skipped.append(Skip(piece_id, "mma could not render", "its markers are missing from the render"))
            continue
        grid = _meter(piece, start, stop - start, tpb)
        if grid is None:
            result.skipped.append(Skip(piece_id, "bars not on the grid",
                                       f"{BARS} bars take {stop - start} ticks at {tpb} per beat"))
            continue
        notes = normalise_notes(
            Note(n.start - start, n.pitch, min(n.duration, stop - n.start), n.velocity, n.channel)
            for n in piece.notes if start <= n.start < stop)
        if not notes:
            result.skipped.append(Skip(piece_id, "no notes", "the groove plays nothing"))
            continue
        channels = {n.channel for n in notes}
        roles, programs = _roles_and_programs(usage, channels, start, stop)
        tempo = [t for tick, t in tempos if tick <= start]
        result.pieces.append(PieceRecord(
            id=piece_id,
            source=SOURCE,
            name=name,
            notes=tuple(notes),
            grid=grid,
            bpm=round(mido.tempo2bpm(tempo[-1]), 3) if tempo else 120.0,
            roles=roles,
            time_signatures=((0, grid.numerator, grid.denominator),),
            programs=programs,
        ))


def _meter(piece: Piece, start: int, length: int, tpb: int) -> Grid | None:
    """The grid of a groove whose :data:`BARS` bars take ``length`` ticks from ``start``."""
    if length % BARS:
        return None
    bar = length // BARS
    declared = [(n, d) for tick, n, d in piece.time_signatures if tick <= start]
    candidates = [declared[-1]] if declared else []
    candidates += [(bar // tpb, 4)] if bar % tpb == 0 else []
    candidates += [(2 * bar // tpb, 8)] if (2 * bar) % tpb == 0 else []
    for numerator, denominator in candidates:
        try:
            grid = Grid(tpb, numerator, denominator)
        except RepresentationError:
            continue
        if grid.ticks_per_bar == bar:
            return grid
    return None


def _channel_usage(midi: mido.MidiFile, scale: float) -> dict[int, list[tuple[int, str, int | None]]]:
    """Per channel, (tick, track name, program then) of every note-on, in time order."""
    usage: dict[int, list[tuple[int, str, int | None]]] = defaultdict(list)
    for track in midi.tracks:
        now = 0
        program: dict[int, int] = {}
        for msg in track:
            now += msg.time
            if msg.type == "program_change":
                program[msg.channel] = msg.program
            elif msg.type == "note_on" and msg.velocity > 0:
                usage[msg.channel].append((round(now * scale), track.name, program.get(msg.channel)))
    for events in usage.values():
        events.sort(key=lambda e: e[0])
    return usage


def _roles_and_programs(usage: dict[int, list[tuple[int, str, int | None]]], channels: set[int],
                        start: int, stop: int) -> tuple[dict[int, str], dict[int, int]]:
    """Role (from the track that plays most notes there) and program of each channel in a span."""
    roles: dict[int, str] = {}
    programs: dict[int, int] = {}
    for channel in sorted(channels):
        events = usage.get(channel, [])
        ticks = [e[0] for e in events]
        span = events[bisect.bisect_left(ticks, start):bisect.bisect_left(ticks, stop)]
        names = Counter(name for _, name, _ in span)
        roles[channel] = role_of_track(names.most_common(1)[0][0]) if names else "other"
        if channel == 9:
            roles[channel] = "drums"
        found = [p for _, _, p in span if p is not None]
        if found:
            programs[channel] = found[0]
    return roles, programs
