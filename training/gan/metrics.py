"""Bar metrics for the GAN (after MuseGAN, Dong et al. 2018), written here and tested on
hand-built rolls.

Every metric reads only the ``active`` plane, bool ``(N, T, S, P)`` (bars, tracks, steps,
pitch rows), and the :class:`~daemon.music.pianoroll.RollSpec` that says what a row means.
The GAN emits no onset plane, so a *note* here is a maximal run of active steps of one row
inside one bar; real and generated bars are measured the same way (the training roll keeps
repeated notes apart with the articulation gap of ``training/gan/data.py``).

Definitions (time in beats = quarter notes, so they do not depend on the step size):

``EB``  empty bars: fraction of bars in which the track has no active step (every track).
``UPC`` used pitch classes: distinct *true* pitch classes ``(lowest_pitch + row) mod 12``
        sounding in a bar, averaged over the bars where the track is not empty (pitched tracks).
``QN``  qualified notes: fraction of notes lasting at least ``qn_min_beats`` (default 0.75
        beat = 3 sixteenth steps), pooled over all bars (pitched tracks).
``PP``  polyphony: fraction of *sounding* steps (at least one active row) with at least
        ``pp_min_pitches`` (default 3) rows active, pooled over all bars (pitched tracks).
``DP``  drum pattern: fraction of drum hits (active steps of a drum track) whose onset lies on
        the eighth-note grid (a multiple of ``dp_grid_beats`` = 0.5 beat), pooled (drum tracks).
``TD``  tonal distance between two pitched tracks: Euclidean distance between the 6-d tonal
        centroids (Harte, Sandler & Gasser 2006; r1 = r2 = 1, r3 = 0.5) of their L1-normalised,
        duration-weighted chroma vectors in the same bar, averaged over bars where both sound.
Key     Krumhansl-Schmuckler estimate of a bar's key (24 keys) from the duration-weighted
        pitch-class profile of all its pitched tracks (Krumhansl-Kessler profiles, Pearson
        correlation); agreement of a bar's key with its previous bar's key, exactly and up to
        relative major/minor (same key signature).

Where these differ from the MuseGAN papers and code:

* Pitch classes: the MuseGAN code builds "chroma" (for UPC and TD) by reshaping the 84 pitch
  rows to ``(12, 7)`` and summing, which groups runs of *adjacent* semitones, not octave
  equivalents; here a pitch class is the true ``pitch mod 12``.
* QN: the paper counts notes of at least 3 steps at 24 steps per beat (a 32nd note); its code
  uses 2 steps. On this sixteenth-note grid every note is at least a 16th, so that test would
  always pass; QN here asks for at least 0.75 beat (a dotted eighth, 3 steps).
* PP: the paper divides by all steps; here by sounding steps, so that PP measures how chordal
  the track is and not also how dense it is (density shows in EB and QN).
* DP: the paper counts drum notes on a 16th-note grid (with a tolerance) at 24 steps per beat;
  here every step *is* a 16th, so the 16th-note DP would be 1 by construction; DP counts hits
  on the 8th-note grid instead.
* Metrics are pooled over all bars (ratios of sums) rather than averaged per bar, so a bar
  with one note weighs as much as its one note.

numpy only; no torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from daemon.music.bar_features import pitch_class_matrix
from daemon.music.bar_stats import DP_GRID_BEATS, PP_MIN_PITCHES, QN_MIN_BEATS, tonal_matrix
from daemon.music.keys import MAJOR_PROFILE, MINOR_PROFILE
from daemon.music.pianoroll import RollSpec

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first: the daemon's, so both agree.
KK_MAJOR, KK_MINOR = MAJOR_PROFILE, MINOR_PROFILE
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
NO_KEY = -1

# qualified notes last a dotted eighth (3 sixteenth steps); polyphonic steps have 3 rows; drum hits
# on the eighth-note grid: defined once, with the daemon's per-bar counts (daemon/music/bar_stats.py)
TRACK_METRICS = ("EB", "UPC", "QN", "PP", "DP")


def _check(active: np.ndarray, spec: RollSpec) -> np.ndarray:
    active = np.asarray(active).astype(bool, copy=False)
    if active.ndim != 4 or active.shape[1:] != spec.bar_shape:
        raise ValueError(f"bars of shape {active.shape} do not match the roll {spec.bar_shape}")
    return active


def _safe_ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else math.nan


def empty_bars(active: np.ndarray, spec: RollSpec) -> np.ndarray:
    """EB per track, ``(T,)``: fraction of bars where the track is silent."""
    active = _check(active, spec)
    if not len(active):
        return np.full(len(spec.tracks), math.nan)
    return (~active.any(axis=(2, 3))).mean(axis=0)


def chroma(active: np.ndarray, spec: RollSpec) -> np.ndarray:
    """Duration-weighted chroma ``(N, T, 12)``: active steps per true pitch class (drums: zeros)."""
    active = _check(active, spec)
    return np.einsum("ntsp,tpc->ntc", active.astype(np.float32), pitch_class_matrix(spec))


def used_pitch_classes(active: np.ndarray, spec: RollSpec) -> np.ndarray:
    """UPC per track, ``(T,)``: mean distinct pitch classes per non-empty bar (NaN for drums)."""
    active = _check(active, spec)
    used = (chroma(active, spec) > 0).sum(axis=2)  # (N, T)
    sounding = active.any(axis=(2, 3))  # (N, T)
    out = np.full(len(spec.tracks), math.nan)
    for t, track in enumerate(spec.tracks):
        if not track.drums and sounding[:, t].any():
            out[t] = used[sounding[:, t], t].mean()
    return out


def note_runs(active: np.ndarray, spec: RollSpec, track: int) -> tuple[np.ndarray, np.ndarray]:
    """Start step and length in steps of every note (maximal run of active steps of a row within
    a bar) of ``track``."""
    active = _check(active, spec)
    rows = active[:, track].transpose(0, 2, 1).reshape(-1, active.shape[2]).astype(np.int8)  # (N*P, S)
    edges = np.diff(np.pad(rows, ((0, 0), (1, 1))), axis=1)  # +1 at a start, -1 after an end
    starts = np.nonzero(edges == 1)
    ends = np.nonzero(edges == -1)
    return starts[1], ends[1] - starts[1]  # row-major order pairs each start with its end


def note_lengths(active: np.ndarray, spec: RollSpec, track: int) -> np.ndarray:
    """Lengths in steps of every note of ``track`` (:func:`note_runs`)."""
    return note_runs(active, spec, track)[1]


def note_shapes(active: np.ndarray, spec: RollSpec, grid_beats: float = DP_GRID_BEATS) -> dict[str, dict[str, float]]:
    """Two diagnostics of pitched tracks' notes, not MuseGAN metrics: ``off-grid onsets``, the
    share of notes starting off the ``grid_beats`` grid (the eighth-note grid, as DP counts drum
    hits), and ``one-step notes``, the share of notes one step long. ``{track name: {...}}``."""
    active = _check(active, spec)
    grid_ticks = grid_beats * spec.grid.ticks_per_beat
    on_grid = np.array([(s * spec.ticks_per_step) % grid_ticks == 0 for s in range(spec.steps_per_bar)])
    out: dict[str, dict[str, float]] = {}
    for t, track in enumerate(spec.tracks):
        if track.drums:
            continue
        starts, lengths = note_runs(active, spec, t)
        out[track.name] = {"off-grid onsets": _safe_ratio((~on_grid[starts]).sum(), len(starts)),
                           "one-step notes": _safe_ratio((lengths == 1).sum(), len(lengths))}
    return out


def silence_kept(previous: np.ndarray, bars: np.ndarray, spec: RollSpec) -> dict[str, dict[str, float]]:
    """A diagnostic of conditioning, not a MuseGAN metric: for each track, of the bars whose
    previous bar leaves the track silent, the share that leave it silent too (``kept``), and
    how many such pairs there are (``pairs``). ``{track name: {"kept": .., "pairs": ..}}``."""
    previous, bars = _check(previous, spec), _check(bars, spec)
    if len(previous) != len(bars):
        raise ValueError(f"{len(previous)} previous bars for {len(bars)} bars")
    out: dict[str, dict[str, float]] = {}
    for t, track in enumerate(spec.tracks):
        before = ~previous[:, t].any(axis=(1, 2))
        after = ~bars[:, t].any(axis=(1, 2))
        out[track.name] = {"kept": _safe_ratio((before & after).sum(), before.sum()), "pairs": int(before.sum())}
    return out


def qualified_notes(active: np.ndarray, spec: RollSpec, min_beats: float = QN_MIN_BEATS) -> np.ndarray:
    """QN per track, ``(T,)``: fraction of notes lasting at least ``min_beats`` (NaN for drums)."""
    active = _check(active, spec)
    steps_per_beat = spec.grid.ticks_per_beat / spec.ticks_per_step
    min_steps = math.ceil(min_beats * steps_per_beat - 1e-9)
    out = np.full(len(spec.tracks), math.nan)
    for t, track in enumerate(spec.tracks):
        if track.drums:
            continue
        lengths = note_lengths(active, spec, t)
        out[t] = _safe_ratio((lengths >= min_steps).sum(), len(lengths))
    return out


def polyphony(active: np.ndarray, spec: RollSpec, min_pitches: int = PP_MIN_PITCHES) -> np.ndarray:
    """PP per track, ``(T,)``: fraction of sounding steps with at least ``min_pitches`` rows (NaN for drums)."""
    active = _check(active, spec)
    counts = active.sum(axis=3)  # (N, T, S)
    out = np.full(len(spec.tracks), math.nan)
    for t, track in enumerate(spec.tracks):
        if not track.drums:
            out[t] = _safe_ratio((counts[:, t] >= min_pitches).sum(), (counts[:, t] >= 1).sum())
    return out


def drum_pattern(active: np.ndarray, spec: RollSpec, grid_beats: float = DP_GRID_BEATS) -> np.ndarray:
    """DP per track, ``(T,)``: fraction of drum hits on a grid of ``grid_beats`` (NaN for pitched tracks)."""
    active = _check(active, spec)
    grid_ticks = grid_beats * spec.grid.ticks_per_beat
    on_grid = np.array([(s * spec.ticks_per_step) % grid_ticks == 0 for s in range(spec.steps_per_bar)])
    hits = active.sum(axis=(0, 3))  # (T, S)
    out = np.full(len(spec.tracks), math.nan)
    for t, track in enumerate(spec.tracks):
        if track.drums:
            out[t] = _safe_ratio(hits[t, on_grid].sum(), hits[t].sum())
    return out


def tonal_centroid(chroma_vectors: np.ndarray) -> np.ndarray:
    """``(..., 12)`` chroma -> ``(..., 6)`` tonal centroids of the L1-normalised chroma (zeros stay zeros)."""
    c = np.asarray(chroma_vectors, np.float64)
    total = c.sum(axis=-1, keepdims=True)
    c = np.divide(c, total, out=np.zeros_like(c), where=total > 0)
    return c @ tonal_matrix().T


def pitched_pairs(spec: RollSpec) -> list[tuple[int, int]]:
    """Every pair of pitched tracks, in track order."""
    pitched = [t for t, track in enumerate(spec.tracks) if not track.drums]
    return [(a, b) for i, a in enumerate(pitched) for b in pitched[i + 1:]]


def tonal_distance(active: np.ndarray, spec: RollSpec,
                   pairs: Sequence[tuple[int, int]] | None = None) -> dict[str, float]:
    """TD per pair of pitched tracks, keyed ``"bass-chords"``: mean over bars where both sound."""
    active = _check(active, spec)
    centroids = tonal_centroid(chroma(active, spec))  # (N, T, 6)
    sounding = active.any(axis=(2, 3))  # (N, T)
    out: dict[str, float] = {}
    for a, b in pairs if pairs is not None else pitched_pairs(spec):
        both = sounding[:, a] & sounding[:, b]
        dist = np.linalg.norm(centroids[both, a] - centroids[both, b], axis=1)
        out[f"{spec.tracks[a].name}-{spec.tracks[b].name}"] = float(dist.mean()) if len(dist) else math.nan
    return out


def key_profiles() -> np.ndarray:
    """``(24, 12)``: the major profiles on each tonic, then the minor ones."""
    return np.stack([np.roll(KK_MAJOR, k) for k in range(12)] + [np.roll(KK_MINOR, k) for k in range(12)])


def key_name(key: int) -> str:
    """``0`` -> ``"C major"``, ``21`` -> ``"A minor"``, ``-1`` -> ``"none"``."""
    if key == NO_KEY:
        return "none"
    return f"{PITCH_NAMES[key % 12]} {'major' if key < 12 else 'minor'}"


def estimate_keys(profiles: np.ndarray) -> np.ndarray:
    """Krumhansl-Schmuckler keys ``(N,)`` (0-11 major, 12-23 minor, -1 where a profile is flat or empty)."""
    x = np.asarray(profiles, np.float64)  # (N, 12)
    xc = x - x.mean(axis=1, keepdims=True)
    k = key_profiles()
    kc = k - k.mean(axis=1, keepdims=True)  # (24, 12)
    norm_x = np.linalg.norm(xc, axis=1)  # (N,)
    corr = (xc @ kc.T) / (np.maximum(norm_x, 1e-12)[:, None] * np.linalg.norm(kc, axis=1)[None])  # (N, 24)
    keys = corr.argmax(axis=1)
    keys[norm_x < 1e-9] = NO_KEY
    return keys


def bar_keys(active: np.ndarray, spec: RollSpec) -> np.ndarray:
    """Key of each bar ``(N,)`` from all its pitched tracks (-1 for a bar with no pitched note)."""
    return estimate_keys(chroma(active, spec).sum(axis=1))


def same_signature(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True where two keys share a key signature (equal, or relative major/minor)."""
    def major_of(k: np.ndarray) -> np.ndarray:
        return np.where(k < 12, k, (k - 12 + 3) % 12)
    return major_of(a) == major_of(b)


@dataclass(frozen=True)
class KeyAgreement:
    """How often bars are in their previous bar's key.

    Attributes:
        exact: fraction of pairs with the same estimated key (of 24).
        signature: fraction with the same key signature (relative major/minor agree).
        pairs: pairs counted (both bars have pitched notes).
    """

    exact: float
    signature: float
    pairs: int

    def to_dict(self) -> dict[str, float | int]:
        return {"exact": self.exact, "signature": self.signature, "pairs": self.pairs}


def key_agreement(previous: np.ndarray, bars: np.ndarray, spec: RollSpec) -> KeyAgreement:
    """Agreement of each bar's key with the key of its previous bar (pairs by index)."""
    k_prev, k_bar = bar_keys(previous, spec), bar_keys(bars, spec)
    both = (k_prev != NO_KEY) & (k_bar != NO_KEY)
    n = int(both.sum())
    if not n:
        return KeyAgreement(math.nan, math.nan, 0)
    return KeyAgreement(float((k_prev[both] == k_bar[both]).mean()),
                        float(same_signature(k_prev[both], k_bar[both]).mean()), n)


def track_metrics(active: np.ndarray, spec: RollSpec) -> dict[str, dict[str, float]]:
    """Every per-track metric: ``{track name: {"EB": .., "UPC": .., "QN": .., "PP": .., "DP": ..}}``
    (NaN where a metric does not apply to the track)."""
    active = _check(active, spec)
    columns = {"EB": empty_bars(active, spec), "UPC": used_pitch_classes(active, spec),
               "QN": qualified_notes(active, spec), "PP": polyphony(active, spec), "DP": drum_pattern(active, spec)}
    return {track.name: {m: float(columns[m][t]) for m in TRACK_METRICS} for t, track in enumerate(spec.tracks)}


def all_metrics(active: np.ndarray, spec: RollSpec) -> dict[str, dict[str, float]]:
    """Per-track metrics plus ``{"TD": {pair: value}}``."""
    out = track_metrics(active, spec)
    out["TD"] = tonal_distance(active, spec)
    return out


SMALL_REFERENCE = 0.1  # below this a relative gap is taken against 0.1 (EB of 0.02 vs 0.03 is close)


def relative_gap(value: float, reference: float, floor: float = SMALL_REFERENCE) -> float:
    """``|value - reference| / max(|reference|, floor)`` (NaN where either is NaN)."""
    if not (math.isfinite(reference) and math.isfinite(value)):
        return math.nan
    return abs(value - reference) / max(abs(reference), floor)


def comparison_table(reference: Mapping[str, Mapping[str, float]], columns: Mapping[str, Mapping[str, Mapping[str, float]]],
                     tolerance: float = 0.10, td_tolerance: float = 0.10) -> str:
    """A markdown table: one row per (track, metric), the reference value and each column's value.

    A column's value is marked ``ok`` when within ``tolerance`` (relative, see
    :func:`relative_gap`) of the reference, and TD rows when within ``td_tolerance`` (absolute).
    """
    names = list(columns)
    header = "| track | metric | training data | " + " | ".join(names) + " |"
    lines = [header, "|" + "---|" * (3 + len(names))]
    for track, metrics in reference.items():
        for metric, ref in metrics.items():
            if not math.isfinite(ref):
                continue
            cells = []
            for name in names:
                value = columns[name].get(track, {}).get(metric, math.nan)
                if track == "TD":
                    ok = math.isfinite(value) and abs(value - ref) <= td_tolerance
                else:
                    gap = relative_gap(value, ref)
                    ok = math.isfinite(gap) and gap <= tolerance
                cells.append(f"{value:.3f} {'ok' if ok else 'off'}")
            lines.append(f"| {track} | {metric} | {ref:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
