"""MIDI files and timed messages to and from notes on the grid.

The two live conversions (messages stamped with a monotonic clock in, timed messages out) and
MIDI file reading and writing. Seconds appear here and nowhere else in ``daemon.music``.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import mido

from daemon.errors import MidiFileError, RepresentationError
from daemon.music.grid import NOTE_OFF, NOTE_ON, OUTPUT_PPQ, Grid
from daemon.music.notes import Note, Piece, normalise_notes


def read_midi(source: str | Path | mido.MidiFile, ticks_per_beat: int = 12, name: str = "") -> Piece:
    """Read a MIDI file into grid-quantised notes.

    Onsets and ends are rounded to the nearest tick; a note shorter than a tick lasts one tick.
    Tempo changes do not move notes (time is in beats); they are counted.

    Raises:
        MidiFileError: the file is corrupt, unreadable, or of type 2.
    """
    if isinstance(source, mido.MidiFile):
        midi = source
        name = name or (midi.filename or "")
    else:
        name = name or str(source)
        try:
            midi = mido.MidiFile(str(source), clip=True)
        except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise MidiFileError(f"cannot read MIDI file {name}: {exc}") from exc
    if midi.type == 2:
        raise MidiFileError(f"{name} is a type 2 MIDI file (independent sequences); save it as type 0 or 1")
    if midi.ticks_per_beat <= 0:
        raise MidiFileError(f"{name} uses SMPTE time division, which has no beats; export it with PPQ timing")
    scale = ticks_per_beat / midi.ticks_per_beat

    tempos: list[int] = []
    signatures: list[tuple[int, int, int]] = []
    programs: dict[int, int] = {}
    open_notes: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    notes: list[Note] = []
    now = 0
    for msg in mido.merge_tracks(midi.tracks):
        now += msg.time
        if msg.type == NOTE_ON and msg.velocity > 0:
            open_notes[(msg.channel, msg.note)].append((now, msg.velocity))
        elif msg.type in (NOTE_ON, NOTE_OFF):
            stack = open_notes.get((msg.channel, msg.note))
            if stack:
                on_time, velocity = stack.pop(0)
                notes.append(_quantised_note(on_time, now, msg.note, velocity, msg.channel, scale))
        elif msg.type == "set_tempo":
            tempos.append(msg.tempo)
        elif msg.type == "time_signature":
            signatures.append((round(now * scale), msg.numerator, msg.denominator))
        elif msg.type == "program_change":
            programs.setdefault(msg.channel, msg.program)
    unclosed = 0
    for (channel, pitch), stack in open_notes.items():
        for on_time, velocity in stack:
            unclosed += 1
            notes.append(_quantised_note(on_time, max(now, on_time + 1), pitch, velocity, channel, scale))
    numerator, denominator = (signatures[0][1], signatures[0][2]) if signatures else (4, 4)
    try:
        grid = Grid(ticks_per_beat, numerator, denominator)
    except RepresentationError:
        grid = Grid(ticks_per_beat)
    distinct_tempos = [t for i, t in enumerate(tempos) if i == 0 or t != tempos[i - 1]]
    return Piece(
        notes=tuple(normalise_notes(notes)),
        grid=grid,
        bpm=round(mido.tempo2bpm(tempos[0]), 3) if tempos else 120.0,
        name=name,
        time_signatures=tuple(signatures),
        tempo_changes=max(0, len(distinct_tempos) - 1),
        programs=programs,
        unclosed_notes=unclosed,
    )


def _quantised_note(on: float, off: float, pitch: int, velocity: int, channel: int, scale: float) -> Note:
    start = round(on * scale)
    end = round(off * scale)
    return Note(start, pitch, max(1, end - start), max(1, min(127, velocity)), channel)


def write_midi(
    notes: Iterable[Note],
    grid: Grid,
    bpm: float = 120.0,
    programs: Mapping[int, int] | None = None,
    path: str | Path | None = None,
) -> mido.MidiFile:
    """Write notes as a type 0 MIDI file at :data:`OUTPUT_PPQ` ticks per beat.

    Every note-on gets its note-off; at equal times note-offs come first so repeated notes
    retrigger. ``programs`` maps channel to program number.
    """
    per_tick = OUTPUT_PPQ // grid.ticks_per_beat
    events: list[tuple[int, int, mido.Message]] = []
    for n in notes:
        events.append((n.start * per_tick, 1, mido.Message(NOTE_ON, channel=n.channel, note=n.pitch, velocity=n.velocity)))
        events.append((n.end * per_tick, 0, mido.Message(NOTE_OFF, channel=n.channel, note=n.pitch, velocity=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=grid.numerator, denominator=grid.denominator, time=0))
    for channel, program in sorted((programs or {}).items()):
        track.append(mido.Message("program_change", channel=channel, program=program, time=0))
    now = 0
    for when, _, msg in events:
        track.append(msg.copy(time=when - now))
        now = when
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=OUTPUT_PPQ)
    midi.tracks.append(track)
    if path is not None:
        midi.save(str(path))
    return midi


def notes_from_timed_messages(
    events: Iterable[tuple[float, mido.Message]],
    grid: Grid,
    bpm: float,
    origin_s: float,
    end_s: float | None = None,
) -> list[Note]:
    """Quantise live messages, stamped with a monotonic clock, to grid notes.

    Args:
        events: (time in seconds, message) pairs; only note-on/note-off count, a note-on of
            velocity 0 is a note-off, a note-off without a note-on is ignored.
        grid: the grid to quantise to.
        bpm: tempo in quarter notes per minute.
        origin_s: the monotonic time of tick 0; earlier onsets are clamped to tick 0.
        end_s: where notes still held are closed (default: the last event's time).
    """
    per_tick = grid.seconds_per_tick(bpm)
    open_notes: dict[tuple[int, int], list[tuple[float, int]]] = defaultdict(list)
    notes: list[Note] = []
    last = origin_s
    for when, msg in events:
        last = max(last, when)
        if msg.type == NOTE_ON and msg.velocity > 0:
            open_notes[(msg.channel, msg.note)].append((when, msg.velocity))
        elif msg.type in (NOTE_ON, NOTE_OFF):
            stack = open_notes.get((msg.channel, msg.note))
            if stack:
                on, velocity = stack.pop(0)
                notes.append(_live_note(on, when, msg.note, velocity, msg.channel, origin_s, per_tick))
    close = last if end_s is None else end_s
    for (channel, pitch), stack in open_notes.items():
        for on, velocity in stack:
            notes.append(_live_note(on, max(close, on), pitch, velocity, channel, origin_s, per_tick))
    return normalise_notes(notes)


def _live_note(on: float, off: float, pitch: int, velocity: int, channel: int, origin: float, per_tick: float) -> Note:
    start = max(0, round((on - origin) / per_tick))
    end = max(0, round((off - origin) / per_tick))
    return Note(start, pitch, max(1, end - start), velocity, channel)


def notes_to_timed_messages(
    notes: Iterable[Note], grid: Grid, bpm: float, origin_s: float = 0.0
) -> list[tuple[float, mido.Message]]:
    """Turn grid notes into (time in seconds, message) pairs, note-offs first at equal times."""
    per_tick = grid.seconds_per_tick(bpm)
    events: list[tuple[float, int, mido.Message]] = []
    for n in notes:
        events.append((origin_s + n.start * per_tick, 1,
                       mido.Message(NOTE_ON, channel=n.channel, note=n.pitch, velocity=n.velocity)))
        events.append((origin_s + n.end * per_tick, 0,
                       mido.Message(NOTE_OFF, channel=n.channel, note=n.pitch, velocity=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    return [(when, msg) for when, _, msg in events]
