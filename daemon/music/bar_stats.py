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

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import numpy as np

from daemon.music.bar_features import pitch_class_matrix
from daemon.music.pianoroll import RollSpec

STATISTICS = ("EB", "UPC", "QN", "PP", "DP", "TD")
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


def bar_counts(bars: np.ndarray, spec: RollSpec) -> np.ndarray:
    """float ``(N, T, 5, 2)``: each bar's (numerator, denominator) of every statistic of
    :data:`STATISTICS` for each track (zeros where a statistic does not apply)."""
    active = np.asarray(bars, bool)  # (N, T, S, P)
    n, t, s, _ = active.shape
    out = np.zeros((n, t, len(STATISTICS), 2), np.float64)
    per_row = active.sum(axis=2, dtype=np.float32)  # (N, T, P) steps each row sounds
    chroma = np.einsum("ntp,tpc->ntc", per_row, pitch_class_matrix(spec)).astype(np.float64)
    sounding = active.any(axis=(2, 3))  # (N, T)
    out[:, :, 0, 0] = ~sounding
    out[:, :, 0, 1] = 1.0
    steps_per_beat = spec.grid.ticks_per_beat / spec.ticks_per_step
    min_steps = int(np.ceil(QN_MIN_BEATS * steps_per_beat - 1e-9))
    grid_ticks = DP_GRID_BEATS * spec.grid.ticks_per_beat
    on_grid = np.array([(k * spec.ticks_per_step) % grid_ticks == 0 for k in range(s)])
    used = (chroma > 0).sum(axis=2)
    total = chroma.sum(axis=2, keepdims=True)
    centroids = np.divide(chroma, total, out=np.zeros_like(chroma), where=total > 0) @ TONAL.T  # (N, T, 6)
    pitched = [i for i, track in enumerate(spec.tracks) if not track.drums]
    before = np.concatenate([np.zeros_like(active[:, :, :1]), active[:, :, :-1]], axis=2)
    onsets = active & ~before  # (N, T, S, P) note starts
    qualified = onsets.copy()
    for k in range(1, min_steps):  # the note lasts k more steps inside the bar
        later = np.concatenate([active[:, :, k:], np.zeros_like(active[:, :, :k])], axis=2)
        qualified &= later
    rows = active.sum(axis=3)  # (N, T, S)
    for i, track in enumerate(spec.tracks):
        if track.drums:
            hits = active[:, i].sum(axis=2)  # (N, S)
            out[:, i, 4, 0] = hits[:, on_grid].sum(axis=1)
            out[:, i, 4, 1] = hits.sum(axis=1)
            continue
        out[:, i, 1, 0] = used[:, i] * sounding[:, i]
        out[:, i, 1, 1] = sounding[:, i]
        out[:, i, 2, 0] = qualified[:, i].sum(axis=(1, 2))
        out[:, i, 2, 1] = onsets[:, i].sum(axis=(1, 2))
        out[:, i, 3, 0] = (rows[:, i] >= PP_MIN_PITCHES).sum(axis=1)
        out[:, i, 3, 1] = (rows[:, i] >= 1).sum(axis=1)
        if i != pitched[0]:
            both = sounding[:, i] & sounding[:, pitched[0]]
            out[:, i, 5, 0] = np.linalg.norm(centroids[:, i] - centroids[:, pitched[0]], axis=1) * both
            out[:, i, 5, 1] = both
    return out


def ratios(counts: np.ndarray) -> np.ndarray:
    """``(..., 5)`` ratios of summed ``(..., 5, 2)`` counts (NaN where the denominator is 0)."""
    num, den = counts[..., 0], counts[..., 1]
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)
