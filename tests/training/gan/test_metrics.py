"""The GAN bar metrics on hand-built rolls whose values are known by counting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from daemon.music.grid import Grid
from daemon.music.pianoroll import RollSpec, TrackSpec
from training.gan.metrics import (
    bar_keys,
    comparison_table,
    drum_pattern,
    empty_bars,
    estimate_keys,
    key_agreement,
    key_name,
    note_lengths,
    note_shapes,
    polyphony,
    qualified_notes,
    relative_gap,
    same_signature,
    silence_kept,
    tonal_distance,
    track_metrics,
    used_pitch_classes,
)

# 16 sixteenth steps per 4/4 bar; bass rows start at C2 (36), keys rows at C#3 (49).
SPEC = RollSpec(
    tracks=(
        TrackSpec("drums", drums=True, channel=9),
        TrackSpec("bass", lowest_pitch=36, n_pitches=24, channel=1),
        TrackSpec("keys", lowest_pitch=49, n_pitches=24, channel=2),
    ),
    grid=Grid(12, 4, 4),
    ticks_per_step=3,
)
DRUMS, BASS, KEYS = 0, 1, 2
C, E, G = 0, 4, 7  # bass rows of C2, E2, G2


def bars(n: int) -> np.ndarray:
    return np.zeros((n, *SPEC.bar_shape), bool)  # (N, T, S, P)


def test_empty_bars_counts_silent_bars_per_track() -> None:
    roll = bars(4)
    roll[0, BASS, 0, C] = True
    roll[2, BASS, 5, G] = True
    roll[3, BASS, 15, E] = True
    roll[:, DRUMS, 0, 0] = True
    eb = empty_bars(roll, SPEC)
    assert eb[DRUMS] == 0.0
    assert eb[BASS] == 0.25
    assert eb[KEYS] == 1.0


def test_used_pitch_classes_are_true_pitch_classes_over_sounding_bars() -> None:
    roll = bars(3)
    roll[0, BASS, 0:4, [C, E, G, C + 12]] = True  # C E G C' -> 3 classes
    roll[1, BASS, 0, C] = True  # 1 class
    # bar 2: silent bass, not counted
    # keys: rows 0 and 1 are C#3 and D3, adjacent semitones -> 2 classes (grouped chroma would say 1);
    # rows 0 and 12 are C#3 and C#4 -> 1 class
    roll[0, KEYS, 0, [0, 1]] = True
    roll[1, KEYS, 0, [0, 12]] = True
    upc = used_pitch_classes(roll, SPEC)
    assert upc[BASS] == pytest.approx(2.0)  # (3 + 1) / 2 sounding bars
    assert upc[KEYS] == pytest.approx(1.5)  # (2 + 1) / 2
    assert math.isnan(upc[DRUMS])


def test_note_lengths_are_runs_of_active_steps_cut_at_the_bar_line() -> None:
    roll = bars(2)
    roll[0, BASS, 0:1, C] = True  # 1
    roll[0, BASS, 2:4, C] = True  # 2
    roll[0, BASS, 5:8, E] = True  # 3
    roll[0, BASS, 12:16, G] = True  # 4, continues ...
    roll[1, BASS, 0:2, G] = True  # ... into the next bar: a note of 2 there
    assert sorted(note_lengths(roll, SPEC, BASS).tolist()) == [1, 2, 2, 3, 4]


def test_qualified_notes_last_at_least_three_sixteenths() -> None:
    roll = bars(1)
    roll[0, BASS, 0:1, C] = True  # a 16th: not qualified
    roll[0, BASS, 2:4, C] = True  # an 8th: not qualified
    roll[0, BASS, 5:8, E] = True  # a dotted 8th: qualified
    roll[0, BASS, 12:16, G] = True  # a quarter: qualified
    qn = qualified_notes(roll, SPEC)
    assert qn[BASS] == 0.5
    assert math.isnan(qn[KEYS])  # no note at all
    assert math.isnan(qn[DRUMS])
    assert qualified_notes(roll, SPEC, min_beats=0.5)[BASS] == 0.75  # an 8th or longer


def test_silence_kept_counts_silent_tracks_that_stay_silent_after_a_silent_previous_bar() -> None:
    previous, now = bars(4), bars(4)
    previous[0, DRUMS, 0, 0] = True  # drums sound before bar 0 only
    previous[:, BASS, 0, C] = True  # the bass always sounds before
    now[1, DRUMS, 4, 0] = True  # of the three bars after silent drums, bar 1 brings them in
    kept = silence_kept(previous, now, SPEC)
    assert kept["drums"] == {"kept": 2 / 3, "pairs": 3}
    assert kept["bass"]["pairs"] == 0 and math.isnan(kept["bass"]["kept"])
    assert kept["keys"] == {"kept": 1.0, "pairs": 4}
    with pytest.raises(ValueError, match="3 previous bars for 4 bars"):
        silence_kept(previous[:3], now, SPEC)


def test_note_shapes_count_onsets_off_the_eighth_grid_and_one_step_notes() -> None:
    roll = bars(1)
    roll[0, BASS, 0:1, C] = True  # a 16th on the grid
    roll[0, BASS, 3:4, C] = True  # a 16th off the grid
    roll[0, BASS, 5:8, E] = True  # a dotted 8th off the grid
    roll[0, BASS, 12:16, G] = True  # a quarter on the grid
    shapes = note_shapes(roll, SPEC)
    assert set(shapes) == {"bass", "keys"}  # pitched tracks only
    assert shapes["bass"] == {"off-grid onsets": 0.5, "one-step notes": 0.5}
    assert math.isnan(shapes["keys"]["off-grid onsets"])  # no note at all


def test_polyphony_is_the_share_of_sounding_steps_with_three_pitches() -> None:
    roll = bars(1)
    roll[0, KEYS, 0:4, [3, 7, 10]] = True  # 4 steps of a triad
    roll[0, KEYS, 4:6, [3, 7]] = True  # 2 steps of a dyad
    roll[0, KEYS, 6:8, 3] = True  # 2 steps of one note; steps 8-15 silent
    assert polyphony(roll, SPEC)[KEYS] == pytest.approx(4 / 8)
    assert polyphony(roll, SPEC, min_pitches=2)[KEYS] == pytest.approx(6 / 8)


def test_drum_pattern_counts_hits_on_the_eighth_note_grid() -> None:
    roll = bars(2)
    roll[0, DRUMS, [0, 2, 4, 6], 2] = True  # closed hats on eighths
    roll[0, DRUMS, [1, 3], 1] = True  # snare on off-16ths
    roll[1, DRUMS, [8, 9], 0] = True  # one on, one off
    dp = drum_pattern(roll, SPEC)
    assert dp[DRUMS] == pytest.approx(5 / 8)
    assert math.isnan(dp[BASS])


def test_tonal_distance_is_zero_for_the_same_pitch_classes_in_other_octaves() -> None:
    roll = bars(2)
    roll[:, BASS, 0:8, C] = True  # C2
    roll[:, KEYS, 0:8, 11] = True  # C4 (row 11 of a track starting at C#3)
    roll[1, KEYS, 8:16, 11] = True  # a longer C: the normalised chroma is the same
    assert tonal_distance(roll, SPEC)["bass-keys"] == pytest.approx(0.0, abs=1e-12)


def test_tonal_distance_of_a_fifth_matches_hartes_centroids() -> None:
    roll = bars(1)
    roll[0, BASS, :, C] = True  # C
    roll[0, KEYS, :, 6] = True  # G3 (49 + 6 = 55)
    # centroid of C: (0, 1, 0, 1, 0, 0.5); of G (pc 7): (0.5, 0.866, 1, 0, 0.433, -0.25); by hand:
    expected = math.sqrt(0.5 ** 2 + (1 - math.sqrt(3) / 2) ** 2 + 1 + 1 + (math.sqrt(3) / 4) ** 2 + 0.75 ** 2)
    assert tonal_distance(roll, SPEC)["bass-keys"] == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(1.7372, abs=1e-4)


def test_tonal_distance_skips_bars_where_a_track_is_silent() -> None:
    roll = bars(2)
    roll[0, BASS, :, C] = True
    roll[0, KEYS, :, 11] = True  # same pitch class: 0
    roll[1, BASS, :, E] = True  # keys silent: not counted
    assert tonal_distance(roll, SPEC)["bass-keys"] == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(tonal_distance(bars(1), SPEC)["bass-keys"])


def test_key_estimates_follow_krumhansl_kessler() -> None:
    def profile(weights: dict[int, float]) -> np.ndarray:
        x = np.zeros(12)
        for pc, w in weights.items():
            x[pc] = w
        return x

    keys = estimate_keys(np.stack([
        profile({0: 4, 4: 2, 7: 3, 5: 1, 2: 1}),  # C E G + F D
        profile({9: 4, 0: 2, 4: 3, 8: 1, 11: 1}),  # A C E + G# B
        profile({7: 4, 11: 2, 2: 3, 6: 1}),  # G B D F#
        np.zeros(12),  # silence
        np.ones(12),  # every class equally: no key
    ]))
    assert [key_name(int(k)) for k in keys] == ["C major", "A minor", "G major", "none", "none"]


def test_key_agreement_compares_each_bar_with_its_previous_bar() -> None:
    prev = bars(3)
    cur = bars(3)
    for roll in (prev, cur):
        roll[:, BASS, 0:8, C] = True
        roll[:, BASS, 8:12, G] = True
        roll[:, BASS, 12:14, E] = True  # C major
    cur[2, BASS] = False
    cur[2, BASS, 0:8, 6] = True  # F#
    cur[2, BASS, 8:12, 1] = True  # C#
    cur[2, BASS, 12:14, 10] = True  # A#: F# major
    agreement = key_agreement(prev, cur, SPEC)
    assert agreement.pairs == 3
    assert agreement.exact == pytest.approx(2 / 3)
    assert bar_keys(cur[2:], SPEC)[0] == 6


def test_relative_major_and_minor_share_a_signature() -> None:
    c_major, a_minor, e_minor = 0, 12 + 9, 12 + 4
    assert same_signature(np.array([c_major]), np.array([a_minor]))[0]
    assert not same_signature(np.array([c_major]), np.array([e_minor]))[0]


def test_track_metrics_name_every_track_and_mark_what_does_not_apply() -> None:
    roll = bars(2)
    roll[:, DRUMS, ::2, 0] = True
    roll[:, BASS, 0:4, C] = True
    metrics = track_metrics(roll, SPEC)
    assert set(metrics) == {"drums", "bass", "keys"}
    assert metrics["drums"]["DP"] == 1.0 and math.isnan(metrics["drums"]["UPC"])
    assert metrics["bass"]["QN"] == 1.0 and metrics["bass"]["UPC"] == 1.0 and math.isnan(metrics["bass"]["DP"])
    assert metrics["keys"]["EB"] == 1.0


def test_comparison_table_marks_values_within_tolerance() -> None:
    reference = {"bass": {"EB": 0.5, "UPC": 2.0}, "TD": {"bass-keys": 1.0}}
    columns = {"model": {"bass": {"EB": 0.54, "UPC": 2.5}, "TD": {"bass-keys": 1.05}}}
    table = comparison_table(reference, columns)
    assert "| bass | EB | 0.500 | 0.540 ok |" in table
    assert "| bass | UPC | 2.000 | 2.500 off |" in table
    assert "| TD | bass-keys | 1.000 | 1.050 ok |" in table
    assert relative_gap(0.015, 0.005) == pytest.approx(0.1)  # small references: gap against 0.1


def test_metrics_refuse_rolls_of_another_shape() -> None:
    with pytest.raises(ValueError, match="do not match"):
        empty_bars(np.zeros((1, 2, 16, 24), bool), SPEC)
