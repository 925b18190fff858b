"""The phrase VAE's evaluation figures: note matches, blends, distances, attribute vectors, ranks."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.music.keys import Key
from daemon.music.notes import Note
from training.vae.metrics import (
    MIN_MODE_PHRASES,
    attribute_values,
    attribute_vectors,
    crossfade,
    figure_distance,
    major_share,
    mode_vector,
    note_matches,
    phrase_figures,
    spearman,
    splice,
)

C_MAJOR = [Note(i * 12, p, 12) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]


def test_a_note_matches_only_with_the_same_onset_pitch_and_duration_and_only_once() -> None:
    decoded = [Note(0, 60, 12), Note(12, 62, 6), Note(24, 65, 12), Note(36, 65, 12)]
    assert note_matches(C_MAJOR[:4], decoded) == (2, 4)
    assert note_matches([Note(0, 60, 12)] * 2, [Note(0, 60, 12)]) == (1, 2)


def test_figures_of_a_scale_phrase() -> None:
    f = phrase_figures(C_MAJOR, 48)
    assert f["notes_per_bar"] == 4 and f["scale_consistency"] == 1.0 and f["polyphony"] == 1.0
    assert f["pitch_range"] == 12 and f["groove_consistency"] == 1.0


def test_the_crossfade_sounds_both_phrases_and_the_splice_joins_bar_one_to_bar_two() -> None:
    other = [Note(n.start, n.pitch + 7, n.duration) for n in C_MAJOR]
    assert len(crossfade(C_MAJOR, other)) == 16 and phrase_figures(crossfade(C_MAJOR, other), 48)["polyphony"] == 2.0
    joined = splice(C_MAJOR, other, 48)
    assert [n.pitch for n in joined] == [60, 62, 64, 65, 74, 76, 78, 79]


def test_figure_distance_is_zero_to_itself_and_scaled_by_the_spread() -> None:
    f = phrase_figures(C_MAJOR, 48)
    scale = {k: 1.0 for k in f}
    assert figure_distance(f, f, scale) == 0.0
    higher = phrase_figures([Note(n.start, n.pitch + 12, n.duration) for n in C_MAJOR], 48)
    assert figure_distance(f, higher, scale) == pytest.approx(12 / 6)  # mean pitch moves 12 of 6 figures
    assert figure_distance(f, higher, {**scale, "mean_pitch": 12.0}) == pytest.approx(1 / 6)


def test_attribute_vectors_point_from_low_to_high_values() -> None:
    rng = np.random.default_rng(0)
    mus = rng.standard_normal((400, 4))
    values = [{"density": float(m[2]), "register": float(m[0]), "busyness": float(-m[1]), "major": float(m[3] > 0)}
              for m in mus]
    vectors = attribute_vectors(mus, values)
    assert np.argmax(np.abs(vectors["density"])) == 2 and vectors["density"][2] > 0
    assert np.argmax(np.abs(vectors["busyness"])) == 1 and vectors["busyness"][1] < 0
    assert vectors["major"][3] > 0


def test_an_attribute_the_phrases_barely_vary_in_gets_no_vector() -> None:
    rng = np.random.default_rng(0)
    mus = rng.standard_normal((400, 4))
    # three quarters without a short note (a chorale soprano's busyness): the quartiles tie at 0
    values = [{"density": float(m[2]), "register": float(m[0]), "busyness": 0.5 if i % 8 == 0 else 0.0,
               "major": float(m[3] > 0)} for i, m in enumerate(mus)]
    vectors = attribute_vectors(mus, values)
    assert "busyness" not in vectors and {"density", "register", "major"} <= set(vectors)


def test_attribute_values_of_a_phrase() -> None:
    values = attribute_values(C_MAJOR)
    assert values["density"] == 4 and values["register"] == pytest.approx(66.25)
    assert values["busyness"] == 0.0 and values["major"] == 1.0
    assert np.isnan(attribute_values([])["density"])


def test_spearman_ranks() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 25, 100]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(spearman([1, 2, 3], [5, 5, 5]))


def test_major_share_reads_the_mode_on_a_given_tonic() -> None:
    c_minor = [Note(n.start, n.pitch - 1 if n.pitch % 12 in (4, 9, 11) else n.pitch, n.duration) for n in C_MAJOR]
    assert major_share(C_MAJOR, 0) == 1.0 and major_share(c_minor, 0) == 0.0
    assert attribute_values(c_minor, tonic=0)["major"] == 0.0
    assert major_share(C_MAJOR, 9) == 0.0  # on A: C, F and G are its minor 3rd, 6th and 7th (A minor)
    assert np.isnan(major_share(C_MAJOR, None)) and np.isnan(major_share([Note(0, 60, 12)], 0))


def test_the_mode_vector_compares_parallel_modes_and_leaves_the_tonic_out() -> None:
    """Dimension 0 is the mode, dimension 1 the tonic: G tunes are all major, D tunes both."""
    rng = np.random.default_rng(0)
    keys = [Key(2, False, 0.9)] * 40 + [Key(2, True, 0.9)] * 30 + [Key(7, False, 0.9)] * 200 + [None] * 10
    mus = rng.normal(0, 0.1, (len(keys), 3))
    for i, key in enumerate(keys):
        if key is not None:
            mus[i, 0] += 0 if key.minor else 1
            mus[i, 1] += 1 if key.root == 7 else 0
    vector = mode_vector(mus, keys)
    assert vector is not None and vector[0] == pytest.approx(1, abs=0.1) and abs(vector[1]) < 0.1
    assert "major" in attribute_vectors(mus, [attribute_values(C_MAJOR)] * len(keys), tune_keys=keys)
    assert mode_vector(mus[:40 + MIN_MODE_PHRASES - 1], keys[:40 + MIN_MODE_PHRASES - 1]) is None
