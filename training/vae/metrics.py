"""Figures of 2-bar phrases for the phrase VAE's evaluation (numpy only).

* :func:`note_matches` -- reconstruction accuracy: notes of the original phrase found in the
  decoded one with the same onset, pitch and duration.
* :func:`phrase_figures` -- pitch-class entropy, scale consistency, notes per bar, groove
  consistency (bar 1 against bar 2), polyphony, mean pitch and pitch range
  (the LSTM's continuation figures, :mod:`training.lstm.metrics`, on one phrase).
* :func:`figure_distance` -- how far apart two phrases are in those figures, each figure's
  difference divided by its spread over real phrases.
* :func:`attribute_values` -- the four attributes the latent directions are fitted to and judged by;
  :func:`attribute_vectors` fits them (:func:`mode_vector` the major/minor one).
* :func:`crossfade` / :func:`splice` -- the naive ways to blend two phrases that a latent
  interpolation's midpoint is compared with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from daemon.music.keys import Key, estimate_key
from daemon.music.notes import Note
from training.lstm.metrics import groove_consistency, pitch_class_entropy, polyphony, scale_consistency

PHRASE_BARS = 2
# polyphony is left out: a folk phrase is one line (its spread is ~0), so any chord would dominate the
# mean; it is reported on its own beside the distances
DISTANCE_FIGURES = ("pitch_class_entropy", "scale_consistency", "notes_per_bar", "groove_consistency", "mean_pitch",
                    "pitch_range")
ATTRIBUTES = ("density", "register", "busyness", "major")
SHORT_NOTE_TICKS = 3  # a sixteenth at 12 ticks per beat: notes this short or shorter make a phrase busy
# The degrees that tell a major from a minor mode on the same tonic: the third, sixth and seventh,
# in semitones above the tonic (major 3rd, 6th, 7th against minor 3rd, 6th, 7th).
MAJOR_DEGREES = (4, 9, 11)
MINOR_DEGREES = (3, 8, 10)
MIN_MODE_PHRASES = 20  # phrases of each mode a tonic needs before it counts in the major/minor vector


def note_matches(original: Sequence[Note], decoded: Sequence[Note]) -> tuple[int, int]:
    """(notes of ``original`` found in ``decoded`` with the same onset, pitch and duration, notes
    of ``original``); each decoded note matches at most once."""
    left = {}
    for n in decoded:
        key = (n.start, n.pitch, n.duration)
        left[key] = left.get(key, 0) + 1
    hits = 0
    for n in original:
        key = (n.start, n.pitch, n.duration)
        if left.get(key, 0) > 0:
            left[key] -= 1
            hits += 1
    return hits, len(original)


def phrase_figures(notes: Sequence[Note], ticks_per_bar: int) -> dict[str, float]:
    """Figures of one phrase (NaN where a figure needs notes it does not have)."""
    pitches = np.array([n.pitch for n in notes], np.float64)
    return {
        "pitch_class_entropy": pitch_class_entropy(notes),
        "scale_consistency": scale_consistency(notes),
        "notes_per_bar": len(notes) / PHRASE_BARS,
        "groove_consistency": groove_consistency(notes, ticks_per_bar, 0, PHRASE_BARS),
        "polyphony": polyphony(notes),
        "mean_pitch": float(pitches.mean()) if len(pitches) else float("nan"),
        "pitch_range": float(pitches.max() - pitches.min()) if len(pitches) else float("nan"),
    }


def figure_spread(rows: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Per figure over phrases: mean, standard deviation, 5th and 95th percentiles (NaNs left out)."""
    out = {}
    for key in rows[0] if rows else ():
        values = np.array([r[key] for r in rows], np.float64)
        values = values[~np.isnan(values)]
        if not len(values):
            out[key] = {"mean": float("nan"), "std": float("nan"), "p5": float("nan"), "p95": float("nan"), "n": 0}
            continue
        out[key] = {"mean": float(values.mean()), "std": float(values.std()), "p5": float(np.percentile(values, 5)),
                    "p95": float(np.percentile(values, 95)), "n": len(values)}
    return out


def figure_distance(a: Mapping[str, float], b: Mapping[str, float], scale: Mapping[str, float]) -> float:
    """Mean over :data:`DISTANCE_FIGURES` of ``|a - b| / scale`` (figures NaN in either are left out)."""
    terms = [abs(a[k] - b[k]) / scale[k] for k in DISTANCE_FIGURES
             if not (np.isnan(a[k]) or np.isnan(b[k])) and scale[k] > 0]
    return float(np.mean(terms)) if terms else float("nan")


def crossfade(a: Sequence[Note], b: Sequence[Note]) -> list[Note]:
    """The naive blend of two phrases: both note lists at once, each at half its velocity."""
    return sorted(Note(n.start, n.pitch, n.duration, max(1, n.velocity // 2), n.channel) for n in [*a, *b])


def splice(a: Sequence[Note], b: Sequence[Note], ticks_per_bar: int) -> list[Note]:
    """Bar 1 of ``a`` then bar 2 of ``b`` (notes of ``a`` cut at the bar line)."""
    first = [Note(n.start, n.pitch, min(n.duration, ticks_per_bar - n.start), n.velocity, n.channel)
             for n in a if n.start < ticks_per_bar]
    return sorted([*first, *(n for n in b if n.start >= ticks_per_bar)])


def major_share(notes: Sequence[Note], tonic: int | None) -> float:
    """How major ``notes`` are on ``tonic`` (pitch class): the duration-weighted share of their
    thirds, sixths and sevenths above it that are major (:data:`MAJOR_DEGREES`) rather than minor
    (:data:`MINOR_DEGREES`); 1 all major, 0 all minor, NaN when there is none or no tonic."""
    if tonic is None:
        return float("nan")
    degree = np.array([(n.pitch - tonic) % 12 for n in notes], np.int64)
    weight = np.array([n.duration for n in notes], np.float64)
    major, minor = weight[np.isin(degree, MAJOR_DEGREES)].sum(), weight[np.isin(degree, MINOR_DEGREES)].sum()
    return float(major / (major + minor)) if major + minor > 0 else float("nan")


def attribute_values(notes: Sequence[Note], tonic: int | None = None) -> dict[str, float]:
    """``density`` notes per bar, ``register`` mean pitch, ``busyness`` share of notes of a
    sixteenth or shorter, ``major`` :func:`major_share` on ``tonic`` (None: the tonic of the
    phrase's own key estimate). A phrase moved along a vector is judged on the tonic of the phrase
    it was moved from: its own key estimate would read a phrase moved to the parallel minor
    (D major to D minor) as the relative major (F major) as often as not."""
    if not notes:
        return {k: float("nan") for k in ATTRIBUTES}
    if tonic is None:
        key = estimate_key(notes)
        tonic = None if key is None else key.root
    return {
        "density": len(notes) / PHRASE_BARS,
        "register": float(np.mean([n.pitch for n in notes])),
        "busyness": float(np.mean([n.duration <= SHORT_NOTE_TICKS for n in notes])),
        "major": major_share(notes, tonic),
    }


def mode_differences(mus: np.ndarray, keys: Sequence[Key | None]) -> tuple[np.ndarray, np.ndarray]:
    """Per tonic (pitch class 0-11): the mean code of the phrases whose key (``keys``) is major on it
    minus that of those minor on it (the parallel modes: D major against D minor, so the tonic and the
    scale's other notes stay out of it), ``(12, Z)`` (NaN rows where a mode is missing), and the
    smaller of the two counts, ``(12,)``."""
    differences = np.full((12, mus.shape[1]), np.nan, np.float64)
    counts = np.zeros(12, np.int64)
    for tonic in range(12):
        major = [i for i, k in enumerate(keys) if k is not None and k.root == tonic and not k.minor]
        minor = [i for i, k in enumerate(keys) if k is not None and k.root == tonic and k.minor]
        counts[tonic] = min(len(major), len(minor))
        if counts[tonic]:
            differences[tonic] = mus[major].mean(axis=0) - mus[minor].mean(axis=0)
    return differences, counts


def mode_vector(mus: np.ndarray, tune_keys: Sequence[Key | None]) -> np.ndarray | None:
    """The major/minor direction of one vector: :func:`mode_differences` by the key estimate of each
    phrase's whole tune (``tune_keys``), averaged over the tonics with at least
    :data:`MIN_MODE_PHRASES` phrases of each mode, weighted by the smaller count. None when no
    tonic has both. It moves phrases in the keys it was fitted on (the folk tunes' D, G, A, E) far
    more than others: the code keeps the mode apart in each key."""
    differences, counts = mode_differences(mus, tune_keys)
    keep = counts >= MIN_MODE_PHRASES
    if not keep.any():
        return None
    return np.average(differences[keep], axis=0, weights=counts[keep]).astype(np.float32)


def attribute_vectors(mus: np.ndarray, values: Sequence[Mapping[str, float]], quantile: float = 0.25,
                      tune_keys: Sequence[Key | None] | None = None) -> dict[str, np.ndarray]:
    """Latent direction per attribute: mean code of the phrases in its top ``quantile`` minus the
    mean code of its bottom ``quantile``; ``major`` with ``tune_keys`` (each phrase's tune's key) is
    :func:`mode_vector` instead. An attribute whose two quantiles are equal (the phrases barely vary
    in it: a chorale soprano has almost no off-beat onsets) gets no direction: its two ends would
    be split by ties, not by the attribute."""
    out = {}
    for name in ATTRIBUTES:
        if name == "major" and tune_keys is not None:
            vector = mode_vector(mus, tune_keys)
            if vector is not None:
                out[name] = vector
            continue
        v = np.array([row[name] for row in values], np.float64)
        ok = ~np.isnan(v)
        if not ok.any():
            continue
        lo_cut, hi_cut = np.quantile(v[ok], [quantile, 1 - quantile])
        if hi_cut <= lo_cut:
            continue
        high, low = ok & (v >= hi_cut), ok & (v <= lo_cut)
        if high.sum() and low.sum():
            out[name] = (mus[high].mean(axis=0) - mus[low].mean(axis=0)).astype(np.float32)
    return out


def nan_mean(values: Sequence[float] | np.ndarray) -> float:
    """Mean of the values that are not NaN (NaN when none is)."""
    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if len(v) else float("nan")


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties; NaN when either side is constant)."""
    def ranks(values: np.ndarray) -> np.ndarray:
        order = np.argsort(values, kind="stable")
        r = np.empty(len(values))
        r[order] = np.arange(len(values), dtype=np.float64)
        for v in np.unique(values):
            tie = values == v
            r[tie] = r[tie].mean()
        return r
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])
