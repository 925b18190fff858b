"""Sampling on numpy logits: filters, masks, seeds, and the musical rules of the samplers."""

from __future__ import annotations

import dataclasses
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.errors import AntiphonError
from daemon.music.chords import ChordCodec, ChordVocabulary
from daemon.music.events import NoteEventCodec
from daemon.music.grid import Grid
from daemon.music.sampling import (
    ChordSampler,
    EventSampler,
    SamplingError,
    SamplingParams,
    apply_mask,
    apply_temperature,
    make_sampler,
    sample_event,
    sample_index,
    softmax,
    top_k_filter,
    top_p_filter,
)
from daemon.music.scales import SCALES, parse_key_root, parse_scale

CODEC = NoteEventCodec()
SHIFT, PITCH, DURATION, VELOCITY = range(4)
C_MAJOR = SamplingParams(key_root=0, scale=SCALES["major"])


def flat_logits(codec: NoteEventCodec = CODEC) -> list[np.ndarray]:
    return [np.zeros(v, np.float32) for v in codec.vocab_sizes]


def favouring(field_values: dict[int, int], strength: float = 20.0, codec: NoteEventCodec = CODEC) -> list[np.ndarray]:
    """Logits that strongly favour one class per given field and are flat elsewhere."""
    logits = flat_logits(codec)
    for f, value in field_values.items():
        logits[f][value] = strength
    return logits


# ---------------------------------------------------------------- pure functions


def test_temperature_divides_the_logits() -> None:
    assert np.allclose(apply_temperature(np.array([2.0, -4.0]), 2.0), [1.0, -2.0])
    with pytest.raises(SamplingError):
        apply_temperature(np.zeros(3), 0.0)


def test_low_temperature_picks_the_argmax_and_high_temperature_flattens() -> None:
    logits = np.array([1.0, 2.0, 0.5])
    rng = np.random.default_rng(0)
    assert {sample_index(logits, rng, temperature=0.05) for _ in range(200)} == {1}
    hot = [sample_index(logits, rng, temperature=100.0) for _ in range(3000)]
    assert np.allclose(np.bincount(hot, minlength=3) / 3000, 1 / 3, atol=0.04)


def test_top_k_keeps_exactly_the_k_largest() -> None:
    logits = np.array([0.1, 3.0, 2.0, -1.0, 2.5])
    kept = top_k_filter(logits, 2)
    assert np.isfinite(kept).tolist() == [False, True, False, False, True]
    assert top_k_filter(logits, 0) is logits and top_k_filter(logits, 9) is logits


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    logits = np.log(probs)
    assert np.isfinite(top_p_filter(logits, 0.5)).tolist() == [True, False, False, False]
    assert np.isfinite(top_p_filter(logits, 0.75)).tolist() == [True, True, False, False]
    assert np.isfinite(top_p_filter(logits, 0.81)).tolist() == [True, True, True, False]
    assert np.isfinite(top_p_filter(logits, 0.01)).tolist() == [True, False, False, False]
    assert top_p_filter(logits, 1.0) is logits


def test_mask_forbids_classes_and_an_empty_mask_is_ignored() -> None:
    logits = np.array([5.0, 0.0, 0.0])
    allowed = np.array([False, True, True])
    assert np.isneginf(apply_mask(logits, allowed)[0])
    rng = np.random.default_rng(1)
    assert 0 not in {sample_index(logits, rng, allowed=allowed) for _ in range(300)}
    assert sample_index(logits, rng, temperature=0.05, allowed=np.zeros(3, bool)) == 0


def test_softmax_of_an_all_masked_vector_is_an_error() -> None:
    with pytest.raises(SamplingError, match="every class is masked"):
        softmax(np.full(3, -np.inf))


def test_draws_follow_the_softmax() -> None:
    logits = np.array([0.0, 1.0, 2.0, -1.0])
    rng = np.random.default_rng(2)
    n = 20000
    counts = np.bincount([sample_index(logits, rng) for _ in range(n)], minlength=4) / n
    assert np.allclose(counts, softmax(logits), atol=0.015)


def test_same_seed_same_tokens_other_seed_other_tokens() -> None:
    def run(seed: int) -> list[list[int]]:
        sampler = EventSampler(CODEC, SamplingParams(top_p=0.9), seed)
        rng = np.random.default_rng(99)
        return [sampler.sample([rng.normal(size=v) for v in CODEC.vocab_sizes]).tolist() for _ in range(50)]

    assert run(7) == run(7)
    assert run(7) != run(8)


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize(("change", "field_name"), [
    ({"temperature": 0.0}, "temperature"),
    ({"temperature": float("nan")}, "temperature"),
    ({"top_k": -1}, "top_k"),
    ({"top_p": 0.0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"key_root": 12}, "key_root"),
    ({"scale": (0, 4, 13), "key_root": 0}, "scale"),
    ({"scale": (0, 4, 7)}, "key_root"),
    ({"pitch_low": 90, "pitch_high": 80}, "pitch_low"),
    ({"pitch_high": 128}, "pitch_high"),
    ({"max_polyphony": -1}, "max_polyphony"),
    ({"max_repeats": 1.5}, "max_repeats"),
    ({"density": 0.0}, "density"),
    ({"key_root": 0, "scale": (1,), "pitch_low": 60, "pitch_high": 60}, "range"),
])
def test_bad_parameters_say_which_and_why(change: dict[str, object], field_name: str) -> None:
    with pytest.raises(SamplingError, match=field_name) as caught:
        SamplingParams(**change)  # type: ignore[arg-type]
    assert isinstance(caught.value, AntiphonError)


def test_scale_is_normalised_and_names_parse() -> None:
    assert SamplingParams(key_root=2, scale=(7, 0, 2, 2)).scale == (0, 2, 7)
    assert parse_key_root("F#") == 6 and parse_key_root("Bb") == 10 and parse_key_root("c") == 0
    assert parse_scale("Dorian") == SCALES["dorian"]
    with pytest.raises(SamplingError, match="not a note name"):
        parse_key_root("H")
    with pytest.raises(SamplingError, match="unknown scale"):
        parse_scale("bebop-ish")


def test_allowed_pitches_combine_range_and_scale() -> None:
    params = SamplingParams(key_root=2, scale=SCALES["major"], pitch_low=60, pitch_high=72)
    allowed = np.flatnonzero(params.allowed_pitches()).tolist()
    assert allowed == [61, 62, 64, 66, 67, 69, 71]


# ---------------------------------------------------------------- note events


def test_scale_mask_keeps_notes_in_key_but_never_masks_rest() -> None:
    sampler = EventSampler(CODEC, dataclasses.replace(C_MAJOR, max_repeats=0), 3)
    tokens = [sampler.sample(favouring({SHIFT: 6})) for _ in range(400)]
    pitches = [int(t[PITCH]) for t in tokens if t[PITCH] < 128]
    assert pitches and all(p % 12 in SCALES["major"] for p in pitches)
    rest_sampler = EventSampler(CODEC, C_MAJOR, 3)
    rest = rest_sampler.sample(favouring({SHIFT: 48, PITCH: CODEC.REST}))
    assert rest.tolist() == [48, CODEC.REST, 0, 0]


def test_pitch_range_is_respected() -> None:
    sampler = EventSampler(CODEC, SamplingParams(pitch_low=50, pitch_high=55, max_repeats=0), 4)
    tokens = [sampler.sample(favouring({SHIFT: 3, PITCH: 90})) for _ in range(200)]
    assert all(50 <= t[PITCH] <= 55 or t[PITCH] == CODEC.REST for t in tokens)


def test_bos_is_never_sampled_and_notes_have_duration_and_velocity() -> None:
    sampler = EventSampler(CODEC, SamplingParams(), 5)
    tokens = [sampler.sample(favouring({SHIFT: 2, PITCH: CODEC.BOS, DURATION: 0, VELOCITY: 0})) for _ in range(100)]
    assert all(t[PITCH] != CODEC.BOS for t in tokens)
    assert all(t[DURATION] >= 1 and t[VELOCITY] >= 1 for t in tokens if t[PITCH] < 128)


def test_rest_with_zero_shift_is_not_sampled_while_notes_are_possible() -> None:
    sampler = EventSampler(CODEC, SamplingParams(), 6)
    tokens = [sampler.sample(favouring({SHIFT: 0, PITCH: CODEC.REST})) for _ in range(50)]
    assert all(t[PITCH] != CODEC.REST for t in tokens)


def _max_sounding(tokens: list[np.ndarray]) -> int:
    notes = CODEC.decode(np.stack(tokens))
    ticks = {n.start for n in notes}
    return max(sum(n.start <= t < n.end for n in notes) for t in ticks)


def test_polyphony_limit_holds_even_when_the_model_wants_big_chords() -> None:
    params = SamplingParams(max_polyphony=2, max_repeats=0)
    sampler = EventSampler(CODEC, params, 7)
    logits = favouring({SHIFT: 0, DURATION: 24}, strength=8.0)
    tokens = [sampler.sample(logits) for _ in range(300)]
    assert _max_sounding(tokens) <= 2
    assert sum(int(t[SHIFT]) for t in tokens) > 0, "time must move on when the limit is reached"


def test_monophony_gives_a_single_line() -> None:
    sampler = EventSampler(CODEC, SamplingParams(max_polyphony=1), 8)
    tokens = [sampler.sample(favouring({SHIFT: 0, DURATION: 100}, strength=5.0)) for _ in range(200)]
    assert _max_sounding(tokens) == 1


def test_without_a_limit_chords_happen() -> None:
    sampler = EventSampler(CODEC, SamplingParams(max_repeats=0), 9)
    tokens = [sampler.sample(favouring({SHIFT: 0, DURATION: 24}, strength=8.0)) for _ in range(50)]
    assert _max_sounding(tokens) > 2


def _longest_run(values: list[tuple[int, int]]) -> int:
    best = run = 1
    for a, b in pairwise(values):
        run = run + 1 if a == b else 1
        best = max(best, run)
    return best


def test_repetition_guard_breaks_a_stuck_note() -> None:
    stuck = favouring({SHIFT: 6, PITCH: 60, DURATION: 6}, strength=12.0)
    guarded = EventSampler(CODEC, SamplingParams(max_repeats=4), 10)
    events = [(int(t[SHIFT]), int(t[PITCH])) for t in (guarded.sample(stuck) for _ in range(200))]
    assert _longest_run(events) <= 4
    free = EventSampler(CODEC, SamplingParams(max_repeats=0), 10)
    events = [(int(t[SHIFT]), int(t[PITCH])) for t in (free.sample(stuck) for _ in range(200))]
    assert _longest_run(events) > 4


def test_repetition_guard_breaks_a_looping_figure() -> None:
    params = SamplingParams(max_repeats=3, temperature=0.05)
    sampler = EventSampler(CODEC, params, 11)
    figure = [60, 64, 67]
    events = []
    for i in range(60):
        token = sampler.sample(favouring({SHIFT: 3, PITCH: figure[i % 3], DURATION: 3}, strength=6.0))
        events.append(int(token[PITCH]))
    windows = ["".join(map(chr, events[i:i + 12])) for i in range(len(events) - 11)]
    figure_4x = "".join(map(chr, figure * 4))
    rotations = {figure_4x[k:] + figure_4x[:k] for k in range(3)}
    assert not any(w in rotations for w in windows), "a 3-note figure repeated 4 times in a row"


def test_prompt_counts_for_the_repetition_guard() -> None:
    sampler = EventSampler(CODEC, SamplingParams(max_repeats=2), 12)
    for _ in range(2):
        sampler.observe(np.array([6, 60, 6, 80]))
    token = sampler.sample(favouring({SHIFT: 6, PITCH: 60}, strength=12.0))
    assert not (token[SHIFT] == 6 and token[PITCH] == 60)


def test_density_moves_the_mean_shift() -> None:
    def mean_shift(density: float) -> float:
        sampler = EventSampler(CODEC, SamplingParams(density=density, max_repeats=0), 13)
        return float(np.mean([sampler.sample(flat_logits())[SHIFT] for _ in range(1500)]))

    assert mean_shift(4.0) < mean_shift(1.0) - 5 and mean_shift(0.25) > mean_shift(1.0) + 5


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), temperature=st.floats(0.05, 5.0), top_k=st.integers(0, 200),
       top_p=st.floats(0.01, 1.0), root=st.integers(0, 11), low=st.integers(0, 100), width=st.integers(12, 27),
       polyphony=st.integers(0, 4))
def test_any_sample_is_a_valid_token_within_the_masks(seed: int, temperature: float, top_k: int, top_p: float,
                                                      root: int, low: int, width: int, polyphony: int) -> None:
    params = SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p, key_root=root,
                            scale=SCALES["minor-pentatonic"], pitch_low=low, pitch_high=low + width,
                            max_polyphony=polyphony)
    rng = np.random.default_rng(seed)
    sampler = make_sampler(CODEC, params, rng)
    allowed = params.allowed_pitches()
    for _ in range(20):
        token = sampler.sample([rng.normal(scale=3.0, size=v) for v in CODEC.vocab_sizes])
        assert all(0 <= int(x) < v for x, v in zip(token, CODEC.vocab_sizes))
        assert token[PITCH] == CODEC.REST or allowed[token[PITCH]]


def test_sample_event_is_the_one_off_form() -> None:
    token = sample_event(favouring({SHIFT: 5, PITCH: 64}), CODEC, SamplingParams(temperature=0.05), rng=0)
    assert token[:2].tolist() == [5, 64]


# ---------------------------------------------------------------- chords


def _chord_codec() -> ChordCodec:
    chords = ((), (60, 64, 67), (61, 66, 70), (60, 64, 67, 71, 74, 77), (62, 65, 69))
    return ChordCodec(Grid(), ChordVocabulary(chords, (3, 6, 12)))


def test_chord_sampler_penalises_out_of_scale_chords() -> None:
    codec = _chord_codec()
    logits = [np.zeros(5), np.zeros(3)]
    free = ChordSampler(codec, SamplingParams(max_repeats=0), 14)
    keyed = ChordSampler(codec, dataclasses.replace(C_MAJOR, max_repeats=0), 14)
    free_hits = sum(free.sample(logits)[0] == 2 for _ in range(1000))
    keyed_hits = sum(keyed.sample(logits)[0] == 2 for _ in range(1000))
    assert free_hits > 100 and keyed_hits < 10  # (61, 66, 70) has three pitch classes outside C major


def test_chord_sampler_penalises_chords_over_the_polyphony_limit() -> None:
    codec = _chord_codec()
    sampler = ChordSampler(codec, SamplingParams(max_polyphony=3, max_repeats=0), 15)
    assert sum(sampler.sample([np.zeros(5), np.zeros(3)])[0] == 3 for _ in range(1000)) < 10


def test_chord_sampler_is_seeded_and_guards_repeats() -> None:
    codec = _chord_codec()
    stuck = [np.array([0, 12.0, 0, 0, 0]), np.array([0, 12.0, 0])]

    def run(seed: int) -> list[tuple[int, int]]:
        sampler = make_sampler(codec, SamplingParams(max_repeats=3), seed)
        return [tuple(int(x) for x in sampler.sample(stuck)) for _ in range(40)]  # type: ignore[misc]

    assert run(3) == run(3)
    assert _longest_run(run(3)) <= 3
    sampler = make_sampler(codec, SamplingParams(), 0)
    sampler.sample(stuck)
    assert sampler.now == 6


def test_follow_key_masks_answers_to_the_key_of_the_phrase() -> None:
    from daemon.music.notes import Note
    from daemon.music.sampling import resolve_key
    from daemon.music.scales import SCALES

    d_major = [Note(i * 12, p, 12) for i, p in enumerate([62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62])]
    params = resolve_key(SamplingParams(follow_key=True, pitch_low=40, pitch_high=90), d_major)
    assert (params.key_root, params.scale, params.follow_key) == (2, SCALES["major"], False)
    assert params.pitch_low == 40  # everything else is kept
    one_pitch = resolve_key(SamplingParams(follow_key=True), [Note(0, 60, 12), Note(12, 72, 12)])
    assert one_pitch.key_root is None and not one_pitch.follow_key  # no clear key: no mask
    fixed = SamplingParams(key_root=7, scale=SCALES["minor"])
    assert resolve_key(fixed, d_major) is fixed
    with pytest.raises(SamplingError, match="not both"):
        SamplingParams(follow_key=True, key_root=2)
