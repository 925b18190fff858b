"""Per-bar counts behind the GAN bar metrics, so a chain can keep its running statistics in style.

Each metric of ``training/gan/metrics.py`` is a pooled ratio over bars; here every bar gives its
numerator and denominator (:func:`bar_counts`), so the ratio over any run of bars is a sum of
counts. Definitions are the metrics' own (a note is a maximal run of active steps of one row
inside one bar; a qualified note lasts at least 3 sixteenth steps; a polyphonic step has at
least 3 rows; a drum hit is on the grid when its step is on the eighth-note grid):

* ``EB``  empty bars: (1 if the track is silent, 1);
* ``UPC`` pitch classes: (pitch classes used, 1) over bars where the track sounds;
* ``QN``  qualified notes: (notes of 3 steps or more, notes);
* ``PP``  polyphony: (steps with 3 rows or more, sounding steps);
* ``DP``  drum pattern: (hits on the eighth-note grid, hits);
* ``TD``  tonal distance of a pitched track to the first pitched track (bass-chords in a groove):
  (distance between their tonal centroids, 1) over bars where both sound.

:func:`summarise` gives the counts with the active cells and pitch classes of each bar's tracks
(what a chain's bounds judge) in one pass: a chain computes them for a dozen candidate bars in
well under a millisecond.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from daemon.music.bar_features import pitch_class_matrix
from daemon.music.pianoroll import RollSpec

STATISTICS = ("EB", "UPC", "QN", "PP", "DP", "TD")
EB, UPC, QN, PP, DP, TD = range(len(STATISTICS))
QN_MIN_BEATS = 0.75  # a qualified note: at least a dotted eighth (3 sixteenth steps)
PP_MIN_PITCHES = 3  # a polyphonic step: at least 3 rows sound
DP_GRID_BEATS = 0.5  # drum hits counted on the eighth-note grid


def tonal_matrix(r1: float = 1.0, r2: float = 1.0, r3: float = 0.5) -> np.ndarray:
    """Harte et al.'s ``(6, 12)`` projection of chroma onto the circles of fifths, minor thirds and
    major thirds (the tonal centroids of the TD metric)."""
    pc = np.arange(12)
    return np.stack([
        r1 * np.sin(pc * 7 * np.pi / 6), r1 * np.cos(pc * 7 * np.pi / 6),
        r2 * np.sin(pc * 3 * np.pi / 2), r2 * np.cos(pc * 3 * np.pi / 2),
        r3 * np.sin(pc * 2 * np.pi / 3), r3 * np.cos(pc * 2 * np.pi / 3),
    ])


TONAL = tonal_matrix()


@dataclass(frozen=True)
class _Layout:
    """What :func:`summarise` needs of a spec, computed once per spec."""

    classes: np.ndarray  # (T*P, T*12): row (t, p) -> track t's pitch class of row p
    on_grid: np.ndarray  # (S,) float32: 1 on the steps of the eighth-note grid
    step_bits: np.ndarray  # (S,) float32: 2**s, packing a row's steps into one integer
    min_steps: int  # steps a qualified note lasts at least
    row_floors: np.ndarray  # (2,): rows of a sounding step, of a polyphonic step, less one
    applies: np.ndarray  # (T, 6, 1): 1 where a statistic applies to a track
    drums: np.ndarray  # (T,) bool
    first_pitched: int  # the track every other pitched track's TD is measured against (-1: none)


@lru_cache(maxsize=8)
def _layout(spec: RollSpec) -> _Layout:
    n_tracks, steps, n_pitches = spec.bar_shape
    matrix = pitch_class_matrix(spec)  # (T, P, 12)
    classes = np.zeros((n_tracks * n_pitches, n_tracks * 12))
    for t in range(n_tracks):
        classes[t * n_pitches:(t + 1) * n_pitches, t * 12:(t + 1) * 12] = matrix[t]
    grid_ticks = DP_GRID_BEATS * spec.grid.ticks_per_beat
    on_grid = np.array([(k * spec.ticks_per_step) % grid_ticks == 0 for k in range(steps)], np.float32)
    steps_per_beat = spec.grid.ticks_per_beat / spec.ticks_per_step
    drums = np.array([t.drums for t in spec.tracks])
    pitched = np.flatnonzero(~drums)
    first = int(pitched[0]) if len(pitched) else -1
    applies = np.zeros((n_tracks, len(STATISTICS), 1))
    applies[:, EB] = 1.0
    applies[pitched, UPC:PP + 1] = 1.0
    applies[drums, DP] = 1.0
    applies[pitched[1:], TD] = 1.0
    bits = 2.0 ** np.arange(steps, dtype=np.float32 if steps <= 24 else np.float64)  # exact in either
    return _Layout(classes, on_grid, bits, int(np.ceil(QN_MIN_BEATS * steps_per_beat - 1e-9)),
                   np.array([0.0, PP_MIN_PITCHES - 1.0], np.float32), applies, drums, first)


@dataclass(frozen=True)
class BarSummary:
    """What a chain judges of ``N`` bars.

    Attributes:
        counts: float ``(N, T, 6, 2)``, each bar's (numerator, denominator) of every statistic of
            :data:`STATISTICS` per track (zeros where a statistic does not apply).
        cells: ``(N, T)`` active cells of each track.
        pitch_classes: ``(N, T)`` pitch classes each track uses (0 for drums).
        chroma: ``(N, T, 12)`` steps each pitch class sounds in each track, summed over its rows.
    """

    counts: np.ndarray
    cells: np.ndarray
    pitch_classes: np.ndarray
    chroma: np.ndarray

    @property
    def sounding(self) -> np.ndarray:
        """bool ``(N, T)``: the track sounds in the bar."""
        return self.cells > 0


def summarise(bars: np.ndarray, spec: RollSpec) -> BarSummary:
    """The :class:`BarSummary` of bool bars ``(N, T, S, P)``.

    Each row of a bar is packed into one integer, bit ``s`` for step ``s``, so notes, onsets and
    qualified notes are bit operations on ``(N, T, P)`` integers rather than passes over every
    cell; the counts of every statistic are put together at once and masked to the tracks each
    applies to.
    """
    layout = _layout(spec)
    active = np.asarray(bars, bool)  # (N, T, S, P)
    n, t, s, p = active.shape
    cells_f = active.reshape(n * t, s, p).astype(np.float32)
    rows = (cells_f @ np.ones(p, np.float32)).reshape(n, t, s)  # rows sounding at each step
    masks = (layout.step_bits[:s] @ cells_f).astype(np.int64).reshape(n, t, p)  # bit s: the row sounds at step s
    onsets = masks & ~(masks << 1)  # a note starts where the step before is silent
    qualified = onsets
    for k in range(1, layout.min_steps):  # ... and lasts k more steps inside the bar
        qualified = qualified & (masks >> k)
    per_row, note_rows, long_rows = np.bitwise_count(np.stack([masks, onsets, qualified]))  # (N, T, P) each
    notes, long_notes = note_rows.sum(axis=2), long_rows.sum(axis=2)  # (N, T)
    chroma = (per_row.reshape(n, t * p).astype(np.float64) @ layout.classes).reshape(n, t, 12)  # (N, T, 12)
    cells = per_row.sum(axis=2)  # (N, T)
    sounding = cells > 0
    used = (chroma > 0).sum(axis=2)  # (N, T)
    steps = np.clip(rows[..., None] - layout.row_floors, 0.0, 1.0).sum(axis=2)  # (N, T, 2): sounding, polyphonic
    distance = np.zeros((n, t))
    both = np.zeros((n, t), bool)
    first = layout.first_pitched
    if first >= 0:
        total = chroma.sum(axis=2, keepdims=True)
        centroids = chroma / np.maximum(total, 1.0) @ TONAL.T  # (N, T, 6); a silent track's is 0
        both = sounding & sounding[:, first:first + 1]
        apart = centroids - centroids[:, first:first + 1]
        distance = np.sqrt((apart * apart).sum(axis=2)) * both
    ones = np.ones((n, t))
    numerators = np.stack([~sounding, used, long_notes, steps[..., 1], rows @ layout.on_grid, distance], axis=2)
    denominators = np.stack([ones, sounding, notes, steps[..., 0], cells, both], axis=2)
    out = np.stack([numerators, denominators], axis=3) * layout.applies  # (N, T, 6, 2)
    return BarSummary(out, cells, used * ~layout.drums, chroma)


def bar_counts(bars: np.ndarray, spec: RollSpec) -> np.ndarray:
    """float ``(N, T, 6, 2)``: each bar's (numerator, denominator) of every statistic of
    :data:`STATISTICS` for each track (zeros where a statistic does not apply)."""
    return summarise(bars, spec).counts


def ratios(counts: np.ndarray) -> np.ndarray:
    """``(..., 6)`` ratios of summed ``(..., 6, 2)`` counts (NaN where the denominator is 0)."""
    num, den = counts[..., 0], counts[..., 1]
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)
