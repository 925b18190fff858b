"""The session memory: its counts, its backoff, the mix, and the continuator that keeps it across phrases."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.models.continuator import Continuator
from daemon.models.session_memory import Recall, SessionMemory, mix_log_probs
from daemon.music.events import NoteEventCodec
from daemon.music.notes import Note
from daemon.music.sampling import SamplingError, SamplingParams

CODEC = NoteEventCodec()
PITCH = 1  # field index


def note(pitch: int, shift: int = 6, duration: int = 6, velocity: int = 80) -> np.ndarray:
    return np.array([shift, pitch, duration, velocity], np.int64)


def rest() -> np.ndarray:
    return np.array([CODEC.max_shift_ticks, CODEC.REST, 0, 0], np.int64)


def uniform(size: int) -> np.ndarray:
    return np.full(size, 1.0 / size)


def remembered(*pitches: int, order: int = 2) -> SessionMemory:
    memory = SessionMemory(CODEC, order=order)
    memory.observe(CODEC.bos())
    for pitch in pitches:
        memory.observe(note(pitch))
    return memory


def test_counts_interpolate_witten_bell_from_the_model_up() -> None:
    memory = remembered(60, 62, 60, 64)  # unigram 60:2 62:1 64:1; after 60: 62 once, 64 once
    u = 1.0 / 130
    c = memory.cache_probs(PITCH, [60], uniform(130))
    unigram_62 = (1 + 3 * u) / (4 + 3)
    assert c[62] == pytest.approx((1 + 2 * unigram_62) / (2 + 2))
    assert c[60] == pytest.approx((0 + 2 * (2 + 3 * u) / 7) / 4)
    assert c[70] == pytest.approx(2 * (3 * u / 7) / 4)
    assert c.sum() == pytest.approx(1.0)


def test_an_unheard_context_backs_off_to_the_counts_alone_and_nothing_heard_to_the_model() -> None:
    memory = remembered(60, 62, 60, 64)
    base = np.random.default_rng(0).dirichlet(np.ones(130))
    unheard = memory.cache_probs(PITCH, [65], base)
    assert unheard == pytest.approx(memory.cache_probs(PITCH, [], base))
    assert unheard[60] == pytest.approx((2 + 3 * base[60]) / 7)
    empty = SessionMemory(CODEC)
    assert np.array_equal(empty.cache_probs(PITCH, [60, 62], base), base)


def test_the_mixed_distribution_sums_to_one_in_every_field_at_every_weight() -> None:
    memory = remembered(60, 62, 64, 62, 60, 62, 64, order=6)
    rng = np.random.default_rng(1)
    logits = [rng.normal(0, 3, v).astype(np.float32) for v in CODEC.vocab_sizes]
    for weight in (0.05, 0.3, 0.7, 1.0):
        mixed = memory.mix(logits, weight)
        for field, lp in enumerate(mixed):
            assert lp.shape == (CODEC.vocab_sizes[field],)
            assert np.isfinite(lp).all()
            assert np.exp(lp).sum() == pytest.approx(1.0)
    pitch = np.exp(memory.mix(logits, 0.5)[PITCH])
    model = np.exp(logits[PITCH] - logits[PITCH].max())
    model /= model.sum()
    assert pitch[60] > model[60] and pitch[62] > model[62], "what was played gains"


def test_weight_zero_or_an_empty_memory_leaves_the_logits_untouched() -> None:
    logits = [np.arange(v, dtype=np.float32) for v in CODEC.vocab_sizes]
    memory = remembered(60, 62)
    assert all(a is b for a, b in zip(memory.mix(logits, 0.0), logits))
    assert all(a is b for a, b in zip(SessionMemory(CODEC).mix(logits, 0.8), logits))
    log_p = np.log(uniform(130))
    assert np.allclose(mix_log_probs(log_p, np.eye(130)[3], 0.0), log_p)
    assert np.isfinite(mix_log_probs(log_p, np.eye(130)[3], 1.0)).all(), "a cache of zeros stays finite"


def test_a_rest_counts_its_shift_and_pitch_only_and_bos_ends_the_context() -> None:
    memory = SessionMemory(CODEC, order=2)
    for token in (CODEC.bos(), note(60), rest()):
        memory.observe(token)
    assert memory.context == [[CODEC.max_shift_ticks], [CODEC.REST], [6], [80]]
    duration = memory.cache_probs(2, [], uniform(193))
    assert duration[6] > 0.5 and duration[0] < 0.01, "a REST's duration 0 is not counted"
    memory.observe(CODEC.bos())
    assert memory.context == [[], [], [], []]
    memory.observe(note(67))
    after_rest = memory.cache_probs(PITCH, [CODEC.REST], uniform(130))
    assert after_rest[67] == pytest.approx(memory.cache_probs(PITCH, [], uniform(130))[67]), \
        "no n-gram spans two phrases"


def test_the_oldest_events_are_forgotten_first_and_forget_clears_all() -> None:
    memory = SessionMemory(CODEC, order=2, max_events=3)
    for pitch in (50, 60, 62, 64, 66):
        memory.observe(note(pitch))
    assert memory.events == 3  # 62, 64 and 66, each with the n-grams that end on it
    c = memory.cache_probs(PITCH, [], uniform(130))
    assert c[60] == pytest.approx(3 / 6 / 130) and c[62] == pytest.approx((1 + 3 / 130) / 6)
    assert np.array_equal(memory.cache_probs(PITCH, [50], uniform(130)), c), "the pair 50 -> 60 went with 60"
    assert memory.cache_probs(PITCH, [60], uniform(130))[62] > c[62], "60 -> 62 ends on 62, still remembered"
    memory.forget()
    assert memory.events == 0 and memory.context == [[], [], [], []]
    with pytest.raises(ValueError):
        SessionMemory(CODEC, order=0)


def test_a_recall_follows_the_answer_without_remembering_it() -> None:
    memory = remembered(60, 62, 64)
    recall = Recall(memory, 0.5)
    recall.push(note(70))
    assert recall.context[PITCH] == [70] and memory.context[PITCH] == [64]
    assert memory.events == 3


def test_memory_is_a_sampling_parameter_from_0_to_1() -> None:
    assert SamplingParams().memory == 0.0
    assert SamplingParams(memory=0.3).memory == 0.3
    for bad in (-0.1, 1.5, True, "0.3"):
        with pytest.raises(SamplingError, match="memory must be a number 0-1"):
            SamplingParams(memory=bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------ in the continuator


class FlatModel:
    """A note-events step model with no opinion on pitch: shift 6, duration 6, velocity 80, any pitch."""

    kind = "lstm"
    codec = CODEC

    def initial_state(self) -> int:
        return 0

    def step(self, token: np.ndarray, state: int) -> tuple[list[np.ndarray], int]:
        logits = [np.zeros(v, np.float32) for v in CODEC.vocab_sizes]
        logits[0][6] = logits[2][6] = logits[3][80] = 30.0
        logits[1][CODEC.REST] = -30.0
        return logits, state + 1


RIFF = (60, 64, 67, 72)


def phrase(origin: int, repeats: int = 3) -> list[Note]:
    pitches = RIFF * repeats
    return [Note(origin + 6 * i, p, 6, 80) for i, p in enumerate(pitches)]


def answer_pitches(continuator: Continuator, memory: float, seed: int = 3) -> list[int]:
    params = SamplingParams(memory=memory, max_repeats=0)
    return [n.pitch for step in continuator.answer_steps(96, params, seed) for n in step]


def test_the_memory_outlives_phrases_and_answers_lean_on_it_by_its_weight() -> None:
    continuator = Continuator(FlatModel())
    continuator.feed_notes(phrase(0))
    continuator.flush()
    continuator.reset(origin=192)  # the next phrase starts the model afresh; the memory stays
    assert continuator.memory.events == 12
    continuator.feed_notes(phrase(192, repeats=1))
    continuator.flush()
    leaning = answer_pitches(continuator, 0.9)
    assert len(leaning) == 16
    assert sum(p in RIFF for p in leaning) >= 14, leaning
    assert sum(p in RIFF for p in answer_pitches(continuator, 0.0)) <= 3
    assert continuator.memory.events == 16, "answers are not remembered"
    continuator.forget()
    assert continuator.memory.events == 0


def test_weight_zero_answers_exactly_as_without_a_memory() -> None:
    seasoned = Continuator(FlatModel())
    seasoned.feed_notes(phrase(0))
    seasoned.reset(origin=192)
    seasoned.feed_notes(phrase(192, repeats=1))
    fresh = Continuator(FlatModel())
    fresh.reset(origin=192)
    fresh.feed_notes(phrase(192, repeats=1))
    assert answer_pitches(seasoned, 0.0) == answer_pitches(fresh, 0.0)
    assert answer_pitches(seasoned, 0.5) != answer_pitches(fresh, 0.5)
    generated = seasoned.generate(n_bars=1, params=SamplingParams(memory=0.9, max_repeats=0), seed=1)
    assert sum(n.pitch in RIFF for n in generated) >= len(generated) - 2
