"""What a restyled bar kept and what it changed, in numpy: the figures of the restyle card.

* chroma similarity: cosine of the two bars' duration-weighted pitch-class profiles over the
  pitched tracks (:func:`daemon.music.bar_features.pitch_class_profile`); NaN when either bar has
  no pitched note;
* onset overlap: Jaccard of the steps where any track starts a note;
* cycle error: of the cells sounding in the source or its round trip, the share that differ
  (1 - intersection over union), and the share of all of the bar's real cells that differ.

No torch here.
"""

from __future__ import annotations

import numpy as np

from daemon.music.bar_features import pitch_class_profile
from daemon.music.pianoroll import RollSpec


def chroma_similarity(a: np.ndarray, b: np.ndarray, spec: RollSpec) -> np.ndarray:
    """``(N,)`` cosine of the pitch-class profiles of bars ``a[i]`` and ``b[i]`` (NaN: one has none)."""
    pa, pb = pitch_class_profile(a, spec), pitch_class_profile(b, spec)
    na, nb = np.linalg.norm(pa, axis=1), np.linalg.norm(pb, axis=1)
    dot = (pa * pb).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((na > 0) & (nb > 0), dot / (na * nb), np.nan)


def onset_cells(bars: np.ndarray, spec: RollSpec) -> np.ndarray:
    """``(N, T, S, P)`` bool: a note starts in the cell (a drum cell is a hit; a pitched cell starts
    a note when the step before it is silent)."""
    bars = np.asarray(bars, bool)
    previous = np.concatenate([np.zeros_like(bars[:, :, :1]), bars[:, :, :-1]], axis=2)
    onsets = bars & ~previous
    for t, track in enumerate(spec.tracks):
        if track.drums:
            onsets[:, t] = bars[:, t]
    return onsets


def onset_steps(bars: np.ndarray, spec: RollSpec) -> np.ndarray:
    """``(N, S)`` bool: some track starts a note at the step."""
    return onset_cells(bars, spec).any(axis=(1, 3))


def note_count(bars: np.ndarray, spec: RollSpec) -> np.ndarray:
    """``(N,)`` notes per bar."""
    return onset_cells(bars, spec).sum(axis=(1, 2, 3))


def onset_overlap(a: np.ndarray, b: np.ndarray, spec: RollSpec) -> np.ndarray:
    """``(N,)`` Jaccard of the onset steps of ``a[i]`` and ``b[i]`` (NaN when neither has one)."""
    oa, ob = onset_steps(a, spec), onset_steps(b, spec)
    union = (oa | ob).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, (oa & ob).sum(axis=1) / union, np.nan)


def cycle_error(source: np.ndarray, round_trip: np.ndarray, spec: RollSpec) -> dict[str, float]:
    """``1 - IoU`` of the sounding cells, and the share of real cells that differ, over all bars."""
    a, b = np.asarray(source, bool), np.asarray(round_trip, bool)
    union = (a | b).sum()
    real_cells = len(a) * spec.steps_per_bar * sum(t.rows for t in spec.tracks)
    return {"one_minus_iou": float(1.0 - (a & b).sum() / union) if union else 0.0,
            "cells_wrong": float((a ^ b).sum() / real_cells) if real_cells else 0.0}


def random_pairs(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices into another set of ``m`` bars, for the random-pair baselines."""
    return rng.integers(0, m, n)
