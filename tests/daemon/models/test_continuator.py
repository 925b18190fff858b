"""Continuing a phrase: the window rule, what the model is fed, state kept warm, real ONNX runs."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from daemon.errors import RepresentationError
from daemon.models.continuator import Continuator, continuation_window, continue_notes, prompt_origin
from daemon.music.grid import Grid
from daemon.music.notes import Note
from daemon.music.sampling import SamplingParams
from daemon.music.scales import SCALES
from tests.daemon.fake_models import FakeModel

GRID = Grid(12, 4, 4)  # 48 ticks a bar
WALTZ = Grid(12, 3, 4)  # 36 ticks a bar


def scale_prompt(start: int = 0, n: int = 8, step: int = 6) -> list[Note]:
    pitches = [60, 62, 64, 65, 67, 69, 71, 72]
    return [Note(start + i * step, pitches[i % 8], step, 80, 3) for i in range(n)]


# ---------------------------------------------------------------- the window rule


@pytest.mark.parametrize(("prompt_end", "n_bars", "grid", "align", "window"), [
    (168, 4, GRID, "bar", (168, 384)),  # ends at beat 3 of bar 4: rest of bar 4, then bars 5-8
    (192, 4, GRID, "bar", (192, 384)),  # ends on the bar line
    (194, 4, GRID, "bar", (194, 384)),  # 2 ticks late (under a sixteenth): still counts as on it
    (196, 1, GRID, "bar", (196, 288)),  # a beat late: the next bar line
    (168, 1, GRID, "beat", (168, 216)),
    (50, 2, WALTZ, "bar", (50, 144)),
    (0, 2, GRID, "bar", (0, 96)),
])
def test_continuation_window_rule(prompt_end: int, n_bars: int, grid: Grid, align: Any,
                                  window: tuple[int, int]) -> None:
    assert continuation_window(prompt_end, n_bars, grid, align) == window


def test_window_needs_a_bar() -> None:
    with pytest.raises(RepresentationError, match="at least 1"):
        continuation_window(10, 0, GRID)


def test_prompt_origin_is_the_bar_line_before_the_first_note() -> None:
    assert prompt_origin([Note(100, 60, 3), Note(130, 62, 3)], GRID) == 96
    assert prompt_origin([], GRID) == 0


# ---------------------------------------------------------------- fed tokens, output shape


def test_model_is_fed_bos_then_the_prompt_from_its_bar_line() -> None:
    model = FakeModel()
    prompt = [Note(100, 60, 6), Note(100, 64, 6), Note(106, 67, 3)]
    continue_notes(model, prompt, 1, SamplingParams(), seed=0, grid=GRID)
    assert model.fed[:4] == [[0, 129, 0, 0], [4, 60, 6, 80], [0, 64, 6, 80], [6, 67, 3, 80]]


def test_continuation_is_in_the_prompts_frame_inside_the_window_on_its_channel() -> None:
    model = FakeModel(shift=6, pitch=62, duration=6)
    prompt = scale_prompt(start=100, n=6)  # onsets 100..130, ends at 136
    notes = continue_notes(model, prompt, 2, SamplingParams(max_repeats=0), seed=0, grid=GRID)
    assert notes == sorted(notes)
    start, end = continuation_window(136, 2, GRID)
    assert (start, end) == (136, 240)
    assert all(start <= n.start and n.end <= end for n in notes)
    assert [n.start for n in notes] == list(range(136, end, 6))
    assert {n.channel for n in notes} == {3} and {n.pitch for n in notes} == {62}


def test_notes_are_clipped_at_the_window_end() -> None:
    model = FakeModel(shift=47, pitch=62, duration=100)
    notes = continue_notes(model, [Note(0, 60, 6)], 2, SamplingParams(max_repeats=0), seed=0, grid=GRID)
    assert notes[0] == Note(47, 62, 144 - 47, 90, 0)  # window [6, 144): rest of bar 1, bars 2-3


def test_notes_sampled_under_the_prompt_are_not_returned() -> None:
    model = FakeModel(shift=1, pitch=70, duration=1)
    prompt = [Note(0, 60, 24)]  # held for two beats; the model plays right away
    notes = continue_notes(model, prompt, 1, SamplingParams(max_repeats=0), seed=0, grid=GRID)
    assert notes and min(n.start for n in notes) == 24


def test_an_empty_prompt_starts_from_nothing() -> None:
    notes = continue_notes(FakeModel(), [], 1, SamplingParams(max_repeats=0), seed=0, grid=GRID)
    assert notes and notes[0].start == 6 and max(n.end for n in notes) <= 48


def test_a_grid_of_another_resolution_is_refused() -> None:
    with pytest.raises(RepresentationError, match="ticks_per_beat=12"):
        continue_notes(FakeModel(), scale_prompt(), 1, grid=Grid(24))


def test_a_model_stuck_on_zero_shifts_still_ends() -> None:
    model = FakeModel(shift=0, pitch=60, duration=1)
    notes = continue_notes(model, scale_prompt(), 1, SamplingParams(max_repeats=0), seed=0, grid=GRID)
    assert len(model.fed) < 2000 and len(notes) < 200


# ---------------------------------------------------------------- the continuator


def test_feeding_one_note_at_a_time_equals_feeding_the_phrase() -> None:
    prompt = [Note(0, 60, 6), Note(0, 64, 6), Note(6, 62, 6), Note(60, 65, 12)]
    one_by_one = FakeModel()
    live = Continuator(one_by_one)
    for note in [prompt[1], prompt[0], prompt[2], prompt[3]]:  # a chord arrives top note first
        live.feed(note)
    live.flush()
    at_once = FakeModel()
    batch = Continuator(at_once)
    batch.feed_notes(prompt)
    batch.flush()
    assert one_by_one.fed == at_once.fed
    assert one_by_one.fed == [[0, 129, 0, 0], [0, 60, 6, 80], [0, 64, 6, 80], [6, 62, 6, 80], [48, 128, 0, 0],
                              [6, 65, 12, 80]]


def test_state_is_warm_before_the_phrase_ends() -> None:
    model = FakeModel()
    live = Continuator(model)
    live.feed(Note(0, 60, 6))
    live.feed(Note(6, 62, 6))
    assert live.events_fed == 2, "BOS and the first note are in; the second waits for its onset to close"


def test_generate_leaves_the_warm_state_alone() -> None:
    model = FakeModel()
    live = Continuator(model)
    live.feed_notes(scale_prompt())
    first = live.generate(n_bars=1, seed=1, grid=GRID)
    state, events = live.state, live.events_fed
    second = live.generate(n_bars=1, seed=1, grid=GRID)
    assert first == second and live.state == state and live.events_fed == events


def test_a_note_from_the_past_is_dropped_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    live = Continuator(FakeModel())
    live.feed(Note(24, 60, 6))
    live.feed(Note(30, 62, 6))
    live.feed(Note(12, 64, 6))
    assert "dropped a note" in caplog.text


# ---------------------------------------------------------------- with a real exported model


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.export.tiny_lstm import cached_tiny_model

    return cached_tiny_model(tmp_path_factory, "events")[1]


@pytest.fixture(scope="module")
def tiny_chord_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.export.tiny_lstm import cached_tiny_model

    return cached_tiny_model(tmp_path_factory, "chords")[1]


def test_onnx_continuation_is_reproducible_and_stays_in_the_window(tiny_onnx: Path) -> None:
    from daemon.models.lstm import load_lstm

    model = load_lstm(tiny_onnx)
    prompt = scale_prompt(n=16)
    params = SamplingParams(temperature=0.9, top_p=0.95)
    a = continue_notes(model, prompt, 4, params, seed=5, grid=GRID)
    b = continue_notes(model, prompt, 4, params, seed=5, grid=GRID)
    c = continue_notes(model, prompt, 4, params, seed=6, grid=GRID)
    assert a == b and a != c
    start, end = continuation_window(max(n.end for n in prompt), 4, GRID)
    assert all(start <= n.start < end and n.end <= end for n in a + c)


def test_onnx_continuation_obeys_key_range_and_polyphony(tiny_onnx: Path) -> None:
    from daemon.models.lstm import load_lstm

    model = load_lstm(tiny_onnx)
    params = SamplingParams(key_root=2, scale=SCALES["dorian"], pitch_low=50, pitch_high=74, max_polyphony=1,
                            density=3.0)
    notes = []
    for seed in range(4):
        notes = continue_notes(model, scale_prompt(), 4, params, seed=seed, grid=GRID)
        assert all(50 <= n.pitch <= 74 and (n.pitch - 2) % 12 in SCALES["dorian"] for n in notes)
        assert all(a.end <= b.start for a, b in pairwise(notes)), "max_polyphony=1 gives one line"


@pytest.mark.parametrize("n_notes", [1, 500])
def test_onnx_continuation_of_one_note_and_of_500(tiny_onnx: Path, n_notes: int) -> None:
    from daemon.models.lstm import load_lstm

    prompt = [Note(i * 3, 48 + (i * 7) % 36, 3) for i in range(n_notes)]
    notes = continue_notes(load_lstm(tiny_onnx), prompt, 2, SamplingParams(), seed=0, grid=GRID)
    end = max(n.end for n in prompt)
    assert all(n.start >= end for n in notes)


def test_chord_model_continues_with_chords(tiny_chord_onnx: Path) -> None:
    from daemon.models.lstm import load_lstm

    model = load_lstm(tiny_chord_onnx)
    prompt = [Note(0, 60, 12), Note(0, 64, 12), Note(0, 67, 12), Note(12, 62, 12), Note(12, 65, 12)]
    notes = continue_notes(model, prompt, 2, SamplingParams(), seed=1, grid=GRID)
    start, end = continuation_window(24, 2, GRID)
    assert notes and all(start <= n.start < end and n.end <= end for n in notes)
    with pytest.raises(RepresentationError, match="needs at least one note"):
        continue_notes(model, [], 1, grid=GRID)
