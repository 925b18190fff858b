"""The rules a band's chain plays by, as its model file carries them (``training.chain``).

:class:`ChainRules` says how :class:`daemon.models.gan_chain.BarChain` keeps every track alive,
in range and in style; they are written at export from the training bars
(``training.gan.chains.derive_rules``) and read back by :func:`chain_rules_of`. A file without
them chains plainly.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daemon.errors import ModelError
from daemon.models.gan import GanModel
from daemon.models.gan_choice import CHORD_TRACK, TrackBounds
from daemon.music.bar_stats import STATISTICS
from daemon.music.pianoroll import RollSpec

MAX_CHAIN_CANDIDATES = 16


@dataclass(frozen=True)
class ChainRules:
    """How a chain keeps every track alive and in range (see the module docstring).

    Attributes:
        revive_after: per track, the bars of silence in a row after which the track is
            conditioned on its last healthy bar again (0: never).
        bounds: per track, the range of its sounding bars (None: any bar is healthy).
        candidates: bars drawn for each bar played (1: the first).
        bar_counts: per track, the training bars' mean (numerator, denominator) per bar of each
            statistic of :data:`daemon.music.bar_stats.STATISTICS`, ``(T, 5, 2)``; None: no
            steering, the first of the fewest out of range is played.
        memory_bars: how many bars the running statistics remember (an exponential memory).
        chord_tone_share: over a chord, a chord-track pitch class outside the chord is kept only
            where it sounds at least this share of the chord's strongest tone's steps (0: all kept).
        restrike_from: per track (or empty: none), the steps from which the chosen bar's held notes
            may be re-struck (:func:`restrike`): the chosen bar re-struck from each step is a
            candidate too, played where it keeps the running statistics nearer the training bars'.
        gap_weights: per track and statistic ``(T, 6)``, how much its gap counts in the choice
            (empty: 1 each).
        warm_up_bars: bars the chain plays to itself before its first bar, unheard, so that it
            starts with the memory of a band that has been playing (its first bar still has
            every part).
        chord_tones: the training bars' mean (steps of the chord track in its bar's chord, its
            steps) per bar over bars with a chord; the choice keeps the chain's share near theirs
            too (None: not steered).
        bass_tones: per track (or empty: none), the same mean for the other pitched tracks the
            choice keeps near their chord tones (the bass under a player's chord changes), None
            for a track not steered.
    """

    revive_after: tuple[int, ...]
    bounds: tuple[TrackBounds | None, ...]
    candidates: int = 1
    bar_counts: np.ndarray | None = None
    memory_bars: int = 32
    chord_tone_share: float = 0.0
    restrike_from: tuple[tuple[int, ...], ...] = ()
    gap_weights: tuple[tuple[float, ...], ...] = ()
    warm_up_bars: int = 0
    chord_tones: tuple[float, float] | None = None
    bass_tones: tuple[tuple[float, float] | None, ...] = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChainRules):
            return NotImplemented
        same = self._plain() == other._plain() and np.array_equal(self.weights(), other.weights())
        if self.bar_counts is None or other.bar_counts is None:
            return same and self.bar_counts is other.bar_counts
        return same and np.allclose(self.bar_counts, other.bar_counts)

    __hash__ = None  # type: ignore[assignment]

    def _restrikes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(self.restrike_from) or ((),) * len(self.revive_after)

    def weights(self) -> np.ndarray:
        """``(T, 6)`` :attr:`gap_weights`, ones where none are given."""
        return np.asarray(self.gap_weights or np.ones((len(self.revive_after), len(STATISTICS))), np.float64)

    def _plain(self) -> tuple[Any, ...]:
        return (self.revive_after, self.bounds, self.candidates, self.memory_bars, self.chord_tone_share,
                self._restrikes(), self.warm_up_bars, self.chord_tones, tuple(self.bass_tones))

    def tones(self, spec: RollSpec) -> list[tuple[int, tuple[float, float]]]:
        """``[(track, (in chord, all))]``: every track the choice keeps near its chord tones, the chord track first."""
        names = [t.name for t in spec.tracks]
        out = [(names.index(CHORD_TRACK), self.chord_tones)] if self.chord_tones and CHORD_TRACK in names else []
        return out + [(t, pair) for t, pair in enumerate(self.bass_tones) if pair is not None]

    def check(self, spec: RollSpec) -> ChainRules:
        n = len(spec.tracks)
        if len(self.revive_after) != n or len(self.bounds) != n:
            raise ModelError(f"chain rules for {len(self.revive_after)} tracks, the model has {n}; re-export it")
        if any(r < 0 for r in self.revive_after) or not 1 <= self.candidates <= MAX_CHAIN_CANDIDATES:
            raise ModelError(f"chain rules {self.revive_after} / {self.candidates} candidates are out of range; "
                             "re-export the model")
        if self.bar_counts is not None and (np.shape(self.bar_counts) != (n, len(STATISTICS), 2)
                                            or self.memory_bars < 1):
            raise ModelError("the chain rules' statistics do not fit the model; re-export it")
        if len(self._restrikes()) != n or any(not 0 <= s < spec.steps_per_bar for steps in self.restrike_from for s in steps):
            raise ModelError(f"the chain rules re-strike from steps {self.restrike_from}; re-export the model")
        if self.weights().shape != (n, len(STATISTICS)) or (self.weights() < 0).any() or self.warm_up_bars < 0:
            raise ModelError("the chain rules' gap weights or warm-up do not fit the model; re-export it")
        if self.bass_tones and (len(self.bass_tones) != n or any(
                pair is not None and (spec.tracks[t].drums or not 0 < pair[0] <= pair[1])
                for t, pair in enumerate(self.bass_tones))):
            raise ModelError("the chain rules' chord tones do not fit the model; re-export it")
        return self

    def to_dict(self, spec: RollSpec) -> dict[str, Any]:
        tracks: dict[str, Any] = {}
        tones = self.bass_tones or (None,) * len(spec.tracks)
        for track, revive, bound, steps, pair in zip(spec.tracks, self.revive_after, self.bounds, self._restrikes(),
                                                     tones, strict=True):
            entry: dict[str, Any] = {"revive_after": revive}
            if pair is not None:
                entry["chord_tones"] = [float(x) for x in pair]
            if steps:
                entry["restrike_from"] = list(steps)
            weights = {name: float(w) for name, w in zip(STATISTICS, self.weights()[len(tracks)], strict=True) if w != 1}
            if weights:
                entry["gap_weights"] = weights
            if bound is not None:
                entry["cells"] = list(bound.cells)
                if bound.pitch_classes is not None:
                    entry["pitch_classes"] = list(bound.pitch_classes)
            if self.bar_counts is not None:
                t = len(tracks)
                entry["bar_counts"] = {name: [float(x) for x in self.bar_counts[t, k]]
                                       for k, name in enumerate(STATISTICS) if self.bar_counts[t, k, 1] > 0}
            tracks[track.name] = entry
        out = {"candidates": self.candidates, "memory_bars": self.memory_bars,
               "chord_tone_share": self.chord_tone_share, "tracks": tracks, "warm_up_bars": self.warm_up_bars}
        return out if self.chord_tones is None else {**out, "chord_tones": [float(x) for x in self.chord_tones]}

    @classmethod
    def from_dict(cls, value: Any, spec: RollSpec) -> ChainRules:
        """Read ``training.chain`` of a model file.

        Raises:
            ModelError: not ``{"candidates": k, "tracks": {name: {"revive_after": n, ...}}}``
                for this model's tracks.
        """
        try:
            tracks = dict(value["tracks"])
            revive, bounds, restrike, tones = [], [], [], []
            weights = np.ones((len(spec.tracks), len(STATISTICS)))
            counts = np.zeros((len(spec.tracks), len(STATISTICS), 2))
            steered = False
            for t, track in enumerate(spec.tracks):
                entry = dict(tracks.get(track.name, {}))
                revive.append(int(entry.get("revive_after", 0)))
                tones.append(None if entry.get("chord_tones") is None else _pair(entry["chord_tones"]))
                restrike.append(tuple(int(s) for s in entry.get("restrike_from", ())))
                for name, w in dict(entry.get("gap_weights", {})).items():
                    weights[t, STATISTICS.index(name)] = float(w)
                for name, pair in dict(entry.get("bar_counts", {})).items():
                    counts[t, STATISTICS.index(name)] = _pair(pair)
                    steered = True
                if "cells" in entry:
                    pcs = entry.get("pitch_classes")
                    bounds.append(TrackBounds(_pair(entry["cells"]), None if pcs is None else _pair(pcs)))
                else:
                    bounds.append(None)
            rules = cls(tuple(revive), tuple(bounds), int(value.get("candidates", 1)), counts if steered else None,
                        int(value.get("memory_bars", 32)), float(value.get("chord_tone_share", 0.0)),
                        tuple(restrike) if any(restrike) else (),
                        tuple(map(tuple, weights.tolist())) if (weights != 1).any() else (),
                        int(value.get("warm_up_bars", 0)),
                        None if value.get("chord_tones") is None else _pair(value["chord_tones"]),
                        tuple(tones) if any(p is not None for p in tones) else ())
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"the model's chain rules cannot be read ({exc!r}); re-export it") from exc
        return rules.check(spec)


def _pair(value: Sequence[Any]) -> tuple[float, float]:
    low, high = (float(v) for v in value)
    return low, high


def chain_rules_of(model: GanModel) -> ChainRules | None:
    """The rules a model file carries (``training.chain``), or None."""
    training = model.metadata.get("training")
    value = training.get("chain") if isinstance(training, Mapping) else None
    return None if value is None else ChainRules.from_dict(value, model.spec)
