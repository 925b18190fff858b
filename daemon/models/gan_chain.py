"""A band that lasts: GAN bars in a chain, each conditioned on the band's bar before it.

A chain hears only itself, so a small bias of the model compounds bar after bar: a track that
falls silent once is conditioned on silence and stays silent (the data taught the model that
silence stays silent), and a bar a little too busy asks for a busier one. :class:`BarChain`
keeps three things the model alone does not:

* **each track's last healthy bar**: a bar of the track whose active cells (and, for pitched
  tracks, pitch classes) lie inside the training bars' range (:class:`TrackBounds`);
* **a silence limit** per track (``revive_after``): a track silent that many bars in a row is
  conditioned on its last healthy bar again, as a player who sat out a few bars comes back in;
  a track whose last bar went out of range is conditioned on its last healthy bar at once; a
  track still silent after twice its limit (the other parts keep telling the model it has no
  part here) brings the whole band back to its last bar in which every part sounded in range;
* **a choice among candidates**: each bar is drawn ``candidates`` times and, of those with the
  fewest tracks out of range, the one that keeps the chain's running statistics (the bar
  metrics' counts over about the last ``memory_bars`` bars, :mod:`daemon.music.bar_stats`)
  nearest the training bars' is played: a band that drifts toward busier or plainer bars is
  steered back by choosing among bars the model itself offered. Each part may also sit a bar
  out (the first candidate with that part left silent is a candidate too): the model keeps a
  part that sounds going, so the rests of the training grooves, where each part is silent in
  about a fifth of the bars, come from this choice, at the data's rate.

The rules (:class:`ChainRules`) travel in the model file (``training.chain`` in its metadata,
written at export from the training bars and chosen on the validation split); a file without
them chains plainly. The chord of each bar, for a model that hears chords, is the caller's:
the progression of ``antiphon bars --chords`` or the chord a player holds.

Not thread-safe: one owner (the engine thread, or an offline command).
This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daemon.errors import ModelError
from daemon.models.gan import GanModel
from daemon.music.bar_features import pitch_class_matrix
from daemon.music.bar_stats import STATISTICS, bar_counts, ratios
from daemon.music.pianoroll import RollSpec

COUNT_IN_DRAWS = 16  # unconditioned bars drawn to start a chain; the first with the most tracks in range starts it
COUNT_IN_ROUNDS = 8  # more draws, at most this many times, until every track has a healthy bar
MAX_CHAIN_CANDIDATES = 16
GAP_FLOOR = 0.1  # a statistic's gap is relative to its target, or to this when the target is smaller


@dataclass(frozen=True)
class TrackBounds:
    """The range of one track's sounding bars in the training data.

    Attributes:
        cells: (low, high) active cells of a bar in which the track sounds.
        pitch_classes: (low, high) pitch classes a sounding bar uses; None for drums.
    """

    cells: tuple[float, float]
    pitch_classes: tuple[float, float] | None = None


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
    """

    revive_after: tuple[int, ...]
    bounds: tuple[TrackBounds | None, ...]
    candidates: int = 1
    bar_counts: np.ndarray | None = None
    memory_bars: int = 32
    chord_tone_share: float = 0.0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChainRules):
            return NotImplemented
        same = (self.revive_after, self.bounds, self.candidates, self.memory_bars, self.chord_tone_share) == (
            other.revive_after, other.bounds, other.candidates, other.memory_bars, other.chord_tone_share)
        if self.bar_counts is None or other.bar_counts is None:
            return same and self.bar_counts is other.bar_counts
        return same and np.allclose(self.bar_counts, other.bar_counts)

    __hash__ = None  # type: ignore[assignment]

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
        return self

    def to_dict(self, spec: RollSpec) -> dict[str, Any]:
        tracks: dict[str, Any] = {}
        for track, revive, bound in zip(spec.tracks, self.revive_after, self.bounds, strict=True):
            entry: dict[str, Any] = {"revive_after": revive}
            if bound is not None:
                entry["cells"] = list(bound.cells)
                if bound.pitch_classes is not None:
                    entry["pitch_classes"] = list(bound.pitch_classes)
            if self.bar_counts is not None:
                t = len(tracks)
                entry["bar_counts"] = {name: [float(x) for x in self.bar_counts[t, k]]
                                       for k, name in enumerate(STATISTICS) if self.bar_counts[t, k, 1] > 0}
            tracks[track.name] = entry
        return {"candidates": self.candidates, "memory_bars": self.memory_bars,
                "chord_tone_share": self.chord_tone_share, "tracks": tracks}

    @classmethod
    def from_dict(cls, value: Any, spec: RollSpec) -> ChainRules:
        """Read ``training.chain`` of a model file.

        Raises:
            ModelError: not ``{"candidates": k, "tracks": {name: {"revive_after": n, ...}}}``
                for this model's tracks.
        """
        try:
            tracks = dict(value["tracks"])
            revive, bounds = [], []
            counts = np.zeros((len(spec.tracks), len(STATISTICS), 2))
            steered = False
            for t, track in enumerate(spec.tracks):
                entry = dict(tracks.get(track.name, {}))
                revive.append(int(entry.get("revive_after", 0)))
                for name, pair in dict(entry.get("bar_counts", {})).items():
                    counts[t, STATISTICS.index(name)] = _pair(pair)
                    steered = True
                if "cells" in entry:
                    pcs = entry.get("pitch_classes")
                    bounds.append(TrackBounds(_pair(entry["cells"]), None if pcs is None else _pair(pcs)))
                else:
                    bounds.append(None)
            rules = cls(tuple(revive), tuple(bounds), int(value.get("candidates", 1)), counts if steered else None,
                        int(value.get("memory_bars", 32)), float(value.get("chord_tone_share", 0.0)))
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


def track_statistics(bars: np.ndarray, spec: RollSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per bar and track: active cells ``(N, T)`` and pitch classes used ``(N, T)`` (0 for drums)."""
    active = np.asarray(bars, bool)
    cells = active.sum(axis=(2, 3))  # (N, T)
    used = np.einsum("ntp,tpc->ntc", active.sum(axis=2, dtype=np.float32), pitch_class_matrix(spec)) > 0  # (N, T, 12)
    return cells, used.sum(axis=2)


CHORD_TRACK = "chords"


def keep_chord_tones(draws: np.ndarray, chord: np.ndarray, spec: RollSpec, share: float) -> np.ndarray:
    """``draws`` ``(n, K, T, S, P)`` with, in the chord track of each bar played over a chord
    (``chord`` ``(n or 1, 13)``, flag set), every pitch class outside the chord dropped unless it
    sounds at least ``share`` of the steps the chord's strongest tone sounds."""
    names = [t.name for t in spec.tracks]
    if CHORD_TRACK not in names:
        return draws
    t = names.index(CHORD_TRACK)
    chord = np.broadcast_to(np.asarray(chord, np.float32).reshape(-1, chord.shape[-1]), (draws.shape[0], chord.shape[-1]))
    given = chord[:, -1] > 0  # (n,)
    if not given.any():
        return draws
    classes = pitch_class_matrix(spec)[t]  # (P, 12)
    weight = draws[:, :, t].sum(axis=2, dtype=np.float32) @ classes  # (n, K, 12) steps per class
    tones = chord[:, None, :12] > 0  # (n, 1, 12)
    strongest = np.where(tones, weight, 0.0).max(axis=2, keepdims=True)  # (n, K, 1)
    drop = ~tones & (weight < share * strongest) & given[:, None, None]  # (n, K, 12)
    rows = (drop.astype(np.float32) @ classes.T) > 0  # (n, K, P): rows of dropped classes
    out = draws.copy()
    out[:, :, t] &= ~rows[:, :, None, :]
    return out


def out_of_bounds(bars: np.ndarray, spec: RollSpec, bounds: Sequence[TrackBounds | None]) -> np.ndarray:
    """bool ``(N, T)``: the track sounds in the bar and lies outside its bounds."""
    cells, pcs = track_statistics(bars, spec)
    out = np.zeros(cells.shape, bool)
    for t, bound in enumerate(bounds):
        if bound is None:
            continue
        bad = (cells[:, t] < bound.cells[0]) | (cells[:, t] > bound.cells[1])
        if bound.pitch_classes is not None:
            bad |= (pcs[:, t] < bound.pitch_classes[0]) | (pcs[:, t] > bound.pitch_classes[1])
        out[:, t] = bad & (cells[:, t] > 0)
    return out


class BarChain:
    """``n`` chains of bars played by one GAN under :class:`ChainRules`.

    Args:
        model: the generator.
        rules: the chain's rules (None: plain chaining, each bar on the last).
        n: chains kept side by side (the evaluation runs many; the band one).
    """

    def __init__(self, model: GanModel, rules: ChainRules | None = None, n: int = 1) -> None:
        self.model = model
        self.spec = model.spec
        self.rules = None if rules is None else rules.check(self.spec)
        self.n = n
        shape = (n, *self.spec.bar_shape)
        self.last: np.ndarray | None = None  # (n, T, S, P) bool: the chain's last bar
        self.healthy = np.zeros(shape, bool)  # each track's last healthy sounding bar
        self.has_healthy = np.zeros((n, len(self.spec.tracks)), bool)
        self.full = np.zeros(shape, bool)  # the last bar in which every track sounded in range
        self.has_full = np.zeros(n, bool)
        self.silent = np.zeros((n, len(self.spec.tracks)), np.int64)  # bars in a row each track was silent
        self.strayed = np.zeros((n, len(self.spec.tracks)), bool)  # the track's last bar went out of range
        self.revived = 0  # tracks conditioned on their last healthy bar, counted per bar and chain
        self.played = 0  # bars made by step()
        # the running statistics' counts (n, T, 5, 2), starting from a memory of typical bars
        counts = None if self.rules is None else self.rules.bar_counts
        self.running = None if counts is None else np.repeat(
            np.asarray(counts, np.float64)[None] * self.rules.memory_bars, n, axis=0)  # type: ignore[union-attr]

    def reset(self) -> None:
        self.__init__(self.model, self.rules, self.n)  # type: ignore[misc]

    def start(self, rng: np.random.Generator, threshold: float, chord: np.ndarray | None = None) -> np.ndarray:
        """The chain's first bars ``(n, T, S, P)``: of :data:`COUNT_IN_DRAWS` unconditioned bars
        each, the first with the most tracks sounding in range; every track's last healthy bar is
        taken from the first draw where it sounds in range, so that a track the first bar lacks
        can still come in. The count-in is never played, only heard by the first bar, so it is
        drawn without a chord (``chord`` is ignored: a groove model asked for a bar with a chord
        and nothing before it mostly leaves its drums out)."""
        draws, good = self._count_in_draws(rng, threshold)
        bars = draws[np.arange(self.n), good.sum(axis=2).argmax(axis=1)]
        self.observe(bars)
        for _ in range(COUNT_IN_ROUNDS if self.rules is not None else 0):
            self._seed_healthy(draws, good)
            if self.has_healthy.all():
                break
            draws, good = self._count_in_draws(rng, threshold)
        if self.rules is not None:
            complete = ~self.has_full & self.has_healthy.all(axis=1)  # a whole band put together from the draws
            self.full[complete] = self.healthy[complete]
            self.has_full |= complete
        return bars

    def _count_in_draws(self, rng: np.random.Generator, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """:data:`COUNT_IN_DRAWS` unconditioned bars per chain ``(n, K, T, S, P)`` and which of
        their tracks sound in range ``(n, K, T)``."""
        draws = self.model.candidate_bars(None, rng, threshold, COUNT_IN_DRAWS, self.n, None)
        flat = draws.reshape(-1, *self.spec.bar_shape)
        good = flat.any(axis=(2, 3))
        if self.rules is not None:
            good &= ~out_of_bounds(flat, self.spec, self.rules.bounds)
        return draws, good.reshape(self.n, COUNT_IN_DRAWS, -1)

    def _seed_healthy(self, draws: np.ndarray, good: np.ndarray) -> None:
        """Each track's last healthy bar, where it has none, from the first draw where it sounds in range."""
        first = good.argmax(axis=1)  # (n, T)
        found = good.any(axis=1)
        for t in range(len(self.spec.tracks)):
            take = found[:, t] & ~self.has_healthy[:, t]
            self.healthy[take, t] = draws[np.arange(self.n), first[:, t], t][take]
            self.has_healthy[:, t] |= found[:, t]

    def condition(self, heard: np.ndarray | None = None) -> np.ndarray | None:
        """The bars the next bars are conditioned on, ``(n, T, S, P)``, or None (unconditioned).

        ``heard`` (bool ``(n, T, S, P)``, e.g. what a player played) stands in for the chain's
        last bar in every track it sounds in. Then each track silent for its ``revive_after``
        bars, or whose last bar went out of range, takes its last healthy bar.
        """
        base = self.last
        if heard is not None:
            heard = np.asarray(heard, bool)
            if base is None:
                base = heard
            else:
                played = heard.any(axis=(2, 3))  # (n, T)
                base = np.where(played[:, :, None, None], heard, base)
        if base is None or self.rules is None:
            return base
        limit = np.asarray(self.rules.revive_after)  # (T,)
        quiet = ~base.any(axis=(2, 3))  # (n, T)
        revive = self.has_healthy & ((quiet & (limit > 0) & (self.silent >= limit)) | (self.strayed & ~quiet))
        stuck = self.has_full & (quiet & (limit > 0) & (self.silent >= 2 * limit)).any(axis=1)  # (n,)
        whole = np.repeat(stuck[:, None], len(self.spec.tracks), axis=1)  # (n, T) tracks the full bar replaces
        if heard is not None:
            played = heard.any(axis=(2, 3))
            revive &= ~played  # what the player plays is heard as played
            whole &= ~played
        if not revive.any() and not whole.any():
            return base
        self.revived += int(revive.sum()) + int(stuck.sum())
        out = np.where(revive[:, :, None, None], self.healthy, base)
        return np.where(whole[:, :, None, None], self.full, out)

    def step(self, rng: np.random.Generator, threshold: float, chord: np.ndarray | None = None,
             heard: np.ndarray | None = None) -> np.ndarray:
        """The next bar of each chain, bool ``(n, T, S, P)``; ``chord`` ``(n, 13)`` or ``(1, 13)``
        for a model that hears chords."""
        bars = self.draw(self.condition(heard), rng, threshold, chord)
        self.observe(bars)
        self.played += 1
        return bars

    def draw(self, previous: np.ndarray | None, rng: np.random.Generator, threshold: float,
             chord: np.ndarray | None = None) -> np.ndarray:
        """The bar each chain would play next on ``previous`` (``(n, T, S, P)``, or None), chosen as
        :meth:`step` chooses, without taking it as played (a bar made again over a new chord)."""
        k = 1 if self.rules is None else self.rules.candidates
        draws = self.model.candidate_bars(previous, rng, threshold, k, self.n, chord)  # (n, K, T, S, P)
        if chord is not None and self.rules is not None and self.rules.chord_tone_share > 0:
            draws = keep_chord_tones(draws, np.asarray(chord), self.spec, self.rules.chord_tone_share)
        if k == 1 or self.rules is None:
            bars = draws[:, 0]
        else:
            flat = draws.reshape(-1, *self.spec.bar_shape)
            misses = out_of_bounds(flat, self.spec, self.rules.bounds).sum(axis=1).reshape(self.n, k)
            limit = np.asarray(self.rules.revive_after)
            if self.running is not None:  # a part that played may also sit this bar out: the first draw without it
                rests = np.repeat(draws[:, :1], len(self.spec.tracks), axis=1)  # (n, T, T, S, P)
                for t in range(len(self.spec.tracks)):
                    rests[:, t, t] = False
                draws = np.concatenate([draws, rests], axis=1)
                # as far out of range as the draw they come from (a rest is never a way out of range),
                # and out of the question for a part that is resting already
                resting = (self.silent > 0) | (self.played == 0)  # no rest in the band's first bar
                rest_misses = misses[:, :1] + np.where(resting, 1000, 0)  # (n, T)
                misses = np.concatenate([misses, rest_misses], axis=1)
                k = draws.shape[1]
                flat = draws.reshape(-1, *self.spec.bar_shape)
            # a part silent for its limit must come back: a draw that leaves it silent counts as out of range
            due = ((limit > 0) & (self.silent >= limit)) | (self.played == 0)  # (n, T): the first bar has every part
            misses = misses + (~flat.any(axis=(2, 3))).reshape(self.n, k, -1)[:, :, :].__and__(due[:, None, :]).sum(axis=2)
            score = misses.astype(np.float64)
            if self.running is not None:  # among the fewest out of range, the one nearest in style
                score = score * 1e3 + self._style_gaps(bar_counts(flat, self.spec).reshape(self.n, k, *self.running.shape[1:]))
            bars = draws[np.arange(self.n), score.argmin(axis=1)]
        return bars

    def _style_gaps(self, candidate_counts: np.ndarray) -> np.ndarray:
        """``(n, K)``: how far each candidate would leave the running statistics from the training
        bars' (summed relative gaps over every track's statistics)."""
        assert self.running is not None and self.rules is not None and self.rules.bar_counts is not None
        decay = 1.0 - 1.0 / self.rules.memory_bars
        after = ratios(self.running[:, None] * decay + candidate_counts)  # (n, K, T, 5)
        target = ratios(np.asarray(self.rules.bar_counts))  # (T, 5)
        gaps = np.abs(after - target) / np.maximum(np.abs(target), GAP_FLOOR)
        return np.nansum(np.where(np.isfinite(target), gaps, 0.0), axis=(2, 3))

    def observe(self, bars: np.ndarray) -> None:
        """Take ``bars`` (bool ``(n, T, S, P)``) as the chains' last bars."""
        bars = np.asarray(bars, bool)
        sounding = bars.any(axis=(2, 3))  # (n, T)
        bad = (out_of_bounds(bars, self.spec, self.rules.bounds) if self.rules is not None
               else np.zeros(sounding.shape, bool))
        good = sounding & ~bad
        self.healthy = np.where(good[:, :, None, None], bars, self.healthy)
        self.has_healthy |= good
        whole = good.all(axis=1)
        self.full = np.where(whole[:, None, None, None], bars, self.full)
        self.has_full |= whole
        self.silent = np.where(sounding, 0, self.silent + 1)
        self.strayed = bad
        self.last = bars
        if self.running is not None and self.rules is not None:
            self.running = self.running * (1.0 - 1.0 / self.rules.memory_bars) + bar_counts(bars, self.spec)
