"""What a GAN bar is conditioned on, read from bars: pitch-class profiles and tracks.

:func:`condition_features` builds the generator's two conditioning inputs from bars; training
imports it too, so the model is fed exactly what it learned on. :func:`assign_tracks` and
:func:`last_bar` turn played notes into the previous bar; :func:`articulate` turns active and
onset planes into notes' cells.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from daemon.errors import ModelError
from daemon.music.grid import DRUM_CHANNEL
from daemon.music.notes import Note
from daemon.music.pianoroll import RollSpec, notes_to_bars

N_PITCH_CLASSES = 12
CONDITION_DIM = N_PITCH_CLASSES + 1  # pitch-class profile + "there is a previous bar" flag


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
