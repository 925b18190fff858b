"""Restyle, live: each bar the player plays comes back one bar later in another style.

The engine hears notes as for the accompaniment; shortly before each bar line
(:data:`RESTYLE_LEAD_S`) the notes heard in the bar ending there are laid out as the model's bar
(:func:`daemon.music.bar_features.assign_tracks`: drums from channel 10, other channels into bass
and chords by register), restyled (:class:`daemon.models.restyle.RestyleModel`, live parameter
``style``), held to the key mask (the ``key``/``scale``/pitch range of the answers; ``auto``
follows the key of the bar played) and played through the next bar on the band's channels, each
track at the median velocity the player used in it.

A bar with nothing heard is answered with silence. If the daemon counts another meter than the
model's 4/4, the bar is passed through unchanged (one warning says so). A style the model does
not make is said once in the log and the model's own second style plays.

The lead is shorter than the GAN band's: the bar is made from notes heard up to 60 ms before its
line (a note struck later belongs to the next bar's downbeat when it is within half a
sixteenth), and one restyle is one onnxruntime call of about a millisecond.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from daemon.live.heard_bars import HeardBars
from daemon.models.restyle import AUTO, RestyleError, RestyleModel, with_velocities
from daemon.music.bar_features import assign_tracks
from daemon.music.grid import DRUM_CHANNEL, Grid
from daemon.music.notes import Note
from daemon.music.pianoroll import notes_to_bars
from daemon.music.sampling import SamplingParams, resolve_key

log = logging.getLogger("daemon.live.accompany")

RESTYLE_LEAD_S = 0.060  # under half a sixteenth at 120 bpm (62.5 ms): nothing struck in the bar is missed


class Restyler(HeardBars):
    """The bar heard, restyled, one bar later. Not thread-safe: the engine thread is its only caller.

    Args:
        model: the restyle model.
        live: the live parameter values (``style`` is read at each bar).
        sampling: the answers' sampling parameters (their key mask is applied), or None for no mask.
    """

    lead_s = RESTYLE_LEAD_S

    def __init__(self, model: RestyleModel, live: Callable[[], Mapping[str, Any]] | None = None,
                 sampling: Callable[[], SamplingParams] | None = None) -> None:
        super().__init__(model)
        self._live = live
        self._sampling = sampling
        self.playing = None  # nothing to re-voice: a restyled bar does not follow chords
        self.passed_through = 0
        self._warned_style: str | None = None
        self._warned_pass = False

    def style(self) -> str:
        """The style asked for, resolved by the model (unknown: the model's own, said once)."""
        asked = str((self._live() if self._live else {}).get("style", AUTO))
        try:
            return self.model.target(asked)
        except RestyleError as exc:
            if self._warned_style != asked:
                self._warned_style = asked
                log.warning("%s: playing %s", exc, self.model.target(AUTO))
            return self.model.target(AUTO)

    def make_bar(self, now_tick: float, grid: Grid, rng: np.random.Generator, threshold: float,
                 channels: Sequence[int]) -> tuple[int, list[Note]]:
        """The bar ending at the next bar line, restyled to play through the bar after it.

        Args:
            now_tick: pulse-grid position now.
            grid: the daemon's meter.
            rng: unused (restyling is deterministic).
            threshold: binarisation threshold (0-1; the live density moves it).
            channels: MIDI channel of each of the model's tracks.

        Returns:
            The index of the bar it plays in and its notes (absolute pulse-grid positions).
        """
        bar = grid.ticks_per_bar
        index = self.next_bar if self.next_bar is not None else int(now_tick // bar) + 1
        self.next_bar = index + 1
        start_tick = index * bar
        window_start = start_tick - bar
        heard = self._heard_notes(window_start, min(now_tick, start_tick))
        self._forget_before(window_start)
        self.bars_made += 1
        if not heard:
            return index, []
        spec = self.model.spec
        if (grid.numerator, grid.denominator) != (spec.grid.numerator, spec.grid.denominator):
            return index, self._pass_through(heard, start_tick, grid)
        source = notes_to_bars(assign_tracks(heard, spec), spec, n_bars=1)
        if not source.active.any():
            return index, []
        moved = self.model.restyle(source.active, self.style(), self._allowed(heard), threshold=threshold)
        return index, self._notes(with_velocities(moved, source), start_tick, grid, channels)

    def _allowed(self, heard: Sequence[Note]) -> np.ndarray | None:
        if self._sampling is None:
            return None
        params = resolve_key(self._sampling(), [n for n in heard if n.channel != DRUM_CHANNEL])
        return params.allowed_pitches()

    def _pass_through(self, heard: Sequence[Note], start_tick: int, grid: Grid) -> list[Note]:
        if not self._warned_pass:
            self._warned_pass = True
            log.warning("the restyle model plays %d/%d bars; the daemon counts %d/%d: bars are passed through "
                        "unchanged", self.model.spec.grid.numerator, self.model.spec.grid.denominator,
                        grid.numerator, grid.denominator)
        self.passed_through += 1
        scale = self.ticks_per_model_tick
        return sorted(Note(start_tick + n.start * scale, n.pitch, min(n.duration * scale, grid.ticks_per_bar),
                           n.velocity, n.channel) for n in heard if n.start * scale < grid.ticks_per_bar)


def band_for(model: Any, live: Callable[[], Mapping[str, Any]] | None = None,
             sampling: Callable[[], SamplingParams] | None = None) -> Any:
    """The bar-by-bar part a model plays: a :class:`Restyler` for a restyle model, else the GAN band."""
    if getattr(model, "kind", None) == "restyle":
        return Restyler(model, live, sampling)
    from daemon.live.accompany import Accompanist

    return Accompanist(model)
