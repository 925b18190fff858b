"""Evaluation figures: token scores, n-gram baselines and musical statistics (numpy only)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.music.notes import Note
from training.lstm import metrics as M

C_MAJOR_SCALE = (60, 62, 64, 65, 67, 69, 71, 72)


def melody(pitches: list[int], step: int = 12, duration: int | None = None) -> list[Note]:
    return [Note(i * step, p, duration or step) for i, p in enumerate(pitches)]


# -- token scores ---------------------------------------------------------------------------


def test_score_field_gives_bits_and_top_k_and_ignores_padding() -> None:
    probs = np.array([[0.5, 0.25, 0.125, 0.125, 0, 0, 0],
                      [0.5, 0.25, 0.125, 0.125, 0, 0, 0],
                      [0.5, 0.25, 0.125, 0.125, 0, 0, 0]]) + 1e-12
    log_probs = np.log(probs / probs.sum(1, keepdims=True))
    nll, top1, top5, valid = M.score_field(log_probs, np.array([0, 2, M.PAD]))
    assert nll[:2] == pytest.approx([1.0, 3.0], abs=1e-6)
    assert nll[2] == 0.0
    assert top1.tolist() == [True, False, False]
    assert top5.tolist() == [True, True, False]
    assert valid.tolist() == [True, True, False]


def test_bits_per_note_charges_rest_events_to_the_notes() -> None:
    fields = ("shift", "pitch")
    log_probs = [np.log(np.full((3, 2), 0.5)), np.log(np.full((3, 4), 0.25))]
    targets = np.array([[0, 1], [1, 3], [0, 2]])
    is_note = np.array([True, False, True])  # the middle event is a REST
    summary = M.score_tokens(fields, log_probs, targets, is_note).summary()
    # 3 events x (1 + 2) bits = 9 bits over 2 notes
    assert summary["bits_per_note"] == pytest.approx(4.5)
    assert summary["perplexity"] == pytest.approx(2 ** 4.5)
    assert summary["shift_bits"] + summary["pitch_bits"] == pytest.approx(4.5)
    assert summary["pitch_perplexity"] == pytest.approx(4.0)


# -- baselines ------------------------------------------------------------------------------


def test_unigram_rows_are_normalised_and_smoothed() -> None:
    targets = [np.array([[0, 1], [0, 1], [1, M.PAD]])]
    model = M.UnigramBaseline((3, 2)).fit(targets)
    lp = model.log_probs(np.zeros((1, 2), np.int64))
    for field in lp:
        assert np.exp(field).sum(axis=1) == pytest.approx([1.0])
    assert np.exp(lp[0][0]) == pytest.approx([3 / 6, 2 / 6, 1 / 6])  # add-one: counts 2,1,0 -> 3,2,1


def test_witten_bell_bigram_learns_an_alternation_and_falls_back_for_unseen_contexts() -> None:
    seq = np.array([[i % 2] for i in range(200)])
    model = M.BigramBaseline((3,)).fit([seq[:-1]], [seq[1:]])
    lp = np.exp(model.log_probs(np.array([[0], [1], [2]]))[0])
    assert lp.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0])
    assert lp[0, 1] > 0.95 and lp[1, 0] > 0.95
    assert lp[2] == pytest.approx(np.exp(model.unigram.log_p[0]))  # context 2 never seen


def test_bigram_beats_unigram_on_a_predictable_sequence() -> None:
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.choice([-1, 1], size=2000)) % 12
    seq = walk[:, None]
    fields = ("pitch",)
    targets, contexts = seq[1:], seq[:-1]
    is_note = np.ones(len(targets), bool)
    uni = M.UnigramBaseline((12,)).fit([targets])
    bi = M.BigramBaseline((12,)).fit([contexts], [targets])
    uni_bits = M.score_tokens(fields, uni.log_probs(contexts), targets, is_note).summary()["bits_per_note"]
    bi_bits = M.score_tokens(fields, bi.log_probs(contexts), targets, is_note).summary()["bits_per_note"]
    assert uni_bits == pytest.approx(math.log2(12), abs=0.05)
    assert bi_bits == pytest.approx(1.0, abs=0.05)  # two equally likely neighbours


# -- musical statistics ---------------------------------------------------------------------


def test_krumhansl_schmuckler_finds_c_major_from_a_c_major_scale() -> None:
    key = M.estimate_key(melody([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60], duration=12))
    assert key is not None and (key.tonic, key.mode) == (0, "major")


def test_krumhansl_schmuckler_finds_a_minor_from_an_a_minor_arpeggio_melody() -> None:
    key = M.estimate_key(melody([57, 60, 64, 69, 64, 60, 57, 59, 60, 62, 64, 57], duration=12))
    assert key is not None and (key.tonic, key.mode) == (9, "minor")


@settings(max_examples=30, deadline=None)
@given(st.integers(-12, 12))
def test_key_estimate_moves_with_transposition(semitones: int) -> None:
    notes = melody([60, 64, 67, 72, 71, 69, 67, 65, 64, 62, 60], duration=6)
    moved = [Note(n.start, n.pitch + semitones, n.duration) for n in notes]
    a, b = M.estimate_key(notes), M.estimate_key(moved)
    assert a is not None and b is not None
    assert b.tonic == (a.tonic + semitones) % 12 and b.mode == a.mode


def test_related_keys_are_the_relative_and_the_neighbours_on_the_circle_of_fifths() -> None:
    c_major = M.Key(0, "major", 1.0)
    related = [M.Key(0, "major", 1), M.Key(9, "minor", 1), M.Key(7, "major", 1), M.Key(4, "minor", 1),
               M.Key(5, "major", 1), M.Key(2, "minor", 1)]
    assert all(c_major.related_to(k) and k.related_to(c_major) for k in related)
    assert not c_major.related_to(M.Key(2, "major", 1)) and not c_major.related_to(M.Key(0, "minor", 1))
    assert M.Key(11, "major", 1).related_to(M.Key(6, "major", 1))  # B and F# across the sharp side
    assert M.Key(6, "major", 1).related_to(M.Key(1, "major", 1))  # F# (6 sharps) and Db (5 flats)


def test_key_is_none_without_two_pitch_classes() -> None:
    assert M.estimate_key([]) is None
    assert M.estimate_key(melody([60, 72])) is None


def test_pitch_class_entropy_spans_zero_to_log2_twelve() -> None:
    assert M.pitch_class_entropy(melody([60, 72, 48])) == pytest.approx(0.0)
    assert M.pitch_class_entropy(melody(list(range(60, 72)))) == pytest.approx(math.log2(12))
    assert math.isnan(M.pitch_class_entropy([]))


def test_scale_consistency_is_one_for_a_scale_and_seven_twelfths_for_the_chromatic() -> None:
    assert M.scale_consistency(melody(list(C_MAJOR_SCALE))) == pytest.approx(1.0)
    assert M.scale_consistency(melody(list(range(60, 72)))) == pytest.approx(7 / 12)


def test_groove_consistency_is_one_for_repeated_rhythm_and_lower_otherwise() -> None:
    bar = 48
    same = [Note(b * bar + t, 60, 3) for b in range(4) for t in (0, 12, 18, 36)]
    assert M.groove_consistency(same, bar, 0, 4) == pytest.approx(1.0)
    changed = [*same[:4], *(Note(bar + t, 60, 3) for t in (6, 12))]  # bars 3 and 4 stay empty
    # bars 1-2 differ at ticks 0, 6, 18, 36 (4 of 48); bars 2-3 at 6, 12; bars 3-4 nowhere
    assert M.groove_consistency(changed, bar, 0, 4) == pytest.approx(1 - (4 + 2 + 0) / 48 / 3)


def test_polyphony_counts_notes_sounding_while_any_sounds() -> None:
    chord = [Note(0, p, 12) for p in (60, 64, 67)]
    assert M.polyphony(chord) == pytest.approx(3.0)
    assert M.polyphony(melody([60, 62, 64])) == pytest.approx(1.0)
    gap = [Note(0, 60, 6), Note(0, 64, 6), Note(24, 60, 6)]  # the silent ticks do not count
    assert M.polyphony(gap) == pytest.approx(1.5)


def test_continuation_figures_report_key_agreement_with_the_prompt() -> None:
    prompt = melody([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60])
    same = M.continuation_figures(prompt, 48, 0, 3, M.estimate_key(prompt))
    far = M.continuation_figures([Note(n.start, n.pitch + 6, n.duration) for n in prompt], 48, 0, 3,
                                 M.estimate_key(prompt))
    assert same["key_agreement"] == 1.0 and far["key_agreement"] == 0.0
    assert same["key_related"] == 1.0 and far["key_related"] == 0.0
    assert same["notes_per_bar"] == pytest.approx(11 / 3)


def test_mean_figures_leave_nan_out() -> None:
    out = M.mean_figures([{"a": 1.0}, {"a": float("nan")}, {"a": 3.0}])
    assert out["a"] == (2.0, 1.0, 2)
