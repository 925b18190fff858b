"""An ABC answer to a played phrase, with the bundled folk-abc model."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.models.abc import load_abc
from daemon.models.abc_answer import answer_phrase, phrase_prompt
from daemon.music.abc import AbcError, parse_tune
from daemon.music.grid import Grid
from daemon.music.notes import Note
from daemon.offline.abc_tunes import DEFAULT_ABC_MODEL

GRID = Grid(12, 6, 8)
# A D-major jig phrase of two bars, starting on the second bar line of the song.
PHRASE = [Note(36 + i * 6, p, 6) for i, p in enumerate([62, 66, 69, 69, 66, 62, 67, 71, 67, 66, 64, 62])]


def test_the_phrase_is_written_from_its_bar_line_in_its_key():
    prompt, key, bars = phrase_prompt(PHRASE, GRID)
    assert key.name() == "D" and bars == 2
    assert prompt.startswith("M:6/8\nL:1/8\nK:D\n")
    back = parse_tune(prompt)
    assert [(n.pitch, n.start * 48) for n in back.notes] == [(n.pitch, n.start - 36) for n in PHRASE]


def test_the_bundled_model_answers_in_whole_bars_after_the_phrase():
    model = load_abc(DEFAULT_ABC_MODEL)
    answer = answer_phrase(model, PHRASE, GRID, answer_bars=2, seed=5, channel=1)
    assert answer.notes and all(0 <= n.start < 2 * GRID.ticks_per_bar for n in answer.notes)
    assert all(n.end <= 2 * GRID.ticks_per_bar and n.channel == 1 for n in answer.notes)
    scale = answer.key.scale_pitch_classes()
    in_key = sum(n.pitch % 12 in scale for n in answer.notes) / len(answer.notes)
    assert in_key >= 0.75


def test_no_phrase_is_a_clear_error():
    with pytest.raises(AbcError, match="no phrase"):
        phrase_prompt([], GRID)


def test_the_live_responder_answers_a_played_phrase_with_the_abc_model():
    from daemon.live.respond import Responder
    from daemon.live.transport import pulse_grid
    from daemon.music.sampling import SamplingParams

    grid = pulse_grid(6, 8)  # 24 ticks a beat, 72 a bar
    responder = Responder(load_abc(DEFAULT_ABC_MODEL), prompt="top")
    for i, pitch in enumerate([62, 66, 69, 69, 66, 62, 67, 71, 67, 66, 64, 62]):
        responder.note_on(72 + i * 12.0, 0, pitch, 90, grid)
        responder.note_off(72 + i * 12.0 + 11, 0, pitch)
    answer = responder.prepare("a1", 216.0, "bar", 2, grid, SamplingParams(), np.random.default_rng(3), 1)
    assert answer.start_tick == 216
    made = []
    while (step := responder.advance(4)) is not None:
        made += step[1]
        if step[0].done:
            break
    assert made and all(216 <= n.start < 216 + 144 and n.end <= 216 + 144 and n.channel == 1 for n in made)
    assert made[0].start == 216
    assert sum(n.pitch % 12 in {2, 4, 6, 7, 9, 11, 1} for n in made) / len(made) >= 0.75


# ------------------------------------------------------------------ session memory


def test_a_memory_of_characters_counts_one_field_and_begin_starts_a_context() -> None:
    from daemon.models.session_memory import Characters, SessionMemory

    memory = SessionMemory(Characters(5), order=3)
    memory.begin()
    for token in (1, 2, 3, 1, 2):
        memory.observe((token,))
    base = np.full(5, 0.2)
    after_12 = memory.cache_probs(0, [1, 2], base)
    assert after_12.argmax() == 3 and np.isclose(after_12.sum(), 1.0)
    memory.begin()
    assert memory.context == [[]]
    assert memory.events == 5


def test_the_continuator_remembers_each_phrase_body_keeps_it_across_phrases_and_forgets_on_request() -> None:
    from daemon.models.abc_answer import AbcContinuator
    from daemon.music.abc_text import is_field_line
    from daemon.music.sampling import SamplingParams

    model = load_abc(DEFAULT_ABC_MODEL)
    continuator = AbcContinuator(model)
    continuator.feed_notes(PHRASE)
    list(continuator.answer_steps(GRID.ticks_per_bar, SamplingParams(memory=0.3), seed=1, grid=GRID))
    prompt, _, _ = phrase_prompt(PHRASE, GRID)
    body = "".join(line for line in prompt.splitlines(keepends=True) if not is_field_line(line))
    assert continuator.memory.events == len(body) > 0  # the phrase's body, not its header
    continuator.reset(0)  # a new phrase keeps the memory
    continuator.feed_notes(PHRASE)
    list(continuator.answer_steps(GRID.ticks_per_bar, SamplingParams(memory=0.3), seed=1, grid=GRID))
    assert continuator.memory.events == 2 * len(body)
    continuator.forget()
    assert continuator.memory.events == 0
    from daemon.live.respond import Responder

    responder = Responder(model, prompt="top")
    responder.continuator.memory.observe((1,))
    responder.forget()  # /antiphon/forget reaches the ABC model's memory
    assert responder.continuator.memory.events == 0


def test_memory_zero_answers_exactly_as_without_a_memory() -> None:
    from daemon.models.session_memory import Characters, SessionMemory

    model = load_abc(DEFAULT_ABC_MODEL)
    memory = SessionMemory(Characters(len(model.vocabulary)))
    for _ in range(3):
        answer_phrase(model, PHRASE, GRID, 2, seed=9, memory=memory, weight=0.5)
    plain = answer_phrase(model, PHRASE, GRID, 2, seed=4)
    remembered = answer_phrase(model, PHRASE, GRID, 2, seed=4, memory=memory, weight=0.0)
    assert remembered.text == plain.text


def test_with_memory_the_answers_take_up_the_players_own_turns(report) -> None:
    """A phrase played again and again: with memory 0.6 the bundled model's answers share more of
    its 8-character runs (as written in ABC) than with memory 0, over the same 12 seeds."""
    from daemon.models.session_memory import Characters, SessionMemory

    model = load_abc(DEFAULT_ABC_MODEL)
    # an unusual turn the model would not write by itself: a falling D-major arpeggio with a leap back
    played = [Note(36 + i * 6, p, 6) for i, p in enumerate([74, 69, 66, 62, 78, 74, 71, 67, 79, 76, 73, 69])]
    prompt, _, _ = phrase_prompt(played, GRID)
    body = prompt.splitlines()[-1]
    runs = {body[i:i + 8] for i in range(len(body) - 7)}

    def shared(weight: float) -> int:
        total = 0
        for seed in range(12):
            memory = SessionMemory(Characters(len(model.vocabulary)))
            for _ in range(4):  # the player's phrase, heard four times before
                answer_phrase(model, played, GRID, 2, seed=100 + seed, memory=memory, weight=0.0)
            answer = answer_phrase(model, played, GRID, 2, seed=seed, memory=memory, weight=weight)
            text = answer.text[len(answer.prompt):]
            total += sum(text[i:i + 8] in runs for i in range(len(text) - 7))
        return total

    without, with_memory = shared(0.0), shared(0.6)
    report(f"ABC answers to a phrase heard 4 times before, 12 seeds: 8-character runs of the phrase's ABC in "
           f"the answers {without} with memory 0, {with_memory} with memory 0.6")
    assert with_memory > 2 * max(1, without), (without, with_memory)
