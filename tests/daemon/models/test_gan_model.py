"""The GAN runtime's numpy side: conditioning features, track assignment, the articulation gap."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from daemon.errors import ModelError
from daemon.models.gan import length_prior
from daemon.music.bar_features import (
    CONDITION_DIM,
    articulate,
    assign_tracks,
    condition_features,
    last_bar,
    pitch_class_profile,
)
from daemon.music.grid import DRUM_CHANNEL, Grid
from daemon.music.notes import Note
from daemon.music.pianoroll import RollSpec, TrackSpec, binarise, notes_to_bars
from daemon.music.voices import (
    choose_candidates,
    decode_voices,
    lengths_log_likelihood,
    note_length_log_p,
    note_lengths,
    one_per_step,
    switch_costs,
    voice_emissions,
    voice_path,
)

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


def _path_score(emissions: np.ndarray, path: tuple[int, ...], cost: float) -> float:
    return float(sum(emissions[i, k] for i, k in enumerate(path))
                 - cost * sum(a != b for a, b in itertools.pairwise(path)))


def test_the_likeliest_voice_line_is_the_best_scoring_path_of_all() -> None:
    import itertools

    rng = np.random.default_rng(3)
    emissions = rng.normal(0.0, 1.5, (6, 5, 3))  # 6 voices, 5 steps, 2 rows + silence
    for cost in (0.0, 0.7, 2.5):
        path = voice_path(emissions, cost)
        for b in range(len(emissions)):
            best = max(_path_score(emissions[b], p, cost) for p in itertools.product(range(3), repeat=5))
            assert _path_score(emissions[b], tuple(path[b]), cost) == pytest.approx(best)
    assert (voice_path(emissions, 0.0) == emissions.argmax(axis=-1)).all()  # no cost: each step on its own


def test_voice_lines_drop_the_one_step_notes_a_row_wins_by_a_hair() -> None:
    roll = np.zeros((1, *SPEC.bar_shape), np.float32)
    roll[0, 1, 0:8, 10] = 0.8  # a half note in the bass ...
    roll[0, 1, 3, 11] = 0.85  # ... that a neighbour beats at one step, by a hair
    roll[0, 1, 8:12, 12] = 0.9  # then a quarter note, a quarter rest
    roll[0, 2, 0, [3, 5]] = [0.6, 0.9]  # the chords are left alone
    plain = binarise(decode_voices(roll, [1]), SPEC, 0.5)
    line = decode_voices(roll, [1], switch_cost=1.0)
    lined = binarise(line, SPEC, 0.5)
    assert plain.onset[0, 1].sum() == 4  # 10, 11 for one step, 10 again, 12
    assert lined.onset[0, 1].nonzero()[1].tolist() == [10, 12]
    assert lined.active[0, 1, :, 10].nonzero()[0].tolist() == list(range(8))
    assert lined.active[0, 1, 12:].sum() == 0  # the rest stays a rest
    assert set(np.unique(line[0, 1])) <= {0.0, 1.0}
    assert (line[0, 2] == roll[0, 2]).all()
    assert (decode_voices(roll, [1], switch_cost=0.0) == one_per_step(roll, [1])).all()
    # Bernoulli sampling draws each step on its own: the voice keeps one row per step
    assert (decode_voices(roll, [1], switch_cost=1.0, threshold=None) == one_per_step(roll, [1])).all()
    high = binarise(decode_voices(roll, [1], switch_cost=1.0, threshold=0.82), SPEC, 0.82).active[0, 1]
    assert not high[:8].any()  # above the half note's 0.8 the line rests, the hair's 0.85 too short to pay for
    assert high[8:12, 12].all() and high.sum() == 4  # the quarter note's 0.9 over four steps does


def test_voice_log_odds_agree_with_the_per_step_rules_at_their_threshold() -> None:
    rng = np.random.default_rng(1)
    part = rng.random((20, 16, 48)) ** 3
    for any_row in (False, True):
        for threshold in (0.3, 0.5):
            emissions = voice_emissions(part, any_row, threshold)
            kept = one_per_step(part[:, None], [0], any_row)[:, 0]  # (B, S, P)
            sounding = kept.max(axis=-1) > threshold
            choice = np.where(sounding, kept.argmax(axis=-1), part.shape[-1])
            assert (emissions.argmax(axis=-1) == choice).all()


def test_each_voice_keeps_its_own_switch_cost() -> None:
    roll = np.zeros((1, *SPEC.bar_shape), np.float32)
    for t in (1, 2):  # the same hesitant half note in two tracks decoded as voices
        roll[0, t, 0:8, 10] = 0.8
        roll[0, t, 3, 11] = 0.85
    decoded = binarise(decode_voices(roll, [1, 2], switch_cost=[1.0, 0.0]), SPEC, 0.5)
    assert decoded.onset[0, 1].sum() == 1 and decoded.onset[0, 2].sum() == 3  # a line, then step by step
    with pytest.raises(ModelError, match="3 voice switch costs for 2 voices"):
        decode_voices(roll, [1, 2], switch_cost=[1.0, 0.0, 2.0])


def test_switch_costs_come_as_one_number_a_mapping_or_command_line_text() -> None:
    voices = ["soprano", "alto", "bass"]
    assert switch_costs(0.4, voices) == {"soprano": 0.4, "alto": 0.4, "bass": 0.4}
    assert switch_costs("0.4", voices) == switch_costs(0.4, voices)
    assert switch_costs("soprano=0.5, bass=0.2", voices) == {"soprano": 0.5, "alto": 0.0, "bass": 0.2}
    assert switch_costs({"alto": 1}, voices) == {"soprano": 0.0, "alto": 1.0, "bass": 0.0}
    assert switch_costs(0.3, []) == {}
    with pytest.raises(ModelError, match="name tenor, which this model does not decode as voices"):
        switch_costs("tenor=1", voices)
    with pytest.raises(ModelError, match="give voice=number"):
        switch_costs("soprano=high", voices)
    with pytest.raises(ModelError, match="give a number, or voice=number pairs"):
        switch_costs("smooth", voices)


@pytest.mark.parametrize("cost", [-0.5, float("nan"), float("inf"), "1", True])
def test_a_bad_voice_switch_cost_is_refused(cost: object) -> None:
    roll = np.zeros((1, *SPEC.bar_shape), np.float32)
    if isinstance(cost, float):
        with pytest.raises(ModelError, match="voice switch cost"):
            decode_voices(roll, [1], switch_cost=cost)
    with pytest.raises(ModelError, match="voice switch cost"):
        switch_costs({"bass": cost}, ["bass"])  # as a file's metadata gives it


def test_note_lengths_count_each_run_of_a_row_within_the_bar() -> None:
    bars = np.zeros((2, *SPEC.bar_shape), bool)
    bars[0, 1, 0:4, 3] = True  # a 4-step bass note
    bars[0, 1, 4:5, 5] = True  # a 1-step one right after, another row
    bars[0, 1, 10:16, 3] = True  # 6 steps to the bar line
    bars[0, 2, 0:2, 0] = bars[0, 2, 0:2, 4] = True  # two 2-step chord notes
    bars[1, 1, :, 7] = True  # a whole bar
    counts = note_lengths(bars, [1, 2])
    assert counts.shape == (2, 2, 17)
    assert {int(i): int(c) for i, c in enumerate(counts[0, 0]) if c} == {4: 1, 1: 1, 6: 1}
    assert {int(i): int(c) for i, c in enumerate(counts[0, 1]) if c} == {2: 2}
    assert counts[1, 0, 16] == 1 and counts[1, 0].sum() == 1 and counts[1, 1].sum() == 0


def test_the_note_length_prior_is_smoothed_log_probabilities_of_the_bars_lengths() -> None:
    bars = np.zeros((4, *SPEC.bar_shape), bool)
    bars[:, 1, 0:4, 0] = bars[:, 1, 4:8, 2] = True  # eight 4-step notes
    log_p = note_length_log_p(bars, [1])
    assert log_p.shape == (1, 16)
    assert np.exp(log_p).sum() == pytest.approx(1.0)
    assert np.exp(log_p[0, 3]) == pytest.approx(9 / 24)  # (8 + 1) / (8 + 16)
    assert np.exp(log_p[0, 0]) == pytest.approx(1 / 24)  # never seen, still possible


def test_the_best_candidate_has_the_best_score_plus_its_weighted_length_prior() -> None:
    bars = np.zeros((4, *SPEC.bar_shape), bool)  # two bars, two candidates each
    bars[0, 1, :, 0] = True  # bar 0 candidate 0: one whole note
    for s in range(16):  # bar 0 candidate 1: sixteen one-step notes
        bars[1, 1, s, s % 2] = True
    bars[2:] = bars[:2]
    log_p = np.full((1, 16), np.log(1 / 32))
    log_p[0, 15] = np.log(17 / 32)  # whole notes are common, one-step ones rare
    scores = np.array([0.0, 1.0, 0.0, 1.0])  # the critic prefers the one-step notes
    assert list(choose_candidates(bars, scores, 2)) == [1, 1]
    assert list(choose_candidates(bars, scores, 2, [1], log_p, weight=0.01)) == [1, 1]  # 0.01 * 55 < 1
    assert list(choose_candidates(bars, scores, 2, [1], log_p, weight=0.1)) == [0, 0]
    with pytest.raises(ModelError, match="3 scores for 4 candidates"):
        choose_candidates(bars, scores[:3], 2)


def test_the_lengths_likelihood_of_voices_read_from_their_rows_is_that_of_every_row_run() -> None:
    rng = np.random.default_rng(0)
    log_p = np.log(rng.dirichlet(np.ones(16), size=2))  # (2 tracks, 16 lengths)
    voices = np.zeros((40, *SPEC.bar_shape), bool)  # one row a step at most: rests, held and changed rows
    for bar, track in np.ndindex(40, 2):
        row = -1
        for step in range(16):
            u = rng.random()
            row = -1 if u < 0.2 else int(rng.integers(0, 12)) if u < 0.5 else row
            if row >= 0:
                voices[bar, 1 + track, step, row] = True
    chords = rng.random((6, *SPEC.bar_shape)) < 0.1  # several rows a step: the general count
    table = np.concatenate([np.zeros((2, 1)), log_p], axis=1)
    for bars in (voices, chords):
        expected = np.array([sum(float((table[v] * note_lengths(bars[i:i + 1], [1 + v])[0, 0]).sum()) for v in (0, 1))
                             for i in range(len(bars))])
        np.testing.assert_allclose(lengths_log_likelihood(bars, [1, 2], log_p), expected)


@pytest.mark.parametrize("value, message", [
    ({"weight": -1, "log_p": {"bass": [-1.0] * 16}}, "does not fit"),
    ({"weight": 1, "log_p": {"bass": [-1.0] * 8}}, "8 lengths for bars of 16 steps"),
    ({"weight": 1, "log_p": {"bass": [0.5] * 16}}, "does not fit"),
    ({"weight": 1, "log_p": {"flute": [-1.0] * 16}}, "cannot be read"),
    ({"log_p": {"bass": [-1.0] * 16}}, "cannot be read"),
    ("heavy", "cannot be read"),
])
def test_a_bad_note_length_prior_is_refused(value: object, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        length_prior(value, [t.name for t in SPEC.tracks], SPEC.steps_per_bar)
    tracks, log_p, weight = length_prior({"weight": 0.5, "log_p": {"bass": [-2.0] * 16}},
                                         [t.name for t in SPEC.tracks], 16)
    assert tracks == (1,) and log_p.shape == (1, 16) and weight == 0.5
    assert length_prior(None, ["bass"], 16) == ((), None, 0.0)
