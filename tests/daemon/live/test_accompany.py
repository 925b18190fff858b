"""The accompanist's conditioning, on the bundled groove model (onnxruntime, no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from daemon.live.accompany import Accompanist
from daemon.models.loader import load_model
from daemon.music.grid import MIDI_CLOCK_PPQN, Grid

GROOVES = Path(__file__).resolve().parents[3] / "presets" / "gan-grooves.onnx"
GRID = Grid(MIDI_CLOCK_PPQN)  # the daemon's pulse grid, 4/4
BAR = GRID.ticks_per_bar
CHANNELS = (9, 1, 2)  # drums, bass, chords as the model's tracks play them
PROGRESSION = ((60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62))  # C, Am, F, G


@pytest.fixture(scope="module")
def grooves() -> object:
    return load_model(GROOVES)


class WithoutBand(Accompanist):
    """The accompanist as it was: what was heard, silent tracks and all."""

    def __init__(self, model: object) -> None:
        super().__init__(model)  # type: ignore[arg-type]
        self.chain.condition = lambda heard=None: heard  # type: ignore[method-assign]


def play_chords(accompanist: Accompanist, bars: int, seed: int) -> list[list[int]]:
    """A keyboard player holds one triad a bar (channel 1, a chord register); before each bar line
    the accompanist makes the next bar. Returns the MIDI channel of each note of each made bar."""
    rng = np.random.default_rng(seed)
    made: list[list[int]] = []
    for b in range(bars):
        for pitch in PROGRESSION[b % len(PROGRESSION)]:
            accompanist.note_on(b * BAR, 0, pitch, 90)
            accompanist.note_off(b * BAR + BAR - 6, 0, pitch)
        _, notes = accompanist.make_bar(b * BAR + BAR - 4, GRID, rng, 0.5, CHANNELS)
        made.append([n.channel for n in notes])
    return made


def test_before_its_first_bar_the_band_takes_a_bar_of_its_own_with_every_part(grooves: object) -> None:
    accompanist = Accompanist(grooves)  # type: ignore[arg-type]
    firsts = []
    for seed in range(8):
        accompanist.reset()
        accompanist.note_on(0, 0, 60, 90)  # a player's lone note: no drums, no bass
        accompanist.make_bar(BAR - 4, GRID, np.random.default_rng(seed), 0.5, CHANNELS)
        firsts.append(accompanist._band)
    count_in = Accompanist(grooves).chain.start(np.random.default_rng(0), 0.5)  # type: ignore[arg-type]
    assert count_in.shape == (1, *accompanist.spec.bar_shape) and count_in[0].any(axis=(1, 2)).all()
    assert all(bar is not None and bar[0, 0].any() for bar in firsts), "every first bar has drums"


def test_tracks_the_player_leaves_silent_take_the_bands_own_last_bar(grooves: object) -> None:
    accompanist = Accompanist(grooves)  # type: ignore[arg-type]
    heard = np.zeros((1, *accompanist.spec.bar_shape), bool)
    heard[0, 2, :, 24] = True  # chords: one held note
    assert accompanist.condition_with_band(heard) is heard, "no bar made yet: what was heard"
    for seed in range(16):  # two bars of a band that, in its last, plays drums and bass (it rests a part now and then)
        accompanist.reset()
        play_chords(accompanist, 2, seed=seed)
        band = accompanist._band
        if band is not None and band[0, :2].any(axis=(1, 2)).all():
            break
    assert band is not None and band[0, :2].any(axis=(1, 2)).all(), "the model's last bar has drums and bass"
    merged = accompanist.condition_with_band(heard)
    assert merged is not None and np.array_equal(merged[0, 2], heard[0, 2]), "the player's part as heard"
    assert np.array_equal(merged[0, :2], band[0, :2]), "drums and bass: the band's own last bar"
    assert not heard[0, :2].any(), "what was heard is left as it was"
    everything = band | heard
    assert np.array_equal(accompanist.condition_with_band(everything), everything), "every track heard: as heard"
    alone = accompanist.condition_with_band(None)
    assert alone is not None and alone[0].any(axis=(1, 2)).any(), "nothing heard: the band goes on from its own"
    assert np.all(alone[0].any(axis=(1, 2)) >= band[0].any(axis=(1, 2))), "every part it played goes on"
    accompanist.reset()
    assert accompanist.condition_with_band(heard) is heard, "a reset forgets the band's bar"


def test_a_keyboard_players_chords_keep_the_groove_models_drums_and_bass_going(grooves: object) -> None:
    bars = 64
    with_band = play_chords(Accompanist(grooves), bars, seed=7)  # type: ignore[arg-type]
    without = play_chords(WithoutBand(grooves), bars, seed=7)  # type: ignore[arg-type]
    drums = sum(9 in c for c in with_band[1:]), sum(9 in c for c in without[1:])
    bass = sum(1 in c for c in with_band[1:]), sum(1 in c for c in without[1:])
    print(f"bars 2-{bars} with drums: {drums[0]} (the band goes on) vs {drums[1]} (heard only); "
          f"with bass: {bass[0]} vs {bass[1]}")
    assert drums[0] >= 0.85 * (bars - 1), "the drums go on under the player's chords"
    assert 9 in with_band[0] and 1 in with_band[0], "the band comes in with its drums and bass (its count-in)"
    assert drums[0] > drums[1]
    # its bass rests at the data's rate (a fifth of the bars), so over a few players' runs it plays at least as often
    runs = [(play_chords(Accompanist(grooves), bars, seed), play_chords(WithoutBand(grooves), bars, seed))  # type: ignore[arg-type]
            for seed in (8, 9)]
    assert bass[0] + sum(sum(1 in c for c in a[1:]) for a, _ in runs) >= bass[1] + sum(
        sum(1 in c for c in b[1:]) for _, b in runs)
    # the band's parts feed on its own bars: they hold, they do not pile up (over the three players' runs:
    # one run's eight bars swing with the parts' rests)
    per_bar = np.array([[[c.count(9), c.count(1)] for c in made] for made in (with_band, *(a for a, _ in runs))])
    first, last = per_bar[:, 1:17].mean(axis=(0, 1)), per_bar[:, -16:].mean(axis=(0, 1))  # drum and bass notes
    print(f"notes a bar, bars 2-17 vs {bars - 15}-{bars}: drums {first[0]:.1f} vs {last[0]:.1f}, "
          f"bass {first[1]:.1f} vs {last[1]:.1f}")
    assert np.all(last <= 1.25 * first + 1.0)


def test_a_chord_struck_inside_a_bar_makes_its_bass_and_chords_again_over_it(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from daemon.music.harmony import parse_chord
    from tests.export.tiny_gan import cached_tiny_gan

    gan = load_model(cached_tiny_gan(tmp_path_factory, "grooves-chords")[1])
    accompanist = Accompanist(gan)  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    for pitch in (60, 64, 67):  # C held as bar 1 ends
        accompanist.note_on(BAR - 20, 0, pitch, 90)
    index, _notes = accompanist.make_bar(BAR - 4, GRID, rng, 0.001, CHANNELS)
    assert index == 1 and accompanist.playing is not None and accompanist.playing.chord == parse_chord("C")
    assert accompanist.revoice(BAR + 2, GRID, rng, 0.001, CHANNELS) is None, "the same chord: nothing changes"
    for pitch in (60, 64, 67):
        accompanist.note_off(BAR + 1, 0, pitch)
    for pitch in (57, 60, 64):  # Am struck just after the bar line
        accompanist.note_on(BAR + 2, 0, pitch, 90)
    changed = accompanist.revoice(BAR + 3, GRID, rng, 0.001, CHANNELS)
    assert changed is not None
    bar, old, new = changed
    assert bar == 1 and accompanist.playing.chord == parse_chord("Am") and accompanist.revoiced == 1
    assert all(n.channel in (1, 2) for n in old + new), "drums are left as they were"
    assert new and all(n.start >= BAR + 3 and n.start + n.duration <= 2 * BAR for n in new), "the rest of the bar"
    assert accompanist.revoice(2 * BAR + 5, GRID, rng, 0.001, CHANNELS) is None, "a bar that is over is not re-made"


def test_the_chord_held_is_read_from_the_pitched_notes_sounding_or_just_struck(grooves: object) -> None:
    from daemon.music.harmony import parse_chord

    accompanist = Accompanist(grooves)  # type: ignore[arg-type]
    accompanist.note_on(0, 9, 36, 100)  # a kick: not part of any chord
    for pitch in (55, 59, 62):
        accompanist.note_on(10, 0, pitch, 90)
        accompanist.note_off(20, 0, pitch)
    assert accompanist.chord_at(15) == parse_chord("G")
    assert accompanist.chord_at(30) == parse_chord("G"), "struck within the last beat"
    assert accompanist.chord_at(200) is None, "long released: no chord"
