"""The band's chain: revival after silence, the last healthy bar, the choice among candidates.

Unit tests on a scripted model (no onnxruntime); the chains of the bundled file are measured by
``antiphon train gan-chains`` (tests/training/gan/test_chains.py runs it on a real file)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from daemon.errors import ModelError
from daemon.models.gan_chain import BarChain, ChainRules, TrackBounds, out_of_bounds
from daemon.music.pianoroll import RollSpec, TrackSpec
from daemon.music.grid import Grid

SPEC = RollSpec((TrackSpec("drums", drums=True, channel=9), TrackSpec("bass", lowest_pitch=36, n_pitches=12)),
                Grid(4), ticks_per_step=1)


class Scripted:
    """A GAN that plays the bars it is given, one per call, and records what it was conditioned on."""

    hears_chords = False

    def __init__(self, bars: list[np.ndarray]) -> None:
        self.spec = SPEC
        self.metadata: dict[str, Any] = {}
        self.bars = list(bars)
        self.conditions: list[np.ndarray | None] = []

    def candidate_bars(self, previous: Any, rng: Any, threshold: float, k: int, n: int = 1, chord: Any = None) -> np.ndarray:
        self.conditions.append(None if previous is None else np.array(previous, copy=True))
        return np.stack([self.bars.pop(0) for _ in range(k)])[None]  # (1, k, T, S, P)


def bar(drums: int = 0, bass: int = 0) -> np.ndarray:
    """A bar with ``drums`` drum hits and ``bass`` bass steps (one row each)."""
    out = np.zeros(SPEC.bar_shape, bool)
    out[0, :drums, 0] = True
    out[1, :bass, 0] = True
    return out


RULES = ChainRules((0, 2), (TrackBounds((1, 8)), TrackBounds((1, 8), (1, 3))), candidates=1)


def test_a_track_silent_for_its_limit_is_conditioned_on_its_last_healthy_bar() -> None:
    model = Scripted([bar(4, 4), bar(4, 0), bar(4, 0), bar(4, 0)])
    chain = BarChain(model, RULES)  # type: ignore[arg-type]
    chain.observe(bar(4, 4)[None])
    for _ in range(4):
        chain.step(np.random.default_rng(0), 0.5)
    bass_heard = [c[0, 1].any() for c in model.conditions]
    assert bass_heard == [True, True, False, True], "bass silent 2 bars: the third is conditioned on its last bar"
    assert chain.revived == 1


def test_without_rules_a_silent_track_stays_silent_in_the_condition() -> None:
    model = Scripted([bar(4, 0)] * 4)
    chain = BarChain(model, None)  # type: ignore[arg-type]
    chain.observe(bar(4, 4)[None])
    for _ in range(4):
        chain.step(np.random.default_rng(0), 0.5)
    assert [c[0, 1].any() for c in model.conditions] == [True, False, False, False]


def test_a_bar_out_of_range_is_not_heard_next_its_last_healthy_bar_is() -> None:
    model = Scripted([bar(4, 12), bar(4, 4)])  # 12 bass steps: over the bound of 8
    chain = BarChain(model, RULES)  # type: ignore[arg-type]
    chain.observe(bar(4, 3)[None])
    chain.step(np.random.default_rng(0), 0.5)
    chain.step(np.random.default_rng(0), 0.5)
    assert model.conditions[1][0, 1].sum() == 3, "the bar that strayed is replaced by the healthy one before it"


def test_among_candidates_the_first_with_fewest_tracks_out_of_range_is_played() -> None:
    rules = ChainRules((0, 0), RULES.bounds, candidates=3)
    model = Scripted([bar(12, 12), bar(12, 4), bar(4, 4)])
    chain = BarChain(model, rules)  # type: ignore[arg-type]
    chosen = chain.step(np.random.default_rng(0), 0.5)
    assert np.array_equal(chosen[0], bar(4, 4))


def test_what_a_player_plays_stands_in_for_the_bands_bar_in_its_tracks() -> None:
    model = Scripted([bar(4, 4)])
    chain = BarChain(model, RULES)  # type: ignore[arg-type]
    chain.observe(bar(2, 0)[None])
    heard = bar(0, 5)[None]
    chain.step(np.random.default_rng(0), 0.5, heard=heard)
    condition = model.conditions[0][0]
    assert condition[1].sum() == 5 and condition[0].sum() == 2, "bass as heard, drums the band's own"


def test_out_of_bounds_ignores_silent_tracks() -> None:
    bars = np.stack([bar(0, 0), bar(12, 2), bar(4, 12)])
    assert out_of_bounds(bars, SPEC, RULES.bounds).tolist() == [[False, False], [True, False], [False, True]]


def test_rules_round_trip_through_the_files_metadata_and_are_checked() -> None:
    again = ChainRules.from_dict(RULES.to_dict(SPEC), SPEC)
    assert again == RULES
    with pytest.raises(ModelError, match="re-export"):
        ChainRules.from_dict({"tracks": {"bass": {"revive_after": -1}}}, SPEC)
    with pytest.raises(ModelError, match="cannot be read"):
        ChainRules.from_dict({"tracks": {"bass": {"cells": "x"}}}, SPEC)
