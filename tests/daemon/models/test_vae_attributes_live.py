"""The phrase VAE's attribute vectors as live parameters: the code of the phrase is moved before
the answer is decoded; an attribute the file lacks is skipped with a warning, never a traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from daemon.control.events import SetParam
from daemon.control.live_state import LiveState
from daemon.control.presets import live_values, load_preset
from daemon.live.controls import LiveSampling
from daemon.models.vae import VaeModel, load_vae, slerp
from daemon.models.vae_answer import VaeContinuator
from daemon.music.grid import Grid
from daemon.music.notes import Note
from daemon.music.sampling import SamplingError, SamplingParams, resolve_key
from tests.daemon.models.test_vae_answer import AIR, REEL, Spy, answer, play

BUNDLED = Path(__file__).resolve().parents[3] / "presets" / "folk-vae.onnx"
GRID = Grid(12, 4, 4)
PHRASE_TICKS = 96
MOVE = 1.5  # the live amount moved up and down in the real test
SEEDS = 3  # answers drawn per phrase and amount


@pytest.fixture(scope="module")
def model() -> VaeModel:
    return load_vae(BUNDLED)


@pytest.fixture()
def without_major() -> VaeModel:
    """The bundled VAE as a file without the major/minor vector would load."""
    model = load_vae(BUNDLED)
    del model.attributes["major"], model.attributes_by_tonic["major"]
    return model


def test_the_bundled_file_carries_the_four_live_attributes(model: VaeModel) -> None:
    assert set(model.attributes) == {"density", "register", "busyness", "major"}
    assert all(v.shape == (model.latent,) and np.isfinite(v).all() for v in model.attributes.values())


def test_the_code_is_moved_along_each_attribute_by_its_amount_after_the_morph(model: VaeModel) -> None:
    spy = Spy(model)
    continuator = VaeContinuator(spy)  # type: ignore[arg-type]
    play(continuator, REEL, origin=0, step=6)
    first = model.encode([Note(i * 6, p, 6, 90) for i, p in enumerate(REEL)])[0]
    answer(continuator, SamplingParams(attributes=(("density", 1.5), ("register", -0.5))))
    expected = first + 1.5 * model.attributes["density"] - 0.5 * model.attributes["register"]
    assert np.allclose(spy.codes[-1], expected, atol=1e-4)
    assert np.allclose(continuator.current, first, atol=1e-5)  # the phrase's own code is kept unmoved

    play(continuator, AIR, origin=192, step=12)
    second = model.encode([Note(i * 12, p, 12, 90) for i, p in enumerate(AIR)])[0]
    answer(continuator, SamplingParams(morph=0.5, attributes=(("busyness", -1.0),)))
    assert np.allclose(spy.codes[-1], slerp(first, second, 0.5) - model.attributes["busyness"], atol=1e-4)


def test_major_is_moved_along_the_direction_of_the_phrases_tonic(model: VaeModel) -> None:
    assert model.attributes_by_tonic["major"].shape == (12, model.latent)
    spy = Spy(model)
    continuator = VaeContinuator(spy)  # type: ignore[arg-type]
    play(continuator, REEL, origin=0, step=6)  # in D major
    own = model.encode([Note(i * 6, p, 6, 90) for i, p in enumerate(REEL)])[0]
    answer(continuator, SamplingParams(attributes=(("major", -1.0),)))
    assert continuator.tonic == 2
    assert np.allclose(spy.codes[-1], own - model.attributes_by_tonic["major"][2], atol=1e-4)


def test_amounts_of_zero_leave_the_code_alone(model: VaeModel) -> None:
    continuator = VaeContinuator(model)
    z = model.prior(np.random.default_rng(0))[0]
    moved, words = continuator.move(z, (("density", 0.0), ("major", 0.0)))
    assert np.array_equal(moved, z) and words == ""


def test_an_attribute_the_file_lacks_is_skipped_with_one_warning_naming_those_it_has(
        without_major: VaeModel, caplog: pytest.LogCaptureFixture) -> None:
    spy = Spy(without_major)
    continuator = VaeContinuator(spy)  # type: ignore[arg-type]
    said: list[tuple[str, str]] = []
    continuator.warn = lambda name, message: said.append((name, message))  # the daemon's /antiphon/error
    play(continuator, REEL, origin=0, step=6)
    own = without_major.encode([Note(i * 6, p, 6, 90) for i, p in enumerate(REEL)])[0]
    with caplog.at_level(logging.WARNING, logger="daemon.models.vae_answer"):
        notes = answer(continuator, SamplingParams(attributes=(("major", 1.0),)))
        answer(continuator, SamplingParams(attributes=(("major", 1.0),)))
    assert notes, "the answer is still decoded"
    assert np.allclose(spy.codes[-1], own, atol=1e-5), "decoded unmoved"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [("folk-vae.onnx carries no attribute 'major' (it has: busyness, density, register): "
                        "the answer is not moved along it")], "warned once while the same move is asked for"
    assert continuator.missing == ("major",)
    assert said == [("major", warnings[0])], "handed on once, as logged"

    answer(continuator, SamplingParams(attributes=(("major", 1.0), ("density", 1.0))))
    assert np.allclose(spy.codes[-1], own + without_major.attributes["density"], atol=1e-4), "the others still move"


@pytest.mark.parametrize("attributes", [(("density", float("nan")),), (("density", True),), ((1, 0.5),),
                                        [("density", 0.5)]])
def test_sampling_refuses_attribute_moves_that_are_not_name_and_finite_amount(attributes: object) -> None:
    with pytest.raises(SamplingError, match="attributes must be"):
        SamplingParams(attributes=attributes)  # type: ignore[arg-type]


def test_the_live_attribute_parameters_reach_the_sampling_parameters() -> None:
    preset = load_preset("morph")
    state = LiveState(live_values(preset))
    sampling = LiveSampling(state, preset, lambda address, message: None)
    assert sampling.params().attributes == ()
    state.apply(SetParam.from_edge("attribute_register", -1.25))
    sampling.renew("attribute_register")
    assert sampling.params().attributes == (("register", -1.25),)


def _brown_maid_phrases() -> tuple[list[list[Note]], int]:
    """Four two-bar phrases of a test-split reel (eight bars), and its tonic (F)."""
    from tests.daemon.corpus_phrase import load_phrase

    tune = load_phrase(beats=32)
    assert (tune.numerator, tune.denominator, tune.minor) == (4, 4, False)
    return [[Note(n.start - s, n.pitch, n.duration, n.velocity, n.channel) for n in tune.notes
             if s <= n.start < s + PHRASE_TICKS] for s in range(0, 4 * PHRASE_TICKS, PHRASE_TICKS)], tune.key_root


def _answers_moved(model: VaeModel, phrases: list[list[Note]], settings: dict[str, object]) -> list[list[Note]]:
    """Answers to each phrase (``SEEDS`` draws, each from the phrase's own code) with the morph
    preset's sampling and the live ``settings`` (edge values) set as OSC or a CC would set them."""
    preset = load_preset("morph")
    state = LiveState(live_values(preset))
    sampling = LiveSampling(state, preset, lambda address, message: None)
    for name, value in settings.items():
        state.apply(SetParam.from_edge(name, value))
        sampling.renew(name)
    answers = []
    for phrase in phrases:
        params = resolve_key(sampling.params(), phrase)
        for seed in range(SEEDS):
            continuator = VaeContinuator(model)
            continuator.feed_notes(phrase)
            answers.append(next(continuator.answer_steps(2 * GRID.ticks_per_bar, params, np.random.default_rng(seed),
                                                         1, GRID)))
    return answers


def _major_share(notes: list[Note], tonic: int) -> float:
    """Duration share of major 3rds, 6ths and 7ths on ``tonic`` among 3rds, 6ths and 7ths (NaN: none)."""
    degrees = [((n.pitch - tonic) % 12, n.duration) for n in notes]
    major = sum(d for degree, d in degrees if degree in (4, 9, 11))
    minor = sum(d for degree, d in degrees if degree in (3, 8, 10))
    return major / (major + minor) if major + minor else float("nan")


def test_moving_density_up_live_gives_answers_with_more_notes_than_moving_it_down(model: VaeModel, report) -> None:
    """Real phrases, the bundled files, the morph preset's sampling and the live parameter's path."""
    phrases, _ = _brown_maid_phrases()
    counts = {amount: [len(a) for a in _answers_moved(model, phrases, {"attribute_density": amount})]
              for amount in (-MOVE, MOVE)}
    down, up = (float(np.mean(counts[a])) for a in (-MOVE, MOVE))
    played = float(np.mean([len(p) for p in phrases]))
    report(f"VAE attribute_density live, {len(phrases)} phrases of The Brown Maid ({played:.1f} notes each) x "
           f"{SEEDS} draws: {down:.1f} notes per answer at -{MOVE}, {up:.1f} at +{MOVE}")
    assert up > down + 2.0, counts


def test_moving_major_down_live_answers_a_major_tune_in_its_parallel_minor(model: VaeModel, report) -> None:
    """The Brown Maid is in F major (a key the folk tunes seldom use): the direction of F is taken."""
    phrases, tonic = _brown_maid_phrases()
    shares = {amount: float(np.nanmean([_major_share(a, tonic) for a in _answers_moved(
        model, phrases, {"key": "none", "attribute_major": amount})])) for amount in (-MOVE, 0.0)}
    report(f"VAE attribute_major live, {len(phrases)} phrases of The Brown Maid (F major) x {SEEDS} draws: share of "
           f"major 3rds/6ths/7ths on F in the answers {shares[0.0]:.2f} unmoved, {shares[-MOVE]:.2f} at -{MOVE}")
    assert shares[0.0] > 0.8 and shares[-MOVE] < 0.2, shares


def test_with_the_presets_key_mask_a_move_along_major_still_changes_the_mode(model: VaeModel, report) -> None:
    """The morph preset masks answers to the phrase's key (``auto``): F major. Moved along major,
    the mask lets both modes on F through, so the move is heard; unmoved, the mask is F major."""
    phrases, tonic = _brown_maid_phrases()
    assert load_preset("morph").sampling.follow_key
    moved = _answers_moved(model, phrases, {"attribute_major": -MOVE})
    unmoved = _answers_moved(model, phrases, {})
    shares = {name: float(np.nanmean([_major_share(a, tonic) for a in answers]))
              for name, answers in (("moved", moved), ("unmoved", unmoved))}
    off_both = sum((n.pitch - tonic) % 12 in (1, 6) for a in moved for n in a)
    report(f"VAE attribute_major live under the preset's key mask (auto: F major), The Brown Maid: share of major "
           f"3rds/6ths/7ths on F {shares['unmoved']:.2f} unmoved, {shares['moved']:.2f} at -{MOVE}")
    assert shares["unmoved"] > 0.95 and shares["moved"] < 0.2, shares
    assert off_both == 0, "the minor second and the tritone stay masked"


def test_both_modes_widens_a_major_or_minor_mask_and_leaves_others_alone() -> None:
    from daemon.models.vae_answer import both_modes

    widened = both_modes(SamplingParams(key_root=5, scale=(0, 2, 4, 5, 7, 9, 11)))
    assert widened.key_root == 5 and widened.scale == (0, 2, 3, 4, 5, 7, 8, 9, 10, 11)
    assert both_modes(SamplingParams(key_root=5, scale=(0, 2, 3, 5, 7, 8, 10))).scale == widened.scale
    dorian = SamplingParams(key_root=2, scale=(0, 2, 3, 5, 7, 9, 10))
    assert both_modes(dorian) == dorian and both_modes(SamplingParams()) == SamplingParams()
