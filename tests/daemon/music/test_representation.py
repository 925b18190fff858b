"""The one music representation: grid, notes, live quantisation, tokens and bars.

Property tests (hypothesis) prove the round trips on generated notes; the same round trips
over real corpus pieces live in tests/training/data/test_roundtrip_real.py.
"""

from __future__ import annotations

import io

import mido
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.errors import MidiFileError, RepresentationError
from daemon.music.chords import ChordCodec, ChordVocabulary, chordify, unchordify
from daemon.music.codecs import codec_from_dict
from daemon.music.events import NoteEventCodec
from daemon.music.grid import Grid
from daemon.music.midi_files import notes_from_timed_messages, notes_to_timed_messages, read_midi, write_midi
from daemon.music.notes import Note, normalise_notes, notes_from_array, notes_to_array
from daemon.music.pianoroll import DRUM_CLASSES, RollSpec, TrackSpec, bars_to_notes, binarise, notes_to_bars

GRID = Grid(12)


def note_lists(max_start: int = 400, max_duration: int = 96, channels: tuple[int, ...] = (0,),
               velocities: st.SearchStrategy[int] | None = None, max_size: int = 40) -> st.SearchStrategy:
    note = st.builds(
        Note,
        start=st.integers(0, max_start),
        pitch=st.integers(0, 127),
        duration=st.integers(1, max_duration),
        velocity=velocities if velocities is not None else st.integers(1, 127),
        channel=st.sampled_from(channels),
    )
    return st.lists(note, max_size=max_size).map(normalise_notes)


# ---------------------------------------------------------------------------- grid and notes


def test_grid_must_divide_midi_clock() -> None:
    for good in (1, 2, 3, 4, 6, 8, 12, 24):
        assert Grid(good).clock_pulses_per_tick * good == 24
    for bad in (5, 7, 16, 48, 0):
        with pytest.raises(RepresentationError, match="divide"):
            Grid(bad)


def test_bar_length_follows_the_meter() -> None:
    assert Grid(12).ticks_per_bar == 48
    assert Grid(12, 3, 4).ticks_per_bar == 36
    assert Grid(12, 6, 8).ticks_per_bar == 36
    with pytest.raises(RepresentationError):
        Grid(1, 3, 8)  # a bar of 1.5 ticks


def test_invalid_notes_are_refused() -> None:
    for kwargs in ({"pitch": 128}, {"duration": 0}, {"velocity": 0}, {"start": -1}, {"channel": 16}):
        with pytest.raises(RepresentationError):
            Note(**{"start": 0, "pitch": 60, "duration": 1, **kwargs})


def test_normalise_cuts_overlapping_repeats_and_keeps_longest_duplicate() -> None:
    notes = [Note(0, 60, 12), Note(6, 60, 12), Note(6, 60, 3), Note(0, 64, 4, channel=1), Note(0, 64, 4)]
    assert normalise_notes(notes) == [Note(0, 60, 6), Note(0, 64, 4), Note(0, 64, 4, channel=1), Note(6, 60, 12)]


@given(note_lists(channels=(0, 3, 9)))
def test_note_array_round_trip(notes: list[Note]) -> None:
    assert notes_from_array(notes_to_array(notes)) == notes


# ---------------------------------------------------------------------------- MIDI files


@settings(max_examples=50, deadline=None)
@given(note_lists(channels=(0, 1, 9)), st.sampled_from([1, 2, 3, 4, 6, 12, 24]),
       st.floats(30, 300).map(lambda b: round(b, 2)))
def test_midi_file_round_trip(notes: list[Note], ticks_per_beat: int, bpm: float) -> None:
    grid = Grid(ticks_per_beat)
    buffer = io.BytesIO()
    write_midi(notes, grid, bpm).save(file=buffer)
    buffer.seek(0)
    piece = read_midi(mido.MidiFile(file=buffer), ticks_per_beat)
    assert list(piece.notes) == notes
    assert piece.bpm == pytest.approx(bpm, abs=0.01)


def test_read_midi_quantises_to_nearest_tick_and_keeps_meter_and_tempo_changes() -> None:
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    track.extend([
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=0),
        mido.Message("note_on", note=60, velocity=100, time=38),  # 0.079 beats -> tick 1 at 12 tpb
        mido.Message("note_on", note=60, velocity=0, time=442),  # a note-on of velocity 0 ends it
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0),
        mido.Message("note_on", note=62, velocity=90, time=0),
        mido.Message("note_off", note=62, velocity=0, time=10),  # shorter than a tick: one tick
        mido.Message("note_off", note=70, velocity=0, time=0),  # a note-off without its note-on
    ])
    midi.tracks.append(track)
    piece = read_midi(midi, 12)
    assert piece.notes == (Note(1, 60, 11, 100), Note(12, 62, 1, 90))
    assert (piece.grid.numerator, piece.grid.denominator) == (3, 4)
    assert piece.bpm == pytest.approx(90)
    assert piece.tempo_changes == 1


def test_unclosed_notes_are_closed_at_the_end_and_counted() -> None:
    midi = mido.MidiFile(ticks_per_beat=96)
    midi.tracks.append(mido.MidiTrack([
        mido.Message("note_on", note=60, velocity=100, time=0),
        mido.Message("note_on", note=64, velocity=100, time=96),
        mido.Message("note_off", note=64, velocity=0, time=96),
    ]))
    piece = read_midi(midi, 12)
    assert piece.unclosed_notes == 1
    assert Note(0, 60, 24, 100) in piece.notes


def test_bad_midi_files_raise_a_clear_error(tmp_path) -> None:
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02garbage")
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    for path in (corrupt, empty, tmp_path / "missing.mid"):
        with pytest.raises(MidiFileError, match="cannot read MIDI file"):
            read_midi(path)
    type2 = mido.MidiFile(type=2)
    type2.tracks.append(mido.MidiTrack())
    with pytest.raises(MidiFileError, match="type 2"):
        read_midi(type2, name="t2.mid")


# ---------------------------------------------------------------------------- live messages


@settings(max_examples=60, deadline=None)
@given(note_lists(max_start=200, channels=(0, 5)), st.floats(40, 300), st.floats(0, 1e5))
def test_live_messages_round_trip_on_the_grid(notes: list[Note], bpm: float, origin_s: float) -> None:
    events = notes_to_timed_messages(notes, GRID, bpm, origin_s)
    assert notes_from_timed_messages(events, GRID, bpm, origin_s) == notes


def test_live_quantisation_snaps_human_timing_to_the_nearest_tick() -> None:
    bpm = 120.0  # a tick is 1/24 s at 12 ticks per beat
    tick = 60 / (bpm * 12)
    events = [
        (10.0 + 0.3 * tick, mido.Message("note_on", note=60, velocity=64)),
        (10.0 + 5.6 * tick, mido.Message("note_off", note=60)),
        (10.0 + 6.2 * tick, mido.Message("note_on", note=62, velocity=70)),
        (10.0 + 6.3 * tick, mido.Message("note_on", note=62, velocity=0)),
        (10.0 + 7.0 * tick, mido.Message("control_change", control=64, value=127)),
        (10.0 + 9.0 * tick, mido.Message("note_on", note=67, velocity=80)),
    ]
    notes = notes_from_timed_messages(events, GRID, bpm, origin_s=10.0, end_s=10.0 + 21 * tick)
    assert notes == [Note(0, 60, 6, 64), Note(6, 62, 1, 70), Note(9, 67, 12, 80)]


def test_timed_messages_send_note_off_before_a_retriggered_note_on() -> None:
    events = notes_to_timed_messages([Note(0, 60, 12), Note(12, 60, 12)], GRID, 120.0)
    kinds = [(round(t, 6), m.type, m.note) for t, m in events]
    assert kinds[1:3] == [(0.5, "note_off", 60), (0.5, "note_on", 60)]


# ---------------------------------------------------------------------------- note events


@settings(max_examples=200, deadline=None)
@given(note_lists(max_start=1000, max_duration=192))
def test_note_events_round_trip_is_lossless(notes: list[Note]) -> None:
    codec = NoteEventCodec(GRID)
    tokens = codec.encode(notes)
    sizes = codec.vocab_sizes
    assert tokens.shape == (len(tokens), 4)
    assert all((0 <= tokens[:, f]).all() and (tokens[:, f] < sizes[f]).all() for f in range(4))
    assert codec.decode(tokens) == notes


@given(note_lists(max_start=300, max_duration=500), st.integers(0, 200))
def test_note_events_clip_only_overlong_durations(notes: list[Note], origin: int) -> None:
    codec = NoteEventCodec(GRID, max_shift_ticks=24, max_duration_ticks=96)
    moved = [Note(n.start + origin, n.pitch, n.duration, n.velocity) for n in notes]
    decoded = codec.decode(codec.encode(moved, origin=origin), origin=origin)
    assert decoded == [Note(n.start, n.pitch, min(n.duration, 96), n.velocity) for n in moved]
    assert codec.clipped(moved) == sum(n.duration > 96 for n in moved)


def test_long_gaps_become_rest_events() -> None:
    codec = NoteEventCodec(GRID, max_shift_ticks=48)
    tokens = codec.encode([Note(0, 60, 1), Note(130, 62, 1)])
    assert tokens[:, 1].tolist() == [60, codec.REST, codec.REST, 62]
    assert tokens[:, 0].tolist() == [0, 48, 48, 34]


def test_decode_tolerates_any_model_output() -> None:
    codec = NoteEventCodec(GRID)
    rng = np.random.default_rng(0)
    tokens = np.stack([rng.integers(0, v, 500) for v in codec.vocab_sizes], axis=1)
    notes = codec.decode(tokens, channel=3)
    assert all(n.channel == 3 and n.duration >= 1 for n in notes)


def test_codec_metadata_round_trip_and_unknown_version_is_refused() -> None:
    codec = NoteEventCodec(Grid(6, 3, 4), 24, 72)
    assert codec_from_dict(codec.to_dict()) == codec
    newer = {**codec.to_dict(), "version": 99}
    with pytest.raises(RepresentationError, match="version 99 is not known"):
        codec_from_dict(newer)
    with pytest.raises(RepresentationError, match="unknown representation"):
        codec_from_dict({"name": "midi-like", "version": 1})


# ---------------------------------------------------------------------------- chords


@settings(max_examples=200, deadline=None)
@given(note_lists(max_start=300, velocities=st.just(80), max_size=25), st.integers(0, 50))
def test_chords_round_trip_is_lossless_with_a_fitted_vocabulary(notes: list[Note], origin: int) -> None:
    moved = [Note(n.start + origin, n.pitch, n.duration, n.velocity) for n in notes]
    segments = chordify(moved, origin)
    assert unchordify(segments, origin) == moved
    if not moved:
        return
    codec = ChordCodec(GRID, ChordVocabulary.fit([segments]))
    tokens = codec.encode(moved, origin)
    assert tokens.shape == (len(segments), 2)
    assert codec.decode(tokens, origin) == moved
    assert codec_from_dict(codec.to_dict()) == codec


def test_chordify_marks_held_notes_as_tied() -> None:
    segments = chordify([Note(0, 60, 24), Note(12, 64, 12), Note(24, 60, 12)])
    assert segments == [((60,), 12), ((64, 60 + 128), 12), ((60,), 12)]


def test_unseen_chords_map_to_the_nearest_known_chord() -> None:
    c_major, a_minor, g = (48, 52, 55), (45, 48, 52), (43, 47, 50)
    vocab = ChordVocabulary(((), c_major, a_minor, g), (3, 6, 12))
    assert vocab.chords[vocab.chord_index((48, 52, 55, 60))] == c_major  # an added octave
    assert vocab.chords[vocab.chord_index((43, 47, 50, 53))] == g  # G7 -> G
    assert vocab.chords[vocab.chord_index((61,))] != ()  # a sounding chord never becomes a rest
    assert vocab.chord_index(()) == 0
    assert vocab.durations[vocab.duration_index(5)] == 6
    assert vocab.durations[vocab.duration_index(100)] == 12


# ---------------------------------------------------------------------------- pianoroll bars

SPEC = RollSpec(
    tracks=(
        TrackSpec("drums", drums=True, channel=9),
        TrackSpec("bass", lowest_pitch=24, n_pitches=48, channel=1),
        TrackSpec("chords", lowest_pitch=36, n_pitches=60, channel=2),
    ),
    grid=GRID,
)


@st.composite
def groove_tracks(draw: st.DrawFn) -> list[list[Note]]:
    canonical = [pitch for _, pitch, _ in DRUM_CLASSES]
    drums = draw(st.lists(st.builds(Note, start=st.integers(0, 191), pitch=st.sampled_from(canonical),
                                    duration=st.just(1), velocity=st.integers(1, 127), channel=st.just(9)),
                          max_size=30))
    tracks = [normalise_notes(drums)]
    for track in SPEC.tracks[1:]:
        pitched = draw(st.lists(st.builds(
            Note, start=st.integers(0, 191), duration=st.integers(1, 100), velocity=st.integers(1, 127),
            pitch=st.integers(track.lowest_pitch, track.lowest_pitch + track.n_pitches - 1),
            channel=st.just(track.channel)), max_size=20))
        tracks.append(normalise_notes(pitched))
    return tracks


@settings(max_examples=150, deadline=None)
@given(groove_tracks())
def test_bars_round_trip_is_lossless(tracks: list[list[Note]]) -> None:
    bars = notes_to_bars(tracks, SPEC)
    assert bars.active.shape[1:] == SPEC.bar_shape
    assert bars_to_notes(bars, SPEC) == [sorted(t) for t in tracks]


def test_drums_fold_to_classes_and_notes_cross_bar_lines() -> None:
    tracks = [[Note(0, 35, 5, 100, 9), Note(3, 44, 1, 60, 9), Note(6, 31, 1, 60, 9)],
              [Note(40, 36, 16, 90, 1)], []]
    bars = notes_to_bars(tracks, SPEC)
    assert len(bars) == 2
    kick = [name for name, _, _ in DRUM_CLASSES].index("kick")
    assert bars.active[0, 0, 0, kick] and not bars.active[0, 0, 1, kick]  # a drum hit lasts one step
    assert bars.active[1, 1, :8, 12].all() and not bars.onset[1, 1, 0, 12]  # held over the bar line
    drums, bass, _ = bars_to_notes(bars, SPEC)
    assert drums == [Note(0, 36, 1, 100, 9), Note(3, 42, 1, 60, 9)]  # 31 is outside the kit: dropped
    assert bass == [Note(40, 36, 16, 90, 1)]


def test_pitched_notes_outside_a_track_fold_by_octaves() -> None:
    bars = notes_to_bars([[], [Note(0, 12, 4, 80, 1)], []], SPEC)
    assert bars_to_notes(bars, SPEC)[1] == [Note(0, 24, 4, 80, 1)]


def test_binarise_by_threshold_and_by_bernoulli() -> None:
    roll = np.zeros((2, *SPEC.bar_shape), np.float32)
    roll[0, 1, 10:20, 5] = 0.9  # a bass note
    roll[0, 1, 47, 7] = roll[1, 1, 0:4, 7] = 0.8  # held over the bar line
    roll[:, 0, ::12, 0] = 0.7  # kick on every beat
    roll[0, 0, :, 20] = 0.9  # drum rows past the kit are cleared
    bars = binarise(roll, SPEC, threshold=0.5, velocity=99)
    drums, bass, chords = bars_to_notes(bars, SPEC)
    assert len(drums) == 8 and all(n.pitch == 36 and n.duration == 1 for n in drums)
    assert bass == [Note(10, 29, 10, 99, 1), Note(47, 31, 5, 99, 1)]
    assert chords == []
    certain = binarise(np.clip(roll * 2, 0, 1), SPEC, threshold=None, rng=np.random.default_rng(1))
    assert (certain.active == bars.active).all()  # p = 1 always sounds, p = 0 never
    sampled = [binarise(np.full_like(roll, 0.5), SPEC, None, np.random.default_rng(s)).active.mean() for s in (1, 2)]
    assert 0.2 < sampled[0] < 0.5 and sampled[0] != sampled[1]


def test_roll_spec_metadata_round_trip() -> None:
    assert codec_from_dict(SPEC.to_dict()) == SPEC
    with pytest.raises(RepresentationError, match="divide a bar"):
        RollSpec(SPEC.tracks, GRID, ticks_per_step=5)
