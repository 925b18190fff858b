"""The band's chain: revival after silence, the last healthy bar, the choice among candidates,
rests and re-struck bars, starting over.

Unit tests on a scripted model (no onnxruntime); the chains of the bundled file are measured by
``antiphon train gan-chains`` (tests/training/gan/test_chains.py runs it on a real file)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from daemon.errors import ModelError
from daemon.models.gan_chain import COUNT_IN_DRAWS, BarChain, ChainRules, TrackBounds, out_of_bounds
from daemon.models.gan_choice import keep_chord_tones, restrike
from daemon.music.bar_stats import STATISTICS
from daemon.music.grid import Grid
from daemon.music.pianoroll import RollSpec, TrackSpec

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


def steering(bass_eb: float = 0.2, bass_qn: tuple[float, float] = (0.0, 0.0), **kwargs: Any) -> ChainRules:
    """RULES steered toward bass empty in ``bass_eb`` of the bars (and bass QN counts, if given)."""
    counts = np.zeros((2, len(STATISTICS), 2))
    counts[0, STATISTICS.index("EB")] = (0.0, 1.0)
    counts[1, STATISTICS.index("EB")] = (bass_eb, 1.0)
    counts[1, STATISTICS.index("QN")] = bass_qn
    return replace(RULES, bar_counts=counts, **kwargs)


def test_a_rest_is_the_first_candidate_with_its_part_left_silent() -> None:
    model = Scripted([bar(4, 4)] * 3 + [bar(2, 4), bar(3, 4), bar(4, 4)])
    chain = BarChain(model, steering(0.9, candidates=3))  # type: ignore[arg-type]
    chain.observe(bar(4, 4)[None])
    first = chain.step(np.random.default_rng(0), 0.5)
    assert first[0, 1].any(), "no rest in the band's first bar"
    second = chain.step(np.random.default_rng(0), 0.5)  # the bass is behind its rests: it sits this bar out
    assert np.array_equal(second[0], bar(2, 0)), "the first draw, bass left out"


def test_held_notes_are_restruck_as_stabs_on_every_other_step() -> None:
    bars = np.zeros((1, *SPEC.bar_shape), bool)
    bars[0, 1, 0:7, 0] = True  # a note of 7 steps
    bars[0, 1, 9:11, 1] = True  # 2 steps: too short to re-strike
    bars[0, 1, 9:13, 2] = True  # 4 steps from an odd step
    whole, late = restrike(bars, [1], SPEC), restrike(bars, [1], SPEC, from_step=8)
    assert np.flatnonzero(whole[0, 1, :, 0]).tolist() == [0, 2, 4, 6]
    assert np.array_equal(whole[0, 1, :, 1], bars[0, 1, :, 1])
    assert np.flatnonzero(whole[0, 1, :, 2]).tolist() == [9, 11]
    assert np.array_equal(late[0, 1, :, 0], bars[0, 1, :, 0]), "from step 8: the note starting at 0 is held"
    assert np.array_equal(late[0, 1, :, 2], whole[0, 1, :, 2])
    assert np.array_equal(whole[0, 0], bars[0, 0]), "other tracks untouched"


def test_a_restruck_bar_is_played_where_it_keeps_the_notes_lengths_in_style() -> None:
    held = bar(4, 0)
    held[1, :4, 0] = True
    model = Scripted([held] * 2)
    short = steering(0.0, bass_qn=(0.1, 2.0), candidates=2, restrike_from=((), (0,)))  # 5 % of notes held
    chain = BarChain(model, short)  # type: ignore[arg-type]
    chain.observe(bar(4, 2)[None])
    played = chain.step(np.random.default_rng(0), 0.5)
    assert np.flatnonzero(played[0, 1, :, 0]).tolist() == [0, 2], "the held note played as two stabs"


def test_a_part_unwell_for_four_times_its_limit_starts_the_chain_over() -> None:
    model = Scripted([bar(4, 0)] * 8 + [bar(4, 4)] * COUNT_IN_DRAWS + [bar(4, 4)])
    chain = BarChain(model, RULES)  # type: ignore[arg-type]
    chain.observe(bar(4, 4)[None])
    for _ in range(9):
        chain.step(np.random.default_rng(0), 0.5)
    assert chain.started_over == 1 and model.conditions[8] is None, "a count-in of its own"
    assert model.conditions[9] is not None and model.conditions[9][0, 1].sum() == 4, "then on from the count-in"


def test_a_chord_part_of_stray_tones_only_is_silenced_over_a_chord() -> None:
    spec = RollSpec((TrackSpec("chords", lowest_pitch=48, n_pitches=12),), Grid(4), ticks_per_step=1)
    draws = np.zeros((1, 2, *spec.bar_shape), bool)
    draws[0, 0, 0, :, 2] = True  # D only
    draws[0, 1, 0, :, [0, 2]] = True  # C and D: D as strong as the chord tone, kept
    c_major = np.zeros((1, 13), np.float32)
    c_major[0, [0, 4, 7, 12]] = 1.0
    kept = keep_chord_tones(draws, c_major, spec, 0.5)
    assert not kept[0, 0].any() and np.array_equal(kept[0, 1], draws[0, 1])


def test_chains_side_by_side_start_from_memories_of_their_own() -> None:
    class Same(Scripted):
        def candidate_bars(self, previous: Any, rng: Any, threshold: float, k: int, n: int = 1,
                           chord: Any = None) -> np.ndarray:
            return np.broadcast_to(bar(4, 4), (n, k, *SPEC.bar_shape)).copy()

    chain = BarChain(Same([]), steering(0.2), n=4)  # type: ignore[arg-type]
    chain.start(np.random.default_rng(0), 0.5)
    assert chain.running is not None and len(np.unique(chain.running[:, 1, 0, 0])) == 4


def test_the_new_rules_round_trip_through_the_files_metadata() -> None:
    rules = steering(0.2, candidates=4, restrike_from=((), (0, 8)), warm_up_bars=3, chord_tones=(9.0, 10.0),
                     gap_weights=((1.0,) * len(STATISTICS), (1.0, 1.0, 1.0, 2.0, 1.0, 1.0)))
    again = ChainRules.from_dict(rules.to_dict(SPEC), SPEC)
    assert again == rules and again.restrike_from == ((), (0, 8)) and again.weights()[1, 3] == 2.0
    assert again != replace(rules, warm_up_bars=0)
    with pytest.raises(ModelError, match="re-strike"):
        replace(rules, restrike_from=((), (99,))).check(SPEC)


def test_over_a_chord_a_steered_bass_keeps_to_its_chord_tones() -> None:
    def with_bass_on(row: int) -> np.ndarray:
        out = bar(4, 0)
        out[1, :4, row] = True  # four steps of one bass note: C (row 0) or C# (row 1)
        return out

    c_major = np.zeros((1, 13), np.float32)
    c_major[0, [0, 4, 7, 12]] = 1.0
    played = {}
    for tones in ((), (None, (8.0, 10.0))):  # not steered; steered toward 80 % of its steps in the chord
        model = Scripted([with_bass_on(1), with_bass_on(0)])  # C# first: the first of equals wins
        chain = BarChain(model, steering(0.0, candidates=2, bass_tones=tones))  # type: ignore[arg-type]
        chain.observe(with_bass_on(0)[None], chord=c_major)
        played[bool(tones)] = int(np.flatnonzero(chain.step(np.random.default_rng(0), 0.5, c_major)[0, 1, 0])[0])
    assert played == {False: 1, True: 0}, "steered, the bass plays the chord's C"
    rules = steering(0.2, bass_tones=(None, (8.0, 10.0)))
    assert ChainRules.from_dict(rules.to_dict(SPEC), SPEC) == rules
    assert rules.tones(SPEC) == [(1, (8.0, 10.0))]
    with pytest.raises(ModelError, match="chord tones"):
        replace(rules, bass_tones=((8.0, 10.0), None)).check(SPEC)  # drums have no chord tones
