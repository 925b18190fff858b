"""The restyle figures on hand-built groove bars whose values are known by counting."""

from __future__ import annotations

import math

import numpy as np

from training.gan.data import groove_spec
from training.restyle.metrics import chroma_similarity, cycle_error, onset_overlap, onset_steps

SPEC = groove_spec()  # drums (9 rows), bass from C1 (24), chords from C2 (36); 16 steps
DRUMS, BASS, CHORDS = 0, 1, 2
KICK, SNARE = 0, 1
REAL_CELLS_PER_BAR = 16 * (9 + 48 + 60)


def empty(n: int = 1) -> np.ndarray:
    return np.zeros((n, *SPEC.bar_shape), bool)


def held_chord(pitch_classes: tuple[int, ...]) -> np.ndarray:
    """One bar with the chords track holding the given pitch classes (in the C2 octave) all bar."""
    bar = empty()
    for pc in pitch_classes:
        bar[0, CHORDS, :, pc] = True
    return bar


def drums_only() -> np.ndarray:
    bar = empty()
    bar[0, DRUMS, ::4, KICK] = True
    return bar


def test_a_bar_keeps_all_of_its_own_chroma() -> None:
    c_major = held_chord((0, 4, 7))
    c_major[0, BASS, :8, 12] = True  # C2 in the bass
    np.testing.assert_allclose(chroma_similarity(c_major, c_major, SPEC), [1.0], atol=1e-6)


def test_bars_of_disjoint_pitch_classes_share_no_chroma() -> None:
    c_major, f_sharp = held_chord((0, 4, 7)), held_chord((6, 10, 1))
    np.testing.assert_allclose(chroma_similarity(c_major, f_sharp, SPEC), [0.0], atol=1e-6)


def test_chroma_is_octave_blind_and_weighs_duration() -> None:
    low, high = held_chord((0,)), empty()
    high[0, CHORDS, :, 24] = True  # C4: the same pitch class two octaves up
    np.testing.assert_allclose(chroma_similarity(low, high, SPEC), [1.0], atol=1e-6)
    c_then_g = empty()
    c_then_g[0, CHORDS, :12, 0] = True  # C for 12 steps, G for 4: profile (0.75, 0.25)
    c_then_g[0, CHORDS, 12:, 7] = True
    expected = 0.75 / math.hypot(0.75, 0.25)
    np.testing.assert_allclose(chroma_similarity(low, c_then_g, SPEC), [expected], atol=1e-6)


def test_a_drums_only_bar_has_no_chroma_to_compare() -> None:
    similarity = chroma_similarity(np.concatenate([drums_only(), drums_only()]),
                                   np.concatenate([drums_only(), held_chord((0,))]), SPEC)
    assert np.isnan(similarity).all()


def test_identical_bars_share_every_onset() -> None:
    bar = drums_only()
    bar[0, BASS, 2:6, 10] = True
    np.testing.assert_allclose(onset_overlap(bar, bar, SPEC), [1.0])


def test_onset_overlap_counts_steps_where_notes_start_not_where_they_sound() -> None:
    kicks = empty()
    kicks[0, DRUMS, [0, 8], KICK] = True
    held = empty()
    held[0, BASS, :, 0] = True  # one note held all bar: an onset at step 0 only
    np.testing.assert_array_equal(np.flatnonzero(onset_steps(held, SPEC)[0]), [0])
    np.testing.assert_allclose(onset_overlap(kicks, held, SPEC), [0.5])  # {0} of {0, 8}
    four = empty()
    four[0, DRUMS, ::4, SNARE] = True
    np.testing.assert_allclose(onset_overlap(kicks, four, SPEC), [0.5])  # {0, 8} of {0, 4, 8, 12}


def test_repeated_drum_hits_are_each_an_onset() -> None:
    rolls = empty()
    rolls[0, DRUMS, :4, SNARE] = True
    np.testing.assert_array_equal(np.flatnonzero(onset_steps(rolls, SPEC)[0]), [0, 1, 2, 3])


def test_two_silent_bars_have_no_onset_overlap_to_measure() -> None:
    assert np.isnan(onset_overlap(empty(), empty(), SPEC)).all()


def test_a_perfect_round_trip_has_no_cycle_error() -> None:
    bar = drums_only() | held_chord((0, 4, 7))
    assert cycle_error(bar, bar.copy(), SPEC) == {"one_minus_iou": 0.0, "cells_wrong": 0.0}
    assert cycle_error(empty(2), empty(2), SPEC) == {"one_minus_iou": 0.0, "cells_wrong": 0.0}


def test_cycle_error_counts_the_cells_lost_and_added() -> None:
    source = empty(2)
    source[0, DRUMS, [0, 4, 8, 12], KICK] = True  # 4 cells on
    back = source.copy()
    back[0, DRUMS, 12, KICK] = False  # one lost
    back[1, BASS, 3, 5] = True  # one added, in the other bar
    error = cycle_error(source, back, SPEC)
    assert math.isclose(error["one_minus_iou"], 1 - 3 / 5)
    assert math.isclose(error["cells_wrong"], 2 / (2 * REAL_CELLS_PER_BAR))
