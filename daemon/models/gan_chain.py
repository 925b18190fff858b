"""A band that lasts: GAN bars in a chain, each conditioned on the band's bar before it.

A chain hears only itself, so a small bias of the model compounds bar after bar: a track that
falls silent once is conditioned on silence and stays silent (the data taught the model that
silence stays silent), and a bar a little too busy asks for a busier one. :class:`BarChain`
keeps three things the model alone does not:

* **each track's last healthy bar**: a bar of the track whose active cells (and, for pitched
  tracks, pitch classes) lie inside the training bars' range (:class:`TrackBounds`);
* **a silence limit** per track (``revive_after``): a track silent that many bars in a row is
  conditioned on its last healthy bar again, as a player who sat out a few bars comes back in;
  a track whose last bar went out of range is conditioned on its last healthy bar at once;
* **a choice among candidates**: each bar is drawn ``candidates`` times and the first with the
  fewest tracks out of range is played.

The rules (:class:`ChainRules`) travel in the model file (``training.chain`` in its metadata,
written at export from the training bars and chosen on the validation split); a file without
them chains plainly. The chord of each bar, for a model that hears chords, is the caller's:
the progression of ``antiphon bars --chords`` or the chord a player holds.

Not thread-safe: one owner (the engine thread, or an offline command). This module must not
import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daemon.errors import ModelError
from daemon.models.gan import GanModel
from daemon.music.bar_features import pitch_class_matrix
from daemon.music.pianoroll import RollSpec

COUNT_IN_DRAWS = 4  # unconditioned bars drawn to start a chain; the first with the most tracks sounding starts it
MAX_CHAIN_CANDIDATES = 16


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
    """

    revive_after: tuple[int, ...]
    bounds: tuple[TrackBounds | None, ...]
    candidates: int = 1

    def check(self, spec: RollSpec) -> ChainRules:
        n = len(spec.tracks)
        if len(self.revive_after) != n or len(self.bounds) != n:
            raise ModelError(f"chain rules for {len(self.revive_after)} tracks, the model has {n}; re-export it")
        if any(r < 0 for r in self.revive_after) or not 1 <= self.candidates <= MAX_CHAIN_CANDIDATES:
            raise ModelError(f"chain rules {self.revive_after} / {self.candidates} candidates are out of range; "
                             "re-export the model")
        return self

    def to_dict(self, spec: RollSpec) -> dict[str, Any]:
        tracks: dict[str, Any] = {}
        for track, revive, bound in zip(spec.tracks, self.revive_after, self.bounds, strict=True):
            entry: dict[str, Any] = {"revive_after": revive}
            if bound is not None:
                entry["cells"] = list(bound.cells)
                if bound.pitch_classes is not None:
                    entry["pitch_classes"] = list(bound.pitch_classes)
            tracks[track.name] = entry
        return {"candidates": self.candidates, "tracks": tracks}

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
            for track in spec.tracks:
                entry = dict(tracks.get(track.name, {}))
                revive.append(int(entry.get("revive_after", 0)))
                if "cells" in entry:
                    pcs = entry.get("pitch_classes")
                    bounds.append(TrackBounds(_pair(entry["cells"]), None if pcs is None else _pair(pcs)))
                else:
                    bounds.append(None)
            rules = cls(tuple(revive), tuple(bounds), int(value.get("candidates", 1)))
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
    used = np.einsum("ntsp,tpc->ntc", active.astype(np.float32), pitch_class_matrix(spec)) > 0  # (N, T, 12)
    return cells, used.sum(axis=2)


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
        self.silent = np.zeros((n, len(self.spec.tracks)), np.int64)  # bars in a row each track was silent
        self.strayed = np.zeros((n, len(self.spec.tracks)), bool)  # the track's last bar went out of range
        self.revived = 0  # tracks conditioned on their last healthy bar, counted per bar and chain

    def reset(self) -> None:
        self.__init__(self.model, self.rules, self.n)  # type: ignore[misc]

    def start(self, rng: np.random.Generator, threshold: float, chord: np.ndarray | None = None) -> np.ndarray:
        """The chain's first bars ``(n, T, S, P)``: of :data:`COUNT_IN_DRAWS` unconditioned bars
        each, the first with the most tracks sounding (every one, nearly always)."""
        draws = self.model.candidate_bars(None, rng, threshold, COUNT_IN_DRAWS, self.n, chord)  # (n, K, T, S, P)
        sounding = draws.any(axis=(3, 4)).sum(axis=2)  # (n, K)
        bars = draws[np.arange(self.n), sounding.argmax(axis=1)]
        self.observe(bars)
        return bars

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
        if heard is not None:
            revive &= ~heard.any(axis=(2, 3))  # what the player plays is heard as played
        if not revive.any():
            return base
        self.revived += int(revive.sum())
        return np.where(revive[:, :, None, None], self.healthy, base)

    def step(self, rng: np.random.Generator, threshold: float, chord: np.ndarray | None = None,
             heard: np.ndarray | None = None) -> np.ndarray:
        """The next bar of each chain, bool ``(n, T, S, P)``; ``chord`` ``(n, 13)`` or ``(1, 13)``
        for a model that hears chords."""
        previous = self.condition(heard)
        k = 1 if self.rules is None else self.rules.candidates
        draws = self.model.candidate_bars(previous, rng, threshold, k, self.n, chord)  # (n, K, T, S, P)
        if k == 1 or self.rules is None:
            bars = draws[:, 0]
        else:
            flat = draws.reshape(-1, *self.spec.bar_shape)
            misses = out_of_bounds(flat, self.spec, self.rules.bounds).sum(axis=1).reshape(self.n, k)
            bars = draws[np.arange(self.n), misses.argmin(axis=1)]  # the first with the fewest
        self.observe(bars)
        return bars

    def observe(self, bars: np.ndarray) -> None:
        """Take ``bars`` (bool ``(n, T, S, P)``) as the chains' last bars."""
        bars = np.asarray(bars, bool)
        sounding = bars.any(axis=(2, 3))  # (n, T)
        bad = (out_of_bounds(bars, self.spec, self.rules.bounds) if self.rules is not None
               else np.zeros(sounding.shape, bool))
        good = sounding & ~bad
        self.healthy = np.where(good[:, :, None, None], bars, self.healthy)
        self.has_healthy |= good
        self.silent = np.where(sounding, 0, self.silent + 1)
        self.strayed = bad
        self.last = bars
