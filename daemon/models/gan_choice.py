"""The bars a GAN chain chooses among, and the edits that make some of them.

:class:`daemon.models.gan_chain.BarChain` draws a dozen bars or fewer for each bar it plays; this
module holds what that choice needs besides the chain's memory: each track's range
(:class:`TrackBounds`, :func:`bound_limits`, :func:`outside`), the options themselves
(:class:`Options`: the drawn bars' summaries, the first with each part resting), and the two
edits a chain makes to bars: :func:`keep_chord_tones` (a chord track over a chord keeps its
chord's tones) and :func:`restrike` (held notes played again as stabs, as the training grooves'
chords are). Everything works on summaries (:mod:`daemon.music.bar_stats`), never bar by bar in
Python.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from daemon.music.bar_features import pitch_class_matrix
from daemon.music.bar_stats import EB, QN_MIN_BEATS, TD, BarSummary
from daemon.music.pianoroll import RollSpec


@dataclass(frozen=True)
class TrackBounds:
    """The range of one track's sounding bars in the training data.

    Attributes:
        cells: (low, high) active cells of a bar in which the track sounds.
        pitch_classes: (low, high) pitch classes a sounding bar uses; None for drums.
    """

    cells: tuple[float, float]
    pitch_classes: tuple[float, float] | None = None


CHORD_TRACK = "chords"


def keep_chord_tones(draws: np.ndarray, chord: np.ndarray, spec: RollSpec, share: float) -> np.ndarray:
    """``draws`` ``(n, K, T, S, P)`` with, in the chord track of each bar played over a chord
    (``chord`` ``(n or 1, 13)``, flag set), every pitch class outside the chord dropped unless it
    sounds at least ``share`` of the steps the chord's strongest tone sounds (so all of them where
    no chord tone sounds: a chord part of stray tones only is silent)."""
    names = [t.name for t in spec.tracks]
    chord = np.asarray(chord, np.float32).reshape(-1, chord.shape[-1])  # (n or 1, 13)
    if CHORD_TRACK not in names or not (chord[:, -1] > 0).any():
        return draws
    t = names.index(CHORD_TRACK)
    classes = pitch_class_matrix(spec)[t]  # (P, 12)
    weight = draws[:, :, t].sum(axis=2, dtype=np.float32) @ classes  # (n, K, 12) steps per class
    tones = chord[:, None, :12] > 0  # (n or 1, 1, 12)
    strongest = np.where(tones, weight, 0.0).max(axis=2, keepdims=True)  # (n, K, 1)
    drop = ~tones & ((weight < share * strongest) | (strongest == 0)) & (chord[:, -1] > 0)[:, None, None]
    if not drop.any():
        return draws
    rows = (drop.astype(np.float32) @ classes.T) > 0  # (n, K, P): rows of dropped classes
    out = draws.copy()
    out[:, :, t] &= ~rows[:, :, None, :]
    return out


def bound_limits(bounds: Sequence[TrackBounds | None]) -> np.ndarray:
    """``(4, T)``: each track's lowest and highest cells and pitch classes (unbounded: -inf, inf)."""
    out = np.array([[-np.inf], [np.inf], [-np.inf], [np.inf]]).repeat(len(bounds), axis=1)
    for t, bound in enumerate(bounds):
        if bound is not None:
            out[:2, t] = bound.cells
            if bound.pitch_classes is not None:
                out[2:, t] = bound.pitch_classes
    return out


def outside(summary: BarSummary, limits: np.ndarray) -> np.ndarray:
    """bool ``(N, T)``: sounding tracks outside ``limits`` (:func:`bound_limits`)."""
    cells, pcs = summary.cells, summary.pitch_classes
    return (cells > 0) & ((cells < limits[0]) | (cells > limits[1]) | (pcs < limits[2]) | (pcs > limits[3]))


@dataclass(frozen=True)
class Options:
    """The bars a chain chooses among, ``(n, K, ...)`` per chain: their summary's counts, which
    tracks sound, how many tracks are out of range."""

    counts: np.ndarray  # (n, K, T, 6, 2)
    cells: np.ndarray  # (n, K, T)
    pitch_classes: np.ndarray  # (n, K, T)
    chroma: np.ndarray  # (n, K, T, 12)
    outside: np.ndarray  # (n, K, T) bool
    misses: np.ndarray  # (n, K): tracks out of range

    @classmethod
    def of(cls, summary: BarSummary, n: int, k: int, limits: np.ndarray) -> Options:
        out = outside(summary, limits).reshape(n, k, -1)
        return cls(summary.counts.reshape(n, k, *summary.counts.shape[1:]), summary.cells.reshape(n, k, -1),
                   summary.pitch_classes.reshape(n, k, -1), summary.chroma.reshape(n, k, *summary.chroma.shape[1:]),
                   out, out.sum(axis=2))

    @property
    def sounding(self) -> np.ndarray:
        return self.cells > 0

    def with_rests(self, resting: np.ndarray, first_pitched: int) -> Options:
        """These options and, after them, the first with each part silenced in turn: as far out of
        range as the draw they come from (a rest is never a way out of range), and out of the
        question (1000 misses) for a part that is resting already (``resting`` ``(n, T)``)."""
        n_tracks = self.cells.shape[2]
        own = np.eye(n_tracks, dtype=bool)  # (T rests, T tracks): the part each rest silences
        counts = np.repeat(self.counts[:, :1], n_tracks, axis=1)  # (n, T, T, 6, 2)
        counts[:, own] = 0.0
        counts[:, own, EB] = 1.0  # an empty bar of its own
        if first_pitched >= 0:  # every pitched part's TD is against the first, which rests
            counts[:, first_pitched, :, TD] = 0.0
        cells = np.where(own, 0, self.cells[:, :1])  # (n, T, T)
        pcs = np.where(own, 0, self.pitch_classes[:, :1])
        chroma = np.where(own[:, :, None], 0.0, self.chroma[:, :1])  # (n, T, T, 12)
        outside = self.outside[:, :1] & ~own
        misses = self.misses[:, :1] + np.where(resting, 1000, 0)  # (n, T)
        return Options(np.concatenate([self.counts, counts], axis=1), np.concatenate([self.cells, cells], axis=1),
                       np.concatenate([self.pitch_classes, pcs], axis=1), np.concatenate([self.chroma, chroma], axis=1),
                       np.concatenate([self.outside, outside], axis=1), np.concatenate([self.misses, misses], axis=1))

    def columns(self, which: slice) -> Options:
        """The options ``which`` of each chain."""
        return Options(self.counts[:, which], self.cells[:, which], self.pitch_classes[:, which],
                       self.chroma[:, which], self.outside[:, which], self.misses[:, which])

    def take(self, pick: np.ndarray) -> Options:
        """The options ``pick[i]`` (one, or a row of them) of each chain, as options ``(n, 1 or F, ...)``."""
        pick = np.asarray(pick).reshape(len(pick), -1)
        rows = np.arange(len(pick))[:, None]
        return Options(self.counts[rows, pick], self.cells[rows, pick], self.pitch_classes[rows, pick],
                       self.chroma[rows, pick], self.outside[rows, pick], self.misses[rows, pick])

    def silenced(self, part: np.ndarray, first_pitched: int) -> Options:
        """These options with part ``part[i]`` (or none, < 0) of each chain's silenced, as
        :meth:`with_rests` silences it, and misses counted from the tracks out of range alone."""
        own = (np.asarray(part)[:, None] == np.arange(self.cells.shape[2]))[:, None, :]  # (n, 1, T)
        counts = np.where(own[..., None, None], 0.0, self.counts)
        counts[:, :, :, EB] = np.where(own[..., None], 1.0, counts[:, :, :, EB])
        if first_pitched >= 0:
            counts[np.asarray(part) == first_pitched, :, :, TD] = 0.0
        outside = self.outside & ~own
        return Options(counts, np.where(own, 0, self.cells), np.where(own, 0, self.pitch_classes),
                       np.where(own[..., None], 0.0, self.chroma), outside, outside.sum(axis=2))

    @property
    def summary(self) -> BarSummary:
        """The summary of a single option per chain (after :meth:`take`)."""
        return BarSummary(self.counts[:, 0], self.cells[:, 0], self.pitch_classes[:, 0], self.chroma[:, 0])


def restrike(bars: np.ndarray, tracks: Sequence[int], spec: RollSpec, from_step: int = 0) -> np.ndarray:
    """``bars`` ``(n, T, S, P)`` with every held note (of :data:`daemon.music.bar_stats.QN_MIN_BEATS`
    or longer) of ``tracks`` that starts at ``from_step`` or later played as stabs on every other
    step from its start: ``###.`` becomes ``#.#.`` and ``#######.`` ``#.#.#.#.``, as the
    training grooves' chords re-strike."""
    return restrike_each(bars, [(from_step, tracks)], spec)[0]


def restrike_each(bars: np.ndarray, steps: Sequence[tuple[int, Sequence[int]]], spec: RollSpec) -> list[np.ndarray]:
    """:func:`restrike` of ``bars`` for each ``(from_step, tracks)``, each track's rows read once.
    Each row is one integer, bit ``s`` for step ``s``; a note's cells are found by adding its
    start bit, whose carry runs along the note."""
    bars = np.asarray(bars, bool)
    n_steps = spec.steps_per_bar
    min_steps = int(np.ceil(QN_MIN_BEATS * spec.grid.ticks_per_beat / spec.ticks_per_step - 1e-9))
    bits = 2.0 ** np.arange(n_steps)
    even, odd = int(bits[::2].sum()), int(bits[1::2].sum())
    shifts = np.arange(n_steps)[:, None]
    rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # track -> (masks, held-note starts), (n, P) each
    outs = []
    for from_step, tracks in steps:
        out = bars.copy()
        for t in tracks:
            if t not in rows:
                masks = (bits @ bars[:, t]).astype(np.int64)  # (n, P): bit s, the row sounds at step s
                held = masks & ~(masks << 1)  # note starts ...
                for k in range(1, min_steps):
                    held = held & (masks >> k)  # ... of notes that last min_steps
                rows[t] = masks, held
            masks, held = rows[t]
            held = held & int(bits[from_step:].sum())
            keep = masks
            for parity in (even, odd):  # notes starting on even steps, on odd steps
                notes = ((masks + (held & parity)) ^ masks) & masks  # the cells of those notes
                keep = keep & ~(notes & ~parity)
            out[:, t] = (keep[:, None, :] >> shifts) & 1 > 0
        outs.append(out)
    return outs
