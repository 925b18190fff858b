"""Training sequences: which notes count, how pieces are encoded, windows and transposition."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.music.chords import ChordCodec
from daemon.music.events import NoteEventCodec
from tests.training import synthetic
from training.lstm.data import (
    PAD,
    ChordLookup,
    TrainingDataError,
    WindowSet,
    build_codec,
    encode_piece,
    encode_split,
    encode_variants,
    length_grouped_batches,
    piece_notes,
    resolve_voices,
    targets_of,
    transpose_tokens,
    trim_batch,
)


def test_folk_sources_learn_the_melody_and_bach_every_voice() -> None:
    assert resolve_voices("auto", ["oneills", "ryans", "airds"]) == "melody"
    assert resolve_voices("auto", ["bach"]) == "all"
    tune = synthetic.tune(0)
    assert {n.channel for n in piece_notes(tune, "melody")} == {0}
    assert {n.channel for n in piece_notes(synthetic.chorale(0), "all")} == {0, 1, 2, 3}


def test_a_piece_starts_with_bos_and_its_first_shift_is_the_place_in_the_bar() -> None:
    piece = synthetic.chorale(0)
    late = [n.__class__(n.start + 48 + 6, n.pitch, n.duration, n.velocity, n.channel) for n in piece.notes]
    tokens = encode_piece(NoteEventCodec(piece.grid), late, piece.grid)
    assert tokens[0].tolist() == [0, NoteEventCodec.BOS, 0, 0]
    assert tokens[1, 0] == 6  # origin is the bar line at tick 48


def test_rest_and_bos_durations_and_velocities_are_not_targets() -> None:
    codec = NoteEventCodec()
    tokens = np.array([[0, codec.BOS, 0, 0], [48, codec.REST, 0, 0], [3, 60, 12, 80]])
    targets = targets_of(codec, tokens)
    assert targets[:, 2].tolist() == [PAD, PAD, 12]
    assert targets[:, 3].tolist() == [PAD, PAD, 80]
    assert targets[:, :2].tolist() == tokens[:, :2].tolist()


def test_windows_see_every_event_as_a_target_and_shift_by_one() -> None:
    codec = NoteEventCodec()
    sequences = [encode_piece(codec, piece_notes(p, "all"), p.grid) for p in synthetic.corpus()["train"][:3]]
    windows = WindowSet(sequences, codec, window=40, stride=20)
    seen = [set() for _ in sequences]
    for i in range(len(windows)):
        inputs, targets = windows[i]
        piece, start = windows.starts[i]
        seq = sequences[piece]
        n = int((targets[:, 1] != PAD).sum())
        assert inputs[:n].tolist() == seq[start:start + n].tolist()
        assert targets[:n, :2].tolist() == seq[start + 1:start + 1 + n, :2].tolist()
        seen[piece].update(range(start + 1, start + 1 + n))
    assert all(s == set(range(1, len(seq))) for s, seq in zip(seen, sequences))


def test_short_pieces_are_padded_and_trimmed_away_in_a_batch() -> None:
    codec = NoteEventCodec()
    seq = encode_piece(codec, piece_notes(synthetic.chorale(0, bars=2), "all"), synthetic.chorale(0).grid)
    windows = WindowSet([seq], codec, window=64, stride=32)
    inputs, targets = windows[0]
    assert (targets[len(seq) - 1:] == PAD).all() and (inputs[len(seq) - 1:] == 0).all()
    _, trimmed_targets = trim_batch(inputs[None], targets[None])
    assert trimmed_targets.shape[1] == len(seq) - 1 == windows.lengths()[0]


def test_transposition_is_per_window_reproducible_and_keeps_rests() -> None:
    codec = NoteEventCodec()
    sequences = [encode_piece(codec, piece_notes(p, "all"), p.grid) for p in synthetic.corpus()["train"][:4]]
    windows = WindowSet(sequences, codec, window=32, stride=16, transpose=(-5, 6), seed=3)
    plain = WindowSet(sequences, codec, window=32, stride=16)
    shifts = set()
    for i in range(len(windows)):
        a, b = windows[i][0], windows[i][0]
        assert a.tolist() == b.tolist()
        pitched = plain[i][0][:, 1] < 128
        shift = a[pitched, 1] - plain[i][0][pitched, 1]
        assert len(set(shift.tolist())) <= 1
        shifts.update(shift.tolist())
        assert (a[~pitched, 1] == plain[i][0][~pitched, 1]).all()
    assert len(shifts) > 3 and min(shifts) >= -5 and max(shifts) <= 6
    windows.epoch = 1
    assert any(windows[i][0].tolist() != plain[i][0].tolist() for i in range(len(windows)))


def test_transposing_out_of_the_midi_range_is_refused() -> None:
    with pytest.raises(TrainingDataError):
        transpose_tokens(np.array([[0, 126, 12, 80]]), 3)


def test_length_grouped_batches_hold_every_window_once() -> None:
    lengths = np.random.default_rng(0).integers(1, 100, size=203)
    batches = length_grouped_batches(lengths, 16, np.random.default_rng(1), group_batches=4)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(203))
    spread = np.mean([np.ptp(lengths[b]) for b in batches if len(b) > 1])
    assert spread < np.ptp(lengths) / 2


def test_the_chord_vocabulary_is_fitted_on_the_training_notes_only() -> None:
    data = synthetic.corpus()
    codec = build_codec("chord", [piece_notes(p, "all") for p in data["train"]], 12, max_chords=5)
    assert isinstance(codec, ChordCodec)
    assert len(codec.vocabulary.chords) == 5 and codec.vocabulary.chords[0] == ()
    tokens = encode_piece(codec, piece_notes(data["test"][0], "all"), data["test"][0].grid)
    assert tokens.shape[1] == 2 and tokens[:, 0].max() < 5


def test_the_batched_chord_lookup_gives_the_vocabularys_own_answers() -> None:
    data = synthetic.corpus()
    codec = build_codec("chord", [piece_notes(p, "all") for p in data["train"][:4]], 12, max_chords=6)
    assert isinstance(codec, ChordCodec)
    lookup = ChordLookup(codec.vocabulary)
    rng = np.random.default_rng(0)
    chords = []
    for _ in range(300):  # a pitch is struck or held, never both
        pitches = rng.choice(np.arange(40, 80), size=int(rng.integers(1, 6)), replace=False)
        chords.append(tuple(sorted(int(p) + 128 * int(rng.integers(2)) for p in pitches)))
    chords += list(codec.vocabulary.chords)
    assert lookup.indices(chords).tolist() == [codec.vocabulary.chord_index(c) for c in chords]
    piece = data["test"][0]
    notes = piece_notes(piece, "all")
    assert encode_piece(codec, notes, piece.grid, lookup).tolist() == codec.encode(notes).tolist()


def test_an_unknown_representation_says_which_exist() -> None:
    with pytest.raises(TrainingDataError, match="note-events"):
        build_codec("abc", [], 12)


def test_chord_windows_are_transposed_by_picking_pre_encoded_variants() -> None:
    data = synthetic.corpus()
    pieces = data["train"][:4]
    notes = [piece_notes(p, "all") for p in pieces]
    codec = build_codec("chord", notes, 12, max_chords=200, transpose=(-2, 2))
    assert isinstance(codec, ChordCodec)
    split = encode_split(codec, list(pieces), notes)
    variants = encode_variants(codec, split, (-2, 2))
    assert all(len(v) == 5 and v[0].tolist() == t.tolist() for v, t in zip(variants, split.tokens))
    assert all(len(x) == len(t) for v, t in zip(variants, split.tokens) for x in v)
    windows = WindowSet(split.tokens, codec, 16, 8, transpose=(-2, 2), seed=0, variants=variants)
    drawn = set()
    for epoch in range(4):
        windows.epoch = epoch
        drawn.update(tuple(windows[i][0][:, 0].tolist()) for i in range(len(windows)))
    assert len(drawn) > len(windows)  # the same window comes back in other keys
