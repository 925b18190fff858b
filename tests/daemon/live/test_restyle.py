"""The live restyler on the bundled restyle model (onnxruntime, no torch): a bar heard comes back
in the next bar, on the band's channels, in the key; silence stays silent; another meter passes
the bar through."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from daemon.live.accompany import Accompanist
from daemon.live.restyle import RESTYLE_LEAD_S, Restyler, band_for
from daemon.models.loader import load_model
from daemon.music.grid import DRUM_CHANNEL, MIDI_CLOCK_PPQN, Grid
from daemon.music.sampling import SamplingParams
from daemon.music.scales import SCALES

PRESETS = Path(__file__).resolve().parents[3] / "presets"
GRID = Grid(MIDI_CLOCK_PPQN)  # the daemon's pulse grid, 4/4
BAR = GRID.ticks_per_bar
BEAT = MIDI_CLOCK_PPQN
CHANNELS = (9, 1, 2)  # drums, bass, chords


@pytest.fixture(scope="module")
def model() -> object:
    return load_model(PRESETS / "restyle-grooves.onnx")


def play_rock_bar(restyler: Restyler, bar: int) -> None:
    """A straight rock bar in C: kick 1 and 3, snare 2 and 4, eighth-note hats (channel 10), a bass
    on the root in quarters and a C major triad held (channel 1)."""
    start = bar * BAR
    for eighth in range(8):
        t = start + eighth * BEAT // 2
        restyler.note_on(t, DRUM_CHANNEL, 42, 80)
        restyler.note_off(t + 6, DRUM_CHANNEL, 42)
    for beat, pitch in ((0, 36), (1, 38), (2, 36), (3, 38)):
        t = start + beat * BEAT
        restyler.note_on(t, DRUM_CHANNEL, pitch, 100)
        restyler.note_off(t + 6, DRUM_CHANNEL, pitch)
        restyler.note_on(t, 0, 36, 90)
        restyler.note_off(t + BEAT - 4, 0, 36)
    for pitch in (60, 64, 67):
        restyler.note_on(start, 0, pitch, 70)
        restyler.note_off(start + BAR - 4, 0, pitch)


def test_a_played_bar_comes_back_in_the_next_bar_on_the_bands_channels(model: object) -> None:
    restyler = Restyler(model, lambda: {"style": "latin"})  # type: ignore[arg-type]
    play_rock_bar(restyler, 0)
    index, notes = restyler.make_bar(BAR - 10, GRID, np.random.default_rng(0), 0.5, CHANNELS)
    assert index == 1
    assert notes, "the bar played was answered with silence"
    assert all(BAR <= n.start < 2 * BAR and n.end <= 2 * BAR for n in notes)
    assert {n.channel for n in notes} <= set(CHANNELS)
    assert {9, 1} <= {n.channel for n in notes}  # drums and bass at least
    drums = [n for n in notes if n.channel == 9]
    assert all(n.velocity in (80, 100) for n in drums)  # the player's own drum velocities (their median)


def test_the_key_mask_keeps_every_pitched_note_in_the_scale(model: object) -> None:
    params = SamplingParams(key_root=2, scale=SCALES["major"])  # D major: no C, no F
    restyler = Restyler(model, lambda: {"style": "latin"}, lambda: params)  # type: ignore[arg-type]
    play_rock_bar(restyler, 0)
    _, notes = restyler.make_bar(BAR - 10, GRID, np.random.default_rng(0), 0.5, CHANNELS)
    pitched = [n for n in notes if n.channel != 9]
    assert pitched
    assert all((n.pitch - 2) % 12 in SCALES["major"] for n in pitched)


def test_a_silent_bar_is_answered_with_silence_and_the_bar_after_is_next(model: object) -> None:
    restyler = Restyler(model)  # type: ignore[arg-type]
    assert restyler.make_bar(BAR - 10, GRID, np.random.default_rng(0), 0.5, CHANNELS) == (1, [])
    play_rock_bar(restyler, 1)
    index, notes = restyler.make_bar(2 * BAR - 10, GRID, np.random.default_rng(0), 0.5, CHANNELS)
    assert index == 2 and notes


def test_a_note_struck_just_before_the_bar_line_belongs_to_the_next_bar(model: object) -> None:
    restyler = Restyler(model)  # type: ignore[arg-type]
    restyler.note_on(BAR - 1, DRUM_CHANNEL, 36, 100)  # a hair early on the next downbeat
    assert restyler.make_bar(BAR - 0.5, GRID, np.random.default_rng(0), 0.5, CHANNELS)[1] == []


def test_in_three_four_the_bar_is_passed_through_unchanged(model: object, caplog: pytest.LogCaptureFixture) -> None:
    waltz = GRID.with_meter(3, 4)
    restyler = Restyler(model)  # type: ignore[arg-type]
    restyler.note_on(0, 0, 60, 90)
    restyler.note_off(BEAT, 0, 60)
    restyler.note_on(BEAT, DRUM_CHANNEL, 38, 90)
    restyler.note_off(BEAT + 6, DRUM_CHANNEL, 38)
    with caplog.at_level(logging.WARNING):
        _, notes = restyler.make_bar(waltz.ticks_per_bar - 10, waltz, np.random.default_rng(0), 0.5, CHANNELS)
    bar = waltz.ticks_per_bar
    assert [(n.start - bar, n.pitch, n.channel) for n in notes] == [(0, 60, 0), (BEAT, 38, DRUM_CHANNEL)]
    assert "passed through unchanged" in caplog.text and restyler.passed_through == 1


def test_an_unknown_style_plays_the_models_own_and_says_so_once(model: object,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    restyler = Restyler(model, lambda: {"style": "swing"})  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        assert restyler.style() == "latin"
        assert restyler.style() == "latin"
    assert caplog.text.count("not 'swing'") == 1


def test_a_restyle_model_plays_a_restyler_and_a_gan_the_band(model: object) -> None:
    assert isinstance(band_for(model), Restyler)
    assert isinstance(band_for(load_model(PRESETS / "gan-grooves.onnx")), Accompanist)
    assert Restyler.lead_s == RESTYLE_LEAD_S < Accompanist.lead_s


def test_mode_restyle_needs_a_restyle_model_and_says_which_to_name() -> None:
    from daemon.control.presets import load_preset
    from daemon.errors import ModelError
    from daemon.live.model_store import ModelStore, models_for

    store = ModelStore()
    assert models_for(load_preset("restyle"), "restyle", store).gan.kind == "restyle"
    with pytest.raises(ModelError, match='restyle-grooves.onnx'):
        models_for(load_preset("default"), "restyle", store)
    with pytest.raises(ModelError, match="choose mode restyle"):
        models_for(load_preset("restyle"), "respond", store)
    with pytest.raises(ModelError, match="with a GAN"):
        models_for(load_preset("restyle"), "accompany", store)
