"""The phrase VAE's live answer: encode the phrase, decode between the last two codes, fall back on bad phrases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from daemon.errors import RepresentationError
from daemon.live.respond import Responder
from daemon.models.vae import VaeModel, load_vae, slerp
from daemon.models.vae_answer import VaeContinuator
from daemon.music.grid import Grid
from daemon.music.notes import Note
from daemon.music.phrases import last_phrase
from daemon.music.sampling import SamplingParams

BUNDLED = Path(__file__).resolve().parents[3] / "presets" / "folk-vae.onnx"
GRID = Grid(12, 4, 4)
REEL = [62, 66, 69, 66, 74, 69, 66, 69, 67, 71, 74, 71, 69, 66, 64, 62]  # two bars of eighths in D
AIR = [57, 60, 64, 67, 69, 67, 64, 60]  # two bars of quarters in A minor


@pytest.fixture(scope="module")
def model() -> VaeModel:
    return load_vae(BUNDLED)


class Spy:
    """Wraps a model's decode to record the codes it is given."""

    def __init__(self, model: VaeModel) -> None:
        self.model = model
        self.codes: list[np.ndarray] = []

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def decode(self, z, params=None, rng=None, channel=0):
        self.codes.append(np.asarray(z, np.float32).copy())
        return self.model.decode(z, params, rng, channel)


def play(continuator: VaeContinuator, pitches: list[int], origin: int, step: int, channel: int = 0) -> None:
    continuator.reset(origin)
    continuator.feed_notes([Note(origin + i * step, p, step, 90, channel) for i, p in enumerate(pitches)])


def answer(continuator: VaeContinuator, params: SamplingParams, seed: int = 0, length: int = 96) -> list[Note]:
    return [n for part in continuator.answer_steps(length, params, np.random.default_rng(seed), 1, GRID) for n in part]


def test_the_answer_is_decoded_from_the_phrase_then_between_the_last_two_phrases(model: VaeModel) -> None:
    spy = Spy(model)
    continuator = VaeContinuator(spy)  # type: ignore[arg-type]
    play(continuator, REEL, origin=0, step=6)
    notes = answer(continuator, SamplingParams(temperature=0.8, pitch_low=55, pitch_high=80, morph=0.5))
    first = model.encode([Note(i * 6, p, 6, 90) for i, p in enumerate(REEL)])[0]
    assert np.allclose(spy.codes[-1], first, atol=1e-5)  # no previous phrase: its own code
    assert notes and all(55 <= n.pitch <= 80 and 0 <= n.start and n.end <= 96 and n.channel == 1 for n in notes)

    play(continuator, AIR, origin=192, step=12)
    second = model.encode([Note(i * 12, p, 12, 90) for i, p in enumerate(AIR)])[0]
    assert not np.allclose(first, second, atol=1e-2)
    for morph in (0.0, 0.5, 1.0):
        answer(continuator, SamplingParams(morph=morph))
        assert np.allclose(spy.codes[-1], slerp(first, second, morph), atol=1e-4), morph
    assert np.allclose(continuator.previous, first) and np.allclose(continuator.current, second)
    assert continuator.fallbacks == 0


def test_a_phrase_longer_than_two_bars_is_read_by_its_last_two(model: VaeModel) -> None:
    continuator = VaeContinuator(model)
    long = REEL * 3  # six bars of eighths
    play(continuator, long, origin=48, step=6)
    answer(continuator, SamplingParams())
    notes = [Note(i * 6, p, 6, 90) for i, p in enumerate(long)]
    assert np.allclose(continuator.current, model.encode(last_phrase(notes, 48, 96)[1])[0], atol=1e-5)


def test_a_longer_answer_decodes_the_code_again_and_stays_inside_its_length(model: VaeModel) -> None:
    continuator = VaeContinuator(model)
    play(continuator, REEL, origin=0, step=6)
    notes = answer(continuator, SamplingParams(), length=4 * 48)
    assert any(n.start >= 96 for n in notes) and all(n.end <= 4 * 48 for n in notes)
    with pytest.raises(RepresentationError):
        continuator.answer_steps(0, SamplingParams())


@pytest.mark.parametrize("phrase", [[], [Note(0, 62, 12)], [Note(i * 6, 36 + i % 3, 6, 100, 9) for i in range(16)]],
                         ids=["empty", "one note", "drums only"])
def test_a_phrase_the_vae_cannot_read_is_answered_from_the_previous_code_or_the_prior(
        model: VaeModel, phrase: list[Note]) -> None:
    spy = Spy(model)
    continuator = VaeContinuator(spy)  # type: ignore[arg-type]
    continuator.reset(0)
    continuator.feed_notes(phrase)
    answer(continuator, SamplingParams(), seed=3)  # no exception: a draw of the prior
    assert np.allclose(spy.codes[-1], model.prior(np.random.default_rng(3))[0])
    assert continuator.fallbacks == 1 and continuator.previous is None
    play(continuator, REEL, origin=96, step=6)
    answer(continuator, SamplingParams())
    good = continuator.current.copy()
    continuator.reset(288)
    continuator.feed_notes([Note(288 + n.start, n.pitch, n.duration, n.velocity, n.channel) for n in phrase])
    answer(continuator, SamplingParams(morph=0.3))
    assert continuator.fallbacks == 2
    assert np.allclose(spy.codes[-1], good, atol=1e-5)  # the previous code, at any morph


def test_the_responder_answers_with_the_vae_when_the_model_is_one(model: VaeModel) -> None:
    responder = Responder(model, prompt="top")
    assert isinstance(responder.continuator, VaeContinuator)
    grid = Grid(24, 4, 4)
    for i, pitch in enumerate(REEL):
        responder.note_on(96 + i * 12, 0, pitch, 90, grid)
        responder.note_off(96 + i * 12 + 11, 0, pitch)
    assert responder.silence_tick is not None
    prepared = responder.prepare("answer", 96 + 16 * 12 + 24, "bar", 2, grid, SamplingParams(morph=0.5),
                                 np.random.default_rng(0), 2)
    assert prepared.start_tick == 384
    made = []
    while (step := responder.advance(8)) is not None:
        made += step[1]
    assert made and all(384 <= n.start and n.end <= 384 + 192 and n.channel == 2 for n in made)


def test_the_session_memory_moves_the_code_toward_the_mean_of_the_phrases_played(model: VaeModel) -> None:
    spy = Spy(model)
    continuator = VaeContinuator(spy)  # type: ignore[arg-type]
    reel = model.encode([Note(i * 6, p, 6, 90) for i, p in enumerate(REEL)])[0]
    air = model.encode([Note(i * 12, p, 12, 90) for i, p in enumerate(AIR)])[0]
    play(continuator, REEL, origin=0, step=6)
    answer(continuator, SamplingParams(memory=0.5))
    assert np.allclose(spy.codes[-1], reel, atol=1e-4), "one phrase: its own code is the mean"
    play(continuator, AIR, origin=192, step=12)
    answer(continuator, SamplingParams(morph=1.0))
    play(continuator, AIR, origin=384, step=12)
    answer(continuator, SamplingParams(morph=1.0))
    answer(continuator, SamplingParams(morph=1.0, memory=0.5))  # asked again for the same phrase: counted once
    mean = (reel + 2 * air) / 3
    assert len(continuator.session) == 2  # the phrases before this one
    assert np.allclose(spy.codes[-1], air + 0.5 * (mean - air), atol=1e-4)
    answer(continuator, SamplingParams(morph=1.0, memory=0.0))
    assert np.allclose(spy.codes[-1], air, atol=1e-4), "memory 0 leaves the code alone"
    continuator.forget()
    assert not continuator.session
    from daemon.live.respond import Responder

    responder = Responder(model, prompt="top")
    responder.continuator.session.append(reel)
    responder.forget()  # /antiphon/forget reaches the VAE's memory
    assert not responder.continuator.session
