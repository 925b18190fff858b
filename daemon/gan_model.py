"""Sample pianoroll bars from an exported GAN generator with onnxruntime.

The generator graph (written by ``export/gan_onnx.py``) maps

* ``noise``     float32 ``(B, Z)``               standard normal,
* ``previous``  float32 ``(B, tracks, steps, pitches)`` the previous bar's active roll (0/1),
* ``condition`` float32 ``(B, 13)``              the previous bar's pitch-class profile (12)
  and a flag that says whether there is a previous bar at all (1) or not (0),

to ``roll`` float32 ``(B, tracks, steps, pitches)`` in [0, 1]. A file exported with candidates
takes ``K`` noise vectors for each previous bar, ``noise`` ``(B, K, Z)``, and puts out ``K``
rolls of each, ``roll`` ``(B, K, tracks, steps, pitches)``, and ``score`` float32 ``(B, K)``:
the training critic's judgement of each thresholded roll (higher = more like the training
bars; :func:`choose_candidates`); what depends on the previous bar alone is computed once for
its ``K`` candidates. ``K`` is free: 1 for a single bar. :func:`condition_features`
builds the two conditioning inputs from bars; training imports it too, so the model is fed
exactly what it learned on. A zero ``previous`` with flag 0 is the *unconditioned* sample
(the model was trained with conditioning dropout).

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from daemon.errors import AntiphonError, ModelError
from daemon.representation import (
    DEFAULT_VELOCITY,
    DRUM_CHANNEL,
    Bars,
    Note,
    RollSpec,
    binarise,
    codec_from_dict,
    notes_to_bars,
)

log = logging.getLogger(__name__)

KIND = "gan"
FORMAT_VERSION = "1"
N_PITCH_CLASSES = 12
CONDITION_DIM = N_PITCH_CLASSES + 1  # pitch-class profile + "there is a previous bar" flag
META_PREFIX = "antiphon."
INPUT_NAMES = ("noise", "previous", "condition")
LIKELIEST_ROW, ANY_ROW = "likeliest-row", "any-row"  # how voices are decoded (one_per_step)
VOICE_DECODINGS = (LIKELIEST_ROW, ANY_ROW)
_EPS = 1e-6  # probabilities are clipped to [eps, 1 - eps] before log-odds
OUTPUT_NAMES = ("roll",)
CANDIDATE_AXIS = "candidates"  # noise (B, K, Z) of a file exported with candidates
SCORE_NAME = "score"  # the critic's score of each thresholded roll, in files exported with candidates
MAX_CANDIDATES = 64


@functools.lru_cache(maxsize=16)
def pitch_class_matrix(spec: RollSpec) -> np.ndarray:
    """``(tracks, pitches, 12)`` float32, read-only: row ``r`` of a pitched track sounds pitch class
    ``(lowest_pitch + r) % 12``; drum tracks and rows a track does not have map to nothing."""
    n_tracks, _, n_pitches = spec.bar_shape
    out = np.zeros((n_tracks, n_pitches, N_PITCH_CLASSES), np.float32)
    for t, track in enumerate(spec.tracks):
        if track.drums:
            continue
        rows = np.arange(track.n_pitches)
        out[t, rows, (track.lowest_pitch + rows) % N_PITCH_CLASSES] = 1.0
    out.setflags(write=False)
    return out


def pitch_class_profile(active: np.ndarray, spec: RollSpec) -> np.ndarray:
    """Duration-weighted pitch-class profile of each bar over the pitched tracks.

    Args:
        active: ``(N, tracks, steps, pitches)`` bool or 0/1 roll.
        spec: the roll's layout.

    Returns:
        ``(N, 12)`` float32: sounding steps per pitch class, normalised to sum to 1 (all zeros
        for a bar with no pitched note).
    """
    counts = np.einsum("ntsp,tpc->nc", np.asarray(active, np.float32), pitch_class_matrix(spec))  # (N, 12)
    total = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)


def condition_features(previous: np.ndarray | None, spec: RollSpec, n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The generator's conditioning inputs for previous bars.

    Args:
        previous: ``(N, tracks, steps, pitches)`` active roll of the previous bars, or None for
            ``n`` unconditioned samples.
        spec: the roll's layout.
        n: number of samples when ``previous`` is None.

    Returns:
        ``previous`` float32 ``(N, tracks, steps, pitches)`` and ``condition`` float32 ``(N, 13)``.
    """
    if previous is None:
        shape = (n, *spec.bar_shape)
        return np.zeros(shape, np.float32), np.zeros((n, CONDITION_DIM), np.float32)
    roll = np.asarray(previous, np.float32)
    if roll.ndim != 4 or roll.shape[1:] != spec.bar_shape:
        raise ModelError(f"a previous bar of shape {roll.shape[1:]} does not fit this model's bars {spec.bar_shape}")
    flag = np.ones((len(roll), 1), np.float32)
    return roll, np.concatenate([pitch_class_profile(roll, spec), flag], axis=1)


def articulate(active: np.ndarray, onset: np.ndarray, spec: RollSpec) -> np.ndarray:
    """Apply the articulation gap to consecutive bars of one piece.

    Args:
        active: bool ``(bars, tracks, steps, pitches)``.
        onset: bool, same shape.
        spec: the layout (drum tracks are left alone).

    Returns:
        A copy of ``active`` where, in pitched tracks, the step just before a re-onset of a
        still-sounding row is cleared when the note it ends is at least two steps long.
    """
    n_bars, n_tracks, steps, pitches = active.shape
    flat_active = active.transpose(1, 0, 2, 3).reshape(n_tracks, n_bars * steps, pitches).copy()
    flat_onset = onset.transpose(1, 0, 2, 3).reshape(n_tracks, n_bars * steps, pitches)
    for t, track in enumerate(spec.tracks):
        if track.drums:
            continue
        a, o = flat_active[t], flat_onset[t]  # (time, pitches)
        before = np.zeros_like(a)
        before[:-1] = o[1:] & a[1:]  # a new onset at the next step
        long_note = np.zeros_like(a)
        long_note[1:] = a[:-1] & ~o[1:]  # the step continues the note sounding at the step before
        a &= ~(before & long_note)
    return np.ascontiguousarray(flat_active.reshape(n_tracks, n_bars, steps, pitches).transpose(1, 0, 2, 3))


def assign_tracks(notes: Sequence[Note], spec: RollSpec) -> list[list[Note]]:
    """Sort a file's or a player's notes into the roll's tracks.

    Drum-channel notes (channel 10) go to the first drum track (dropped if there is none).
    Pitched notes go by channel when every pitched channel is one a track plays on; otherwise
    each channel goes to the pitched track whose register (the middle of its rows) is nearest
    the channel's mean pitch (with as many channels as tracks, lowest channel to lowest track).
    """
    out: list[list[Note]] = [[] for _ in spec.tracks]
    drum_tracks = [t for t, track in enumerate(spec.tracks) if track.drums]
    pitched = [t for t, track in enumerate(spec.tracks) if not track.drums]
    by_channel: dict[int, list[Note]] = {}
    for n in notes:
        if n.channel == DRUM_CHANNEL:
            if drum_tracks:
                out[drum_tracks[0]].append(n)
        else:
            by_channel.setdefault(n.channel, []).append(n)
    if not pitched or not by_channel:
        return out
    track_of_channel = {spec.tracks[t].channel: t for t in pitched}
    if set(by_channel) <= set(track_of_channel):
        mapping = {ch: track_of_channel[ch] for ch in by_channel}
    else:
        mean = {ch: float(np.mean([n.pitch for n in ns])) for ch, ns in by_channel.items()}
        centre = {t: spec.tracks[t].lowest_pitch + spec.tracks[t].n_pitches / 2 for t in pitched}
        channels = sorted(by_channel, key=lambda ch: mean[ch])
        if len(channels) == len(pitched):
            mapping = dict(zip(channels, sorted(pitched, key=lambda t: centre[t])))
        else:
            mapping = {ch: min(pitched, key=lambda t: abs(centre[t] - mean[ch])) for ch in channels}
    for ch, ns in by_channel.items():
        out[mapping[ch]].extend(ns)
    return out


def last_bar(tracks: Sequence[Sequence[Note]], spec: RollSpec) -> np.ndarray | None:
    """The roll the model would see for the last bar that has a note, ``(1, T, S, P)`` bool, or
    None when no note falls in a track."""
    if not any(tracks):
        return None
    bars = notes_to_bars(tracks, spec)
    sounding = np.flatnonzero(bars.active.any(axis=(1, 2, 3)))
    if not len(sounding):
        return None
    rolled = articulate(bars.active, bars.onset, spec)  # the training roll's convention
    return rolled[sounding[-1]][None]


def one_per_step(roll: np.ndarray, tracks: Sequence[int], any_row: bool = False) -> np.ndarray:
    """Decode each of ``tracks`` as one voice: at most one row per step (voice decoding).

    A track the training data plays one note at a time (a chorale voice) is decoded as one:
    at each step every row but the likeliest is set to 0, so a threshold or a Bernoulli draw
    afterwards gives at most one note per step. The likeliest row keeps its own probability
    (a model trained on plainly thresholded bars: the voice sounds where that row passes the
    threshold, as the critic saw it) or, with ``any_row``, takes the probability that any row
    of the step is on, ``1 - prod(1 - p)`` (a model trained with voice neurons, whose critic
    saw each voice decoded that way: three rows at 0.3 make a step that sounds).

    Args:
        roll: float ``(B, T, S, P)`` probabilities.
        tracks: indices of the monophonic tracks.
        any_row: give the kept row the step's any-row probability.

    Returns:
        A copy of ``roll`` with, in those tracks, one non-zero row per step.
    """
    out = np.array(roll, np.float32, copy=True)
    for t in tracks:
        part = np.clip(out[:, t], 0.0, 1.0)  # (B, S, P)
        keep = np.zeros(part.shape, bool)
        np.put_along_axis(keep, part.argmax(axis=-1)[..., None], True, axis=-1)
        if any_row:
            sounding = 1.0 - np.prod(1.0 - part.astype(np.float64), axis=-1)  # (B, S)
            out[:, t] = np.where(keep, sounding[..., None].astype(np.float32), 0.0)
        else:
            out[:, t] = np.where(keep, part, 0.0)
    return out


def voice_emissions(part: np.ndarray, any_row: bool, threshold: float = 0.5) -> np.ndarray:
    """Log-odds of each state of a voice at each step, ``(B, S, R+1)``: sounding row r, or
    silence (the last state, 0).

    A row's log-odds are its probability's against ``threshold`` (``logit(p) - logit(t)``), so
    a step's likeliest state is what :func:`one_per_step` and a threshold give. With ``any_row``
    the likeliest row takes the step's any-row log-odds and every other row less by the log of
    its probability over the likeliest one's.

    In float32 (a bar's candidates are decoded while the daemon waits for them).
    """
    eps, one = np.float32(_EPS), np.float32(1.0)
    p = np.clip(np.asarray(part, np.float32), eps, one - eps)  # (B, S, R)
    t = min(max(float(threshold), _EPS), 1.0 - _EPS)
    out = np.zeros(p.shape[:-1] + (p.shape[-1] + 1,), np.float32)
    rows = out[..., :-1]
    if any_row:
        sounding = np.clip(one - np.prod(one - p, axis=-1, keepdims=True), eps, one - eps)
        np.log(sounding / (one - sounding) * p / p.max(axis=-1, keepdims=True), out=rows)
    else:
        np.log(p / (one - p), out=rows)
    rows -= np.float32(math.log(t / (1.0 - t)))
    return out


def voice_path(emissions: np.ndarray, switch_cost: float | np.ndarray) -> np.ndarray:
    """The likeliest state at each step, ``(B, S)`` ints, for emission log-odds ``(B, S, K)`` of a
    chain whose every change of state (a new pitch, a rest, a note after a rest) costs
    ``switch_cost`` (one number, or one per row ``(B,)``): the Viterbi path.
    """
    b, s, k = emissions.shape
    cost = np.broadcast_to(np.asarray(switch_cost, emissions.dtype), (b,))[:, None]  # (B, 1)
    rows = np.arange(b)
    steps = np.ascontiguousarray(emissions.transpose(1, 0, 2))  # (S, B, K)
    score = steps[0].copy()  # (B, K): the best path's score ending in each state
    stayed = np.empty((s, b, k), bool)  # whether that path stayed in the state from the step before ...
    best = np.empty((s, b), np.int64)  # ... or came from the step before's best state
    switch = np.empty((b, 1), emissions.dtype)
    for i in range(1, s):
        score.argmax(axis=1, out=best[i])
        np.subtract(score.max(axis=1, keepdims=True), cost, out=switch)  # (B, 1)
        np.greater_equal(score, switch, out=stayed[i])
        np.maximum(score, switch, out=score)
        score += steps[i]
    path = np.empty((s, b), np.int64)
    j = score.argmax(axis=1)
    path[-1] = j
    for i in range(s - 1, 0, -1):
        j = np.where(stayed[i, rows, j], j, best[i])
        path[i - 1] = j
    return path.T


def checked_switch_cost(value: Any) -> float:
    """``value`` as a voice switch cost (a finite number >= 0).

    Raises:
        ModelError: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not (
            np.isfinite(value) and value >= 0.0):
        raise ModelError(f"voice switch cost {value!r} must be a finite number >= 0")
    return float(value)


def switch_costs(value: Any, voices: Sequence[str]) -> dict[str, float]:
    """Each voice's switch cost, ``{voice: cost}``, from one number (every voice), a mapping
    (voices it leaves out: 0), or command-line text: ``"0.4"`` or ``"soprano=0.4,bass=0.2"``.

    Raises:
        ModelError: a cost that is not a finite number >= 0, or a name that is not a voice.
    """
    if isinstance(value, str):
        text = value.strip()
        if "=" not in text:
            try:
                value = float(text)
            except ValueError:
                raise ModelError(f"voice switch cost {value!r}: give a number, or voice=number pairs "
                                 "separated by commas (soprano=0.4,bass=0.2)") from None
        else:
            pairs: dict[str, Any] = {}
            for item in text.split(","):
                name, _, number = item.partition("=")
                try:
                    pairs[name.strip()] = float(number)
                except ValueError:
                    raise ModelError(f"voice switch cost {item.strip()!r}: give voice=number") from None
            value = pairs
    if isinstance(value, Mapping):
        unknown = sorted(set(map(str, value)) - set(voices))
        if unknown:
            raise ModelError(f"voice switch costs name {', '.join(unknown)}, which this model does not decode "
                             f"as voices (its voices: {', '.join(voices) or 'none'})")
        return {name: checked_switch_cost(value.get(name, 0.0)) for name in voices}
    cost = checked_switch_cost(value)
    return dict.fromkeys(voices, cost)


def decode_voices(roll: np.ndarray, tracks: Sequence[int], any_row: bool = False,
                  switch_cost: float | Sequence[float] = 0.0, threshold: float | None = 0.5) -> np.ndarray:
    """Decode each of ``tracks`` as one voice, before :func:`~daemon.representation.binarise`.

    Thresholded (``threshold`` set), a voice whose ``switch_cost`` (one for all, or one per
    track of ``tracks``) is above 0 is decoded as a line, its likeliest one (:func:`voice_path`):
    a change of pitch, or between a note and a rest, must gain the voice its cost in log-odds
    over the steps it covers, so a row that wins a single step by a hair no longer makes a
    one-step note. Lines come back as 0/1, which ``binarise`` keeps as they are. Other voices,
    and every voice when ``threshold`` is None (Bernoulli sampling draws each step on its own),
    keep one row per step (:func:`one_per_step`).

    Raises:
        ModelError: a negative or non-finite cost, or not one per track.
    """
    voices = list(tracks)
    given = np.asarray(switch_cost, np.float64).reshape(-1)
    if given.size not in (1, len(voices)) and voices:
        raise ModelError(f"{given.size} voice switch costs for {len(voices)} voices")
    costs = [checked_switch_cost(float(c)) for c in np.broadcast_to(given, (len(voices),))]
    lined = [t for t, c in zip(voices, costs, strict=True) if c > 0.0] if threshold is not None else []
    out = one_per_step(roll, [t for t in voices if t not in lined], any_row)
    if not lined:
        return out
    b, _, s, p = out.shape
    part = np.clip(out[:, lined], 0.0, 1.0).reshape(b * len(lined), s, p)  # every line of every bar at once
    path = voice_path(voice_emissions(part, any_row, threshold), np.tile([c for c in costs if c > 0.0], b))
    decoded = np.zeros((b * len(lined), s, p + 1), np.float32)
    np.put_along_axis(decoded, path[..., None], 1.0, axis=-1)
    out[:, lined] = decoded[..., :-1].reshape(b, len(lined), s, p)  # the last state is silence
    return out


def note_lengths(active: np.ndarray, tracks: Sequence[int]) -> np.ndarray:
    """How many notes of each length each of ``tracks`` plays in each bar: ``(N, len(tracks), S + 1)``
    counts, index ``l`` for notes ``l`` steps long (index 0 unused). A note is a run of active
    steps of one row inside the bar (one cut by the bar line counts its steps in the bar)."""
    length = _note_starts(active, tracks)  # (N, V, S, P)
    n, v, s, _ = length.shape
    rows = np.arange(n * v).repeat(length[0, 0].size) * (s + 1)
    counts = np.bincount(rows + length.reshape(-1), minlength=n * v * (s + 1)).reshape(n, v, s + 1)
    counts[:, :, 0] = 0
    return counts


def _note_starts(active: np.ndarray, tracks: Sequence[int]) -> np.ndarray:
    """``(N, V, S, P)`` ints: at each note's first step in the bar, its length in steps; 0 elsewhere."""
    a = np.asarray(active, bool)[:, list(tracks)]  # (N, V, S, P)
    run = np.zeros(a.shape, np.int64)  # steps the note sounding at each step still lasts, from there on
    run[:, :, -1] = a[:, :, -1]
    for i in range(a.shape[2] - 2, -1, -1):
        run[:, :, i] = np.where(a[:, :, i], run[:, :, i + 1] + 1, 0)
    start = a.copy()
    start[:, :, 1:] &= ~a[:, :, :-1]
    return np.where(start, run, 0)


def note_length_log_p(bars: np.ndarray, tracks: Sequence[int]) -> np.ndarray:
    """Each of ``tracks``' log-probability of a note lasting 1..S steps in ``bars`` (the training
    bars), ``(len(tracks), S)``; add-one smoothed, so no length is impossible."""
    counts = note_lengths(bars, tracks).sum(axis=0)[:, 1:] + 1.0  # (V, S)
    return np.log(counts / counts.sum(axis=1, keepdims=True))


def choose_candidates(active: np.ndarray, scores: np.ndarray, k: int, tracks: Sequence[int] = (),
                      log_p: np.ndarray | None = None, weight: float = 0.0) -> np.ndarray:
    """Which of each bar's ``k`` candidates to play: ``(N,)`` indices into ``range(k)``.

    ``active`` ``(N * k, T, S, P)`` holds each bar's candidates one after another (as the
    decoded rolls the daemon would play) and ``scores`` ``(N * k,)`` the critic's score of
    each. The chosen candidate has the highest score plus ``weight`` times the log-likelihood
    of its notes' lengths (``log_p``, ``(len(tracks), S)``: :func:`note_length_log_p` of the
    training bars) in ``tracks``: the critic judges the bar, the lengths' prior the rhythm of
    its lines.
    """
    total = np.asarray(scores, np.float64).reshape(-1)
    if len(total) != len(active) or len(total) % k:
        raise ModelError(f"{len(total)} scores for {len(active)} candidates in groups of {k}")
    if weight and len(tracks):
        total = total + weight * lengths_log_likelihood(active, tracks, log_p)
    return total.reshape(-1, k).argmax(axis=1)


def lengths_log_likelihood(active: np.ndarray, tracks: Sequence[int], log_p: np.ndarray | None) -> np.ndarray:
    """Each bar's summed log-probability of its notes' lengths in ``tracks`` under ``log_p``
    (``(len(tracks), S)``, :func:`note_length_log_p`): ``(N,)``."""
    log_p = np.asarray(log_p, np.float64)
    table = np.concatenate([np.zeros((len(log_p), 1)), log_p], axis=1)  # (V, S+1): length 0 (no note) adds 0
    a = np.asarray(active, bool)[:, list(tracks)]  # (N, V, S, P)
    n, v, s, _ = a.shape
    if a.sum(axis=-1).max(initial=0) > 1:  # a voice with chords: every row's runs
        length = _note_starts(a, range(v))  # (N, V, S, P)
        return table[np.arange(v)[None, :, None, None], length].sum(axis=(1, 2, 3))
    # one row a step at most (decoded voices): the notes are the runs of each voice's row
    on = a.any(axis=-1)  # (N, V, S)
    row = np.where(on, a.argmax(axis=-1), -1)
    start = on.copy()
    start[..., 1:] &= row[..., 1:] != row[..., :-1]
    segment = np.cumsum(start | ~on, axis=-1) + np.arange(n * v).reshape(n, v, 1) * (s + 1)  # a note's own id
    steps = np.bincount(segment[on], minlength=n * v * (s + 1))  # each note's length, by its id
    voice = np.broadcast_to(np.arange(v)[None, :, None], start.shape)
    return np.bincount(np.nonzero(start)[0], table[voice[start], steps[segment[start]]], minlength=n)


def _gan_metadata(info: Any) -> dict[str, Any]:
    """The ``antiphon.*`` metadata as a dict keyed without the prefix, from either a
    ``daemon.models.ModelInfo`` or a raw ``metadata_props`` mapping of JSON strings."""
    if hasattr(info, "representation") and hasattr(info, "kind"):
        return {"format": FORMAT_VERSION, "kind": info.kind, "representation": info.representation,
                "model_config": info.model_config, "inputs": list(info.inputs), "outputs": list(info.outputs),
                "training": dict(info.training), "metrics": dict(info.metrics)}
    out: dict[str, Any] = {}
    for key, value in dict(info).items():
        name = key.removeprefix(META_PREFIX)
        if isinstance(value, str):
            try:
                out[name] = json.loads(value)
            except json.JSONDecodeError:
                out[name] = value
        else:
            out[name] = value
    return out


@dataclass(repr=False)
class GanModel:
    """A GAN generator in an onnxruntime session, with its representation.

    Not thread-safe: one owner (the engine thread) calls it.

    Attributes:
        session: an ``onnxruntime.InferenceSession`` of the generator graph.
        spec: the pianoroll layout of the bars it makes.
        z_dim: width of the noise input.
        metadata: every ``antiphon.*`` metadata entry, parsed, keyed without the prefix.
        monophonic: indices of tracks decoded one note per step (:func:`one_per_step`); from
            ``training.monophonic_tracks`` in the metadata (the tracks the training data plays
            one note at a time).
        any_row: how a voice is decoded (:func:`one_per_step`): ``training.voice_decoding`` in
            the metadata is ``any-row`` for a model trained with voice neurons.
        switch_costs: each monophonic track's cost of changing pitch or between note and rest
            (:func:`decode_voices`), from ``training.voice_switch_cost`` in the metadata (set at
            export; 0, each step on its own, when absent).
        candidates: thresholded bars that answer a previous bar are made this many at a time and
            the best one played (:func:`choose_candidates`), from ``training.candidates`` (set at
            export; the graph then has a ``score`` output). 1: the first and only.
        length_tracks, length_log_p, length_weight: the note-length prior of the choice, from
            ``training.note_length_prior`` (``{"weight": w, "log_p": {track: [log p of 1..S steps]}}``).
        noise_per_bar: the graph takes noise ``(B, K, Z)``, ``K`` rolls of each previous bar
            (files exported with candidates); otherwise ``(B, Z)``, one roll each.
    """

    session: Any
    spec: RollSpec
    z_dim: int
    metadata: Mapping[str, Any]
    monophonic: tuple[int, ...] = ()
    any_row: bool = False
    switch_costs: tuple[float, ...] = ()
    candidates: int = 1
    length_tracks: tuple[int, ...] = ()
    length_log_p: np.ndarray | None = None
    length_weight: float = 0.0
    noise_per_bar: bool = False

    @property
    def kind(self) -> str:
        return KIND

    def __repr__(self) -> str:
        names = "/".join(t.name for t in self.spec.tracks)
        return f"GanModel({names}, bars {self.spec.bar_shape}, z {self.z_dim})"

    def roll(self, previous: np.ndarray | None, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """Real-valued rolls ``(N, tracks, steps, pitches)`` in [0, 1], one per previous bar
        (or ``n`` unconditioned ones when ``previous`` is None)."""
        return self._run(previous, rng, n, list(OUTPUT_NAMES))[0]

    def scored(self, previous: np.ndarray | None, rng: np.random.Generator, n: int = 1,
               each: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`roll` and the critic's score of each thresholded roll ``(N,)`` (files exported with
        candidates); ``each`` > 1 makes that many rolls of every previous bar, one after another."""
        roll, score = self._run(previous, rng, n, [*OUTPUT_NAMES, SCORE_NAME], each)
        return roll, score.reshape(-1)

    def _run(self, previous: np.ndarray | None, rng: np.random.Generator, n: int, outputs: list[str],
             each: int = 1) -> list[np.ndarray]:
        prev, cond = condition_features(previous, self.spec, n)
        if self.noise_per_bar:  # the graph makes each previous bar's `each` rolls from it once
            noise = rng.standard_normal((len(prev), each, self.z_dim), dtype=np.float32)  # (N, K, Z)
            out = self.session.run(outputs, {"noise": noise, "previous": prev, "condition": cond})
            return [np.asarray(o, np.float32).reshape(-1, *np.shape(o)[2:]) for o in out]  # (N*K, ...)
        if each > 1:  # the features of each previous bar once, then repeated for its candidates
            prev, cond = np.repeat(prev, each, axis=0), np.repeat(cond, each, axis=0)
        noise = rng.standard_normal((len(prev), self.z_dim), dtype=np.float32)  # (B, Z)
        out = self.session.run(outputs, {"noise": noise, "previous": prev, "condition": cond})
        return [np.asarray(o, np.float32) for o in out]

    def sample_batch(self, previous: np.ndarray | None, rng: np.random.Generator, threshold: float | None = 0.5,
                     n: int = 1, velocity: int = DEFAULT_VELOCITY) -> Bars:
        """Independent bars, one per previous bar (or ``n`` unconditioned), binarised by
        ``threshold`` or, with ``threshold=None``, by a Bernoulli draw from ``rng`` (monophonic
        tracks first decoded as voices, :func:`decode_voices`). Thresholded and conditioned, a
        model with ``candidates`` > 1 makes that many of each bar and keeps the best
        (:func:`choose_candidates`); Bernoulli sampling and unconditioned bars draw one (the
        critic favours near-empty bars when nothing came before)."""
        k = self.candidates if threshold is not None and previous is not None else 1
        if k == 1:
            roll = self._decode(self.roll(previous, rng, n), threshold)
        else:
            count = len(previous)
            many, scores = self.scored(previous, rng, count, each=k)
            many = self._decode(many, threshold)
            pick = choose_candidates(many > threshold, scores, k, self.length_tracks, self.length_log_p,
                                     self.length_weight)
            roll = many.reshape(count, k, *self.spec.bar_shape)[np.arange(count), pick]
        return binarise(roll, self.spec, threshold, rng, velocity)

    def _decode(self, roll: np.ndarray, threshold: float | None) -> np.ndarray:
        return decode_voices(roll, self.monophonic, self.any_row, self.switch_costs or 0.0, threshold)

    def sample_bars(self, n: int, condition: Bars | np.ndarray | None = None, rng: np.random.Generator | None = None,
                    threshold: float | None = 0.5, velocity: int = DEFAULT_VELOCITY) -> Bars:
        """``n`` consecutive bars, each conditioned on the bar before it.

        Args:
            n: bars to make (>= 1).
            condition: bars to continue from (:class:`Bars`, or an active roll ``(N, T, S, P)``;
                the last bar conditions the first new bar), or None to start unconditioned.
            rng: random source for noise and Bernoulli binarisation (a fresh one if None).
            threshold: binarisation threshold in (0, 1), or None for Bernoulli sampling.
            velocity: MIDI velocity of every onset.

        Returns:
            Bars ``(n, tracks, steps, pitches)``; notes held across a bar line are tied.
        """
        if n < 1:
            raise ModelError(f"asked for {n} bars; ask for at least one")
        generator = rng if rng is not None else np.random.default_rng()
        previous: np.ndarray | None = None
        roll = condition.active if isinstance(condition, Bars) else condition
        if roll is not None and len(roll):
            previous = np.asarray(roll[-1:], bool)  # (1, T, S, P)
            if previous.shape[1:] != self.spec.bar_shape:
                raise ModelError(
                    f"conditioning bars of shape {previous.shape[1:]} do not fit this model's bars {self.spec.bar_shape}")
        made: list[np.ndarray] = []
        for _ in range(n):
            bar = self.sample_batch(previous, generator, threshold, 1, velocity).active  # (1, T, S, P)
            made.append(bar)
            previous = bar
        active = np.concatenate(made, axis=0).astype(np.float32)  # (n, T, S, P)
        return binarise(active, self.spec, 0.5, None, velocity)  # onsets inferred across bar lines


def load_gan(session: Any, info: Any) -> GanModel:
    """Build a :class:`GanModel` from an open session and its metadata.

    Args:
        session: an ``onnxruntime.InferenceSession`` of a generator graph.
        info: a ``daemon.models.ModelInfo`` or the file's raw ``metadata_props`` mapping.

    Raises:
        ModelError: the file is not a GAN of a format and representation this version reads.
    """
    meta = _gan_metadata(info)
    if str(meta.get("kind")) != KIND:
        raise ModelError(f"this model is a {meta.get('kind')!r} model, not a GAN; choose a GAN preset or model file")
    if str(meta.get("format")) != FORMAT_VERSION:
        raise ModelError(f"model file format {meta.get('format')!r} is not known to this Antiphon "
                         f"(it reads {FORMAT_VERSION}); re-export the model or upgrade Antiphon")
    representation = meta.get("representation")
    if not isinstance(representation, Mapping):
        raise ModelError("the model file names no representation; re-export it with 'antiphon export gan'")
    try:
        spec = codec_from_dict(representation)
    except AntiphonError as exc:
        raise ModelError(f"the GAN's representation: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"the model's representation cannot be read ({exc!r}); re-export it") from exc
    if not isinstance(spec, RollSpec):
        raise ModelError(f"a GAN needs a pianoroll representation, this file has {representation.get('name')!r}")
    inputs = {i.name: i for i in session.get_inputs()}
    if set(inputs) != set(INPUT_NAMES):
        raise ModelError(f"the GAN graph's inputs are {sorted(inputs)}, expected {list(INPUT_NAMES)}; re-export it")
    shape = inputs["previous"].shape
    if tuple(shape[1:]) != spec.bar_shape:
        raise ModelError(f"the GAN graph takes bars of {tuple(shape[1:])} but its representation says "
                         f"{spec.bar_shape}; the file is inconsistent, re-export it")
    z_dim = inputs["noise"].shape[-1]
    if not isinstance(z_dim, int) or z_dim < 1 or len(inputs["noise"].shape) not in (2, 3):
        raise ModelError(f"the GAN graph's noise input has shape {inputs['noise'].shape}; re-export it")
    training = meta.get("training") if isinstance(meta.get("training"), Mapping) else {}
    names = [t.name for t in spec.tracks]
    mono = tuple(names.index(name) for name in training.get("monophonic_tracks", []) if name in names)
    decoding = training.get("voice_decoding", LIKELIEST_ROW)
    if decoding not in VOICE_DECODINGS:
        raise ModelError(f"the model asks for voice decoding {decoding!r}; this Antiphon knows "
                         f"{', '.join(VOICE_DECODINGS)}")
    try:
        costs = switch_costs(training.get("voice_switch_cost", 0.0), [names[t] for t in mono])
    except ModelError as exc:
        raise ModelError(f"the model's {exc}; re-export it") from exc
    candidates = training.get("candidates", 1)
    if isinstance(candidates, bool) or not isinstance(candidates, int) or not 1 <= candidates <= MAX_CANDIDATES:
        raise ModelError(f"the model asks for {candidates!r} candidates a bar; expected a whole number from 1 to "
                         f"{MAX_CANDIDATES}; re-export it")
    outputs = {o.name for o in session.get_outputs()}
    if candidates > 1 and SCORE_NAME not in outputs:
        raise ModelError(f"the model asks for {candidates} candidates a bar but its graph has no {SCORE_NAME!r} "
                         "output to choose by; re-export it")
    tracks, log_p, weight = length_prior(training.get("note_length_prior"), names, spec.steps_per_bar)
    return GanModel(session, spec, z_dim, meta, mono, decoding == ANY_ROW, tuple(costs.values()), candidates,
                    tracks, log_p, weight, noise_per_bar=len(inputs["noise"].shape) == 3)


def length_prior(value: Any, names: Sequence[str], steps: int) -> tuple[tuple[int, ...], np.ndarray | None, float]:
    """``training.note_length_prior`` of a model file -> (track indices, log p ``(V, steps)``, weight).

    Raises:
        ModelError: not ``{"weight": w >= 0, "log_p": {track: [steps log-probabilities]}}``.
    """
    if value is None:
        return (), None, 0.0
    try:
        weight = float(value["weight"])
        table = dict(value["log_p"])
        log_p = np.array([[float(x) for x in table[name]] for name in table], np.float64).reshape(len(table), -1)
        tracks = tuple(list(names).index(name) for name in table)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"the model's note-length prior cannot be read ({exc!r}); re-export it") from exc
    if not math.isfinite(weight) or weight < 0 or log_p.shape[1] != steps or not np.all(log_p <= 0.0):
        raise ModelError(f"the model's note-length prior (weight {weight}, {log_p.shape[1]} lengths for bars of "
                         f"{steps} steps) does not fit; re-export it")
    return tracks, log_p, weight


def open_gan(path: str | Path, threads: int = 1) -> GanModel:
    """Open a GAN ``.onnx`` file on the CPU with ``threads`` intra-op threads.

    Raises:
        ModelError: the file is missing, not ONNX, or not a GAN this version reads.
    """
    from daemon.models import open_session

    session, info = open_session(path, intra_op_num_threads=threads)
    try:
        return load_gan(session, info)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from exc
