"""Phrase detection, feeding as the phrase is played, and the answer's place and length."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from daemon.errors import RepresentationError
from daemon.live.respond import Heard, Responder, answer_start, phrase_end
from daemon.live.transport import pulse_grid
from daemon.models.continuator import Continuator
from daemon.music.chords import ChordCodec, ChordVocabulary
from daemon.music.events import NoteEventCodec
from daemon.music.grid import Grid
from daemon.music.notes import Note
from tests.daemon.fake_models import FakeModel

GRID = pulse_grid(4, 4)  # 24 ticks a beat, 96 a bar
WALTZ = pulse_grid(3, 4)  # 72 ticks a bar


@pytest.mark.parametrize(("silence", "mode", "beats", "grid", "end"), [
    (100.0, "silence", 1.0, GRID, 124.0),
    (100.0, "bar", 1.0, GRID, 192.0),
    (192.0, "bar", 1.0, GRID, 192.0),  # silent on the bar line itself
    (100.0, "silence-then-bar", 1.0, GRID, 192.0),
    (170.0, "silence-then-bar", 1.0, GRID, 288.0),  # a beat of silence runs past bar 2's line
    (100.0, "bar", 1.0, WALTZ, 144.0),
])
def test_where_a_phrase_ends(silence: float, mode: str, beats: float, grid: Grid, end: float) -> None:
    assert phrase_end(silence, mode, beats, grid) == end


@pytest.mark.parametrize(("end", "start", "expected"), [
    (124.0, "step", 124), (124.5, "step", 126), (124.0, "beat", 144), (120.0, "beat", 120),
    (124.0, "bar", 192), (119.9999999, "beat", 120),
])
def test_where_the_answer_starts(end: float, start: str, expected: int) -> None:
    assert answer_start(end, start, GRID, ticks_per_step=2) == expected


def test_notes_are_fed_as_they_end_in_onset_order_while_the_phrase_is_played() -> None:
    model = FakeModel()
    responder = Responder(model)
    assert responder.note_on(0.0, 0, 60, 90, GRID) is Heard.NEW_PHRASE
    responder.note_on(12.0, 0, 64, 90, GRID)  # overlaps 60
    responder.note_off(20.0, 0, 64)  # 64 ends first but started later: it waits for 60
    assert responder.continuator.events_fed == 1  # BOS only
    assert responder.note_off(30.0, 0, 60), "the silence begins when the last note ends"
    assert responder.silence_tick == 30.0
    responder.continuator.flush()
    assert _fed_pitches(model) == [60, 64]


def test_the_top_line_prompt_feeds_the_highest_note_of_each_onset() -> None:
    model = FakeModel()
    responder = Responder(model, prompt="top")
    for pitch in (60, 64, 67):
        responder.note_on(0.0, 0, pitch, 90, GRID)
    for pitch in (60, 64, 67):
        responder.note_off(24.0, 0, pitch)
    responder.continuator.flush()
    assert _fed_pitches(model) == [67]


def test_a_note_off_without_its_note_on_is_ignored_and_the_pedal_holds_notes() -> None:
    responder = Responder(FakeModel())
    assert not responder.note_off(5.0, 0, 70)
    responder.pedal(0.0, 0, down=True)
    responder.note_on(1.0, 0, 60, 90, GRID)
    assert not responder.note_off(10.0, 0, 60)
    assert responder.sounding
    assert responder.pedal(50.0, 0, down=False)
    assert responder.silence_tick == 50.0


def test_a_note_after_the_silence_began_takes_the_phrase_up_again() -> None:
    responder = Responder(FakeModel())
    responder.note_on(0.0, 0, 60, 90, GRID)
    responder.note_off(10.0, 0, 60)
    responder.prepare("a1", 34.0, "beat", 1, GRID, _params(), np.random.default_rng(0), 1)
    assert responder.note_on(30.0, 0, 62, 90, GRID) is Heard.RESUMED
    assert responder.discard() is not None and responder.pending is None


def test_the_answer_starts_with_a_note_at_its_start_and_lasts_its_bars() -> None:
    responder = Responder(FakeModel(shift=6, duration=30))  # wants a note every half beat, 2.5 beats long
    responder.note_on(0.0, 0, 60, 90, GRID)
    responder.note_off(20.0, 0, 60)
    answer = responder.prepare("a1", 44.0, "beat", 1, GRID, _params(), np.random.default_rng(0), 3)
    assert answer.start_tick == 48
    made = []
    while (step := responder.advance(8)) is not None:
        made.extend(step[1])
    assert made[0].start == 48 and all(n.channel == 3 for n in made)
    assert all(48 <= n.start and n.end <= 48 + 96 for n in made)
    assert len(made) == 8  # a note every half beat for a bar
    assert answer.done and answer.notes_made == 8
    info = responder.commit()
    assert info.n_notes == 1 and responder.answers == [answer] and not responder.in_phrase


def test_a_chord_model_answers_with_chords_and_cannot_answer_nothing() -> None:
    vocab = ChordVocabulary(((), (60, 64, 67), (62, 65, 69)), (12, 24))

    class ChordModel:
        codec = ChordCodec(Grid(12), vocab)

        def initial_state(self) -> int:
            return 0

        def step(self, token: Any, state: int) -> tuple[list[np.ndarray], int]:
            chord = np.full(3, -10.0, np.float32)
            chord[1 + state % 2] = 20.0
            duration = np.array([20.0, -10.0], np.float32)
            return [chord, duration], state + 1

    continuator = Continuator(ChordModel())
    with pytest.raises(RepresentationError, match="needs at least one note"):
        continuator.answer_steps(48)
    continuator.feed(Note(0, 60, 12))
    notes = [n for step in continuator.answer_steps(48, channel=2) for n in step]
    assert notes and notes[0].start == 0 and all(n.end <= 48 and n.channel == 2 for n in notes)
    assert {n.pitch for n in notes} <= {60, 64, 67, 62, 65, 69}


def _fed_pitches(model: FakeModel) -> list[int]:
    """Pitches fed since the last start-of-sequence token."""
    last_bos = max(i for i, token in enumerate(model.fed) if token[1] == NoteEventCodec.BOS)
    return [token[1] for token in model.fed[last_bos + 1:]]


def _params() -> Any:
    from daemon.music.sampling import SamplingParams

    return SamplingParams(max_repeats=0)
