"""Decoding a generated roll's voices: one note at a time, lines, note lengths, candidates.

A voice (a chorale part, a bass) sounds one note at a time: :func:`decode_voices` keeps its
likeliest row step by step or, with a switch cost, its likeliest line (a Viterbi path).
:func:`choose_candidates` picks among several generated bars by the critic's score and a
note-length prior.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from daemon.errors import ModelError

LIKELIEST_ROW, ANY_ROW = "likeliest-row", "any-row"  # how voices are decoded (one_per_step)
VOICE_DECODINGS = (LIKELIEST_ROW, ANY_ROW)
_EPS = 1e-6  # probabilities are clipped to [eps, 1 - eps] before log-odds
MAX_CANDIDATES = 64


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
    """Decode each of ``tracks`` as one voice, before :func:`~daemon.music.pianoroll.binarise`.

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
