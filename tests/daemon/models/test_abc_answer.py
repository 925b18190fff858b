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
