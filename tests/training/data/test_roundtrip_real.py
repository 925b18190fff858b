"""Round trips of the representations on REAL pieces: Bach chorales, folk tunes, mma grooves, Freedoom.

Each encoding is given its input the way its docstring says it must be (normalised notes, one
velocity for chords, durations clipped for note events, notes on the step grid for pianoroll
bars) and must give exactly that back. Generated-piece (hypothesis) round trips live in
tests/daemon/test_representation.py. Without a tool these tests are skipped on a developer's
machine and FAIL when ``CI`` is set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

import pytest

from daemon.music.chords import ChordCodec, ChordVocabulary, chordify
from daemon.music.events import NoteEventCodec
from daemon.music.grid import DEFAULT_VELOCITY
from daemon.music.notes import Note, normalise_notes
from daemon.music.pianoroll import DRUM_CLASSES, RollSpec, TrackSpec, bars_to_notes, drum_class, notes_to_bars
from training.data.corpus import parse_source
from training.data.records import PieceRecord
from training.data.sources import freedoom, grooves

SIXTEENTH_TICKS = 3  # a pianoroll step of a sixteenth note at 12 ticks per beat


def _need(ok: bool, reason: str) -> None:
    if not ok:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
        pytest.skip(reason)


def _have_music21() -> bool:
    try:
        import music21  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def bach() -> list[PieceRecord]:
    _need(_have_music21(), "music21 is not installed (pip install 'antiphon[train]')")
    pieces, _, _ = parse_source("bach", limit=4)
    return pieces


@pytest.fixture(scope="module")
def folk() -> list[PieceRecord]:
    _need(_have_music21() and shutil.which("abc2midi") is not None, "abc2midi is not installed (apt-get install abcmidi)")
    oneills, _, _ = parse_source("oneills", limit=4)
    ryans, _, _ = parse_source("ryans", limit=4)
    return oneills + ryans


@pytest.fixture(scope="module")
def groove_pieces() -> list[PieceRecord]:
    _need(shutil.which("mma") is not None and grooves.MMA_LIB.is_dir(), "mma is not installed (apt-get install mma)")
    pieces, _, _ = parse_source("grooves", limit=6)
    return pieces


@pytest.fixture(scope="module")
def freedoom_song() -> PieceRecord:
    _need(bool(freedoom.wad_paths()), "freedoom is not installed (apt-get install freedoom)")
    pieces, _, _ = parse_source("freedoom", limit=1)
    return pieces[0]


@pytest.fixture(params=["bach", "folk", "groove_pieces"])
def real_pieces(request: pytest.FixtureRequest) -> list[PieceRecord]:
    pieces: list[PieceRecord] = request.getfixturevalue(request.param)
    assert pieces, f"no real {request.param} pieces were parsed"
    return pieces


def _pitched(piece: PieceRecord) -> list[Note]:
    return [n for n in piece.notes if n.channel in piece.pitched_channels]


# --------------------------------------------------------------------------------------------
# note-events/1
# --------------------------------------------------------------------------------------------


def test_note_events_give_back_every_channel_of_real_pieces(real_pieces: list[PieceRecord]) -> None:
    for piece in real_pieces:
        codec = NoteEventCodec(piece.grid)
        for channel in sorted({n.channel for n in piece.notes}):
            notes = [n for n in piece.notes if n.channel == channel]
            expected = [Note(n.start, n.pitch, min(n.duration, codec.max_duration_ticks), n.velocity, channel)
                        for n in notes]
            decoded = codec.decode(codec.encode(notes), channel=channel)
            assert sorted(decoded) == sorted(expected), f"{piece.id} channel {channel}"


def test_note_events_give_back_a_whole_real_piece_merged_to_one_channel(real_pieces: list[PieceRecord]) -> None:
    for piece in real_pieces:
        codec = NoteEventCodec(piece.grid, max_duration_ticks=10_000)
        merged = normalise_notes(Note(n.start, n.pitch, n.duration, n.velocity, 0) for n in _pitched(piece))
        assert codec.clipped(merged) == 0
        decoded = codec.decode(codec.encode(merged))
        assert decoded == merged, piece.id


# --------------------------------------------------------------------------------------------
# chord/1
# --------------------------------------------------------------------------------------------


def test_chords_give_back_real_pieces_with_a_vocabulary_fitted_on_them(real_pieces: list[PieceRecord]) -> None:
    for piece in real_pieces:
        notes = _pitched(piece)
        vocabulary = ChordVocabulary.fit([chordify(notes)])
        codec = ChordCodec(piece.grid, vocabulary)
        expected = normalise_notes(Note(n.start, n.pitch, n.duration, DEFAULT_VELOCITY, 0) for n in notes)
        tokens = codec.encode(notes)
        assert len(tokens) == len(chordify(notes))
        assert codec.decode(tokens) == expected, piece.id


# --------------------------------------------------------------------------------------------
# pianoroll/1
# --------------------------------------------------------------------------------------------


def _spec(piece: PieceRecord, ticks_per_step: int) -> RollSpec:
    """One track per channel: drums folded to the kit, pitched tracks of all 128 rows (no folding)."""
    tracks = tuple(
        TrackSpec(role, drums=True, channel=channel) if role == "drums"
        else TrackSpec(role, lowest_pitch=0, n_pitches=128, channel=channel)
        for channel, role in sorted(piece.roles.items()))
    return RollSpec(tracks, piece.grid, ticks_per_step)


def _on_steps(notes: Sequence[Note], spec: RollSpec, track: TrackSpec) -> list[Note]:
    """What ``notes_to_bars`` keeps of a track, as notes: the input the round trip gives back.

    Onsets and ends floored to steps, at least one step (pitched); drums at their class's
    canonical pitch, one step long, the loudest hit per step and class, pitches outside the
    kit dropped.
    """
    step = spec.ticks_per_step
    if track.drums:
        hits: dict[tuple[int, int], int] = {}
        for n in notes:
            row = drum_class(n.pitch)
            if row is not None:
                key = (n.start // step * step, DRUM_CLASSES[row][1])
                hits[key] = max(hits.get(key, 0), n.velocity)
        return sorted(Note(start, pitch, step, velocity, track.channel) for (start, pitch), velocity in hits.items())
    floored = []
    for n in notes:
        start = n.start // step * step
        end = max(start + step, n.end // step * step)
        floored.append(Note(start, n.pitch, end - start, n.velocity, track.channel))
    return sorted(normalise_notes(floored))


def _assert_bars_round_trip(piece: PieceRecord, ticks_per_step: int) -> int:
    spec = _spec(piece, ticks_per_step)
    tracks = [_on_steps([n for n in piece.notes if n.channel == t.channel], spec, t) for t in spec.tracks]
    bars = notes_to_bars(tracks, spec, n_bars=piece.n_bars)
    assert len(bars) == piece.n_bars
    back = bars_to_notes(bars, spec)
    for track, sent, got in zip(spec.tracks, tracks, back):
        assert got == sent, f"{piece.id} track {track.name} (channel {track.channel}), step {ticks_per_step}"
    return len(bars)


@pytest.mark.parametrize("ticks_per_step", [1, SIXTEENTH_TICKS])
def test_pianoroll_bars_give_back_real_four_four_groove_tracks(groove_pieces: list[PieceRecord],
                                                               ticks_per_step: int) -> None:
    four_four = [p for p in groove_pieces if (p.grid.numerator, p.grid.denominator) == (4, 4)]
    assert four_four
    for piece in four_four:
        assert {"drums", "bass"} <= set(piece.roles.values()), piece.id
        assert _assert_bars_round_trip(piece, ticks_per_step) == grooves.BARS


def test_pianoroll_bars_keep_real_groove_notes_at_full_resolution(groove_pieces: list[PieceRecord]) -> None:
    """At one tick per step nothing is floored: pitched notes come back exactly as parsed."""
    for piece in groove_pieces:
        spec = _spec(piece, 1)
        pitched = [t for t in spec.tracks if not t.drums]
        tracks = [[n for n in piece.notes if n.channel == t.channel] for t in spec.tracks]
        back = bars_to_notes(notes_to_bars(tracks, spec, n_bars=piece.n_bars), spec)
        for track, sent, got in zip(spec.tracks, tracks, back):
            if track in pitched:
                assert got == sorted(sent), f"{piece.id} {track.name}"


@pytest.mark.parametrize("ticks_per_step", [1, SIXTEENTH_TICKS])
def test_pianoroll_bars_give_back_real_chorales_as_four_voices(bach: list[PieceRecord], ticks_per_step: int) -> None:
    for piece in bach:
        assert {"soprano", "alto", "tenor", "bass"} <= set(piece.roles.values())
        _assert_bars_round_trip(piece, ticks_per_step)


def test_pianoroll_bars_give_back_a_real_general_midi_song(freedoom_song: PieceRecord) -> None:
    assert freedoom_song.roles.get(9) == "drums"
    assert _assert_bars_round_trip(freedoom_song, SIXTEENTH_TICKS) > 50
