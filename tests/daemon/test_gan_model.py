"""The GAN runtime's numpy side: conditioning features, track assignment, the articulation gap."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.errors import ModelError
from daemon.gan_model import (
    CONDITION_DIM,
    articulate,
    assign_tracks,
    condition_features,
    last_bar,
    one_per_step,
    pitch_class_profile,
)
from daemon.representation import DRUM_CHANNEL, Grid, Note, RollSpec, TrackSpec, binarise, notes_to_bars

SPEC = RollSpec(
    tracks=(
        TrackSpec("drums", drums=True, channel=DRUM_CHANNEL),
        TrackSpec("bass", lowest_pitch=24, n_pitches=48, channel=1),
        TrackSpec("chords", lowest_pitch=36, n_pitches=60, channel=2),
    ),
    grid=Grid(12), ticks_per_step=3,
)


def test_the_profile_counts_sounding_steps_per_true_pitch_class() -> None:
    roll = np.zeros((1, *SPEC.bar_shape), bool)
    roll[0, 1, 0:12, 0] = True  # bass C1 for 12 steps
    roll[0, 2, 0:4, 4] = True  # chords E2 for 4 steps
    roll[0, 0, :, 0] = True  # drums do not count
    profile = pitch_class_profile(roll, SPEC)[0]
    assert profile[0] == pytest.approx(12 / 16) and profile[4] == pytest.approx(4 / 16)
    assert profile.sum() == pytest.approx(1.0)
    assert not pitch_class_profile(np.zeros_like(roll), SPEC).any()


def test_no_previous_bar_is_all_zeros_and_a_previous_bar_sets_the_flag() -> None:
    prev, cond = condition_features(None, SPEC, n=3)
    assert prev.shape == (3, *SPEC.bar_shape) and cond.shape == (3, CONDITION_DIM)
    assert not prev.any() and not cond.any()
    silent = np.zeros((1, *SPEC.bar_shape), bool)
    _, cond = condition_features(silent, SPEC)
    assert cond[0, -1] == 1.0 and not cond[0, :-1].any()  # a silent previous bar is still a previous bar
    with pytest.raises(ModelError, match="does not fit"):
        condition_features(np.zeros((1, 2, 16, 60)), SPEC)


def test_tracks_come_from_channels_the_model_plays_on() -> None:
    notes = [Note(0, 36, 3, 100, DRUM_CHANNEL), Note(0, 40, 6, 90, 1), Note(0, 60, 6, 80, 2), Note(0, 35, 3, 90, 2)]
    drums, bass, chords = assign_tracks(notes, SPEC)
    assert [n.pitch for n in drums] == [36]
    assert [n.pitch for n in bass] == [40]
    assert sorted(n.pitch for n in chords) == [35, 60]


def test_other_channels_go_to_the_track_of_their_register() -> None:
    notes = [Note(0, 40, 6, 90, 4), Note(0, 43, 6, 90, 4), Note(0, 64, 6, 80, 7), Note(0, 67, 6, 80, 7)]
    _, bass, chords = assign_tracks(notes, SPEC)
    assert {n.pitch for n in bass} == {40, 43}
    assert {n.pitch for n in chords} == {64, 67}
    (_, only, _) = assign_tracks([Note(0, 70, 6, 80, 5)], SPEC)[0:3]
    assert not only  # one channel: the nearest register (chords, centre 66) takes it
    assert assign_tracks([Note(0, 70, 6, 80, 5)], SPEC)[2]


def test_last_bar_is_the_last_bar_with_a_note() -> None:
    bar = SPEC.grid.ticks_per_bar
    tracks = [[Note(0, 36, 3, 100, 9)], [Note(2 * bar + 6, 40, 6, 90, 1)], []]
    roll = last_bar(tracks, SPEC)
    assert roll is not None and roll.shape == (1, *SPEC.bar_shape)
    assert roll[0, 1, 2:4, 16].all() and not roll[0, 0].any()
    assert last_bar([[], [], []], SPEC) is None
    assert last_bar([[Note(0, 34, 3, 100, 9)], [], []], SPEC) is None  # a drum pitch outside the kit


def test_the_articulation_gap_keeps_repeated_notes_apart() -> None:
    repeated = [Note(0, 40, 12, 90, 1), Note(12, 40, 12, 90, 1), Note(24, 40, 3, 90, 1), Note(27, 40, 3, 90, 1)]
    bars = notes_to_bars([[], repeated, []], SPEC)
    rolled = articulate(bars.active, bars.onset, SPEC)
    column = rolled[0, 1, :, 16]
    # quarter, quarter (each loses its last step), then two sixteenths that cannot lose a step
    assert column.astype(int).tolist() == [1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    drums = notes_to_bars([[Note(0, 36, 3, 100, 9), Note(3, 36, 3, 100, 9)], [], []], SPEC)
    assert (articulate(drums.active, drums.onset, SPEC) == drums.active).all()


def test_voice_decoding_keeps_one_row_a_step_in_monophonic_tracks_by_either_rule() -> None:
    roll = np.zeros((1, *SPEC.bar_shape), np.float32)
    roll[0, 1, 0, [3, 5, 7]] = [0.6, 0.9, 0.7]  # three candidates in the bass at step 0
    roll[0, 1, 1, [3, 4, 5]] = [0.3, 0.35, 0.3]  # a hesitant step: no row passes 0.5
    roll[0, 1, 2, 9] = 0.2  # a quiet step stays quiet
    roll[0, 2, 0, [3, 5]] = [0.6, 0.9]  # the chords are left alone
    likeliest = one_per_step(roll, [1])
    any_row = one_per_step(roll, [1], any_row=True)
    for decoded in (likeliest, any_row):
        assert [decoded[0, 1, k].nonzero()[0].tolist() for k in range(3)] == [[5], [4], [9]]
        assert decoded[0, 2, 0].nonzero()[0].tolist() == [3, 5]
    assert likeliest[0, 1, 0, 5] == pytest.approx(0.9) and likeliest[0, 1, 1, 4] == pytest.approx(0.35)
    assert any_row[0, 1, 0, 5] == pytest.approx(1 - 0.4 * 0.1 * 0.3, abs=1e-6)
    assert any_row[0, 1, 1, 4] == pytest.approx(1 - 0.7 * 0.65 * 0.7, abs=1e-6)  # 0.68: the voice sounds
    assert any_row[0, 1, 2, 9] == pytest.approx(0.2)
    assert roll[0, 1, 0, 3] == np.float32(0.6)  # a copy
    assert binarise(likeliest, SPEC, 0.5).active[0, 1, :3].sum(axis=-1).tolist() == [1, 0, 0]
    assert binarise(any_row, SPEC, 0.5).active[0, 1, :3].sum(axis=-1).tolist() == [1, 1, 0]
