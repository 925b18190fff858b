"""Accompaniment: the GAN plays one bar ahead, each bar conditioned on the bar just played.

The engine thread tells an :class:`Accompanist` every note it hears (positions in ticks of the
daemon's pulse grid, 24 per beat) and, shortly before each bar line (:data:`LEAD_S`), asks it
for the *next* bar: the notes heard since the current bar began are laid out as a pianoroll
bar (:func:`daemon.music.bar_features.assign_tracks`, the training roll's conventions), the generator
samples one bar conditioned on it (a bar with nothing heard is sampled unconditioned), and
the bar's notes come back on the accompaniment's channels, placed at the bar line.

The band goes on with the parts the player leaves out: a track in which nothing was heard is
conditioned on the model's own last bar of that track (:meth:`Accompanist.condition_with_band`).
Without it a keyboard player's chords alone would stand for a bar with silent drums and bass,
and the groove model, true to its data (a groove whose drums are silent stays silent in 98 % of
the next bars), would drop its drums from most bars. The band comes in as if it had been
playing: before its first bar it makes a few bars unconditioned and takes the first in which
every part sounds (:data:`COUNT_IN_DRAWS`) to stand for its own last bar, so the first bar it
plays already has its drums.

Generation is one onnxruntime call per bar (milliseconds), so it runs in the engine loop; the
bar is asked for :data:`LEAD_S` before it is due, which leaves the notes heard in the last
moments of the current bar out of its conditioning.

If the model's bars are in another meter than the daemon's, each generated bar still starts on
the daemon's bar line and is cut at the next one.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from daemon.errors import ModelError
from daemon.models.gan import GanModel
from daemon.music.bar_features import assign_tracks, last_bar
from daemon.music.grid import MIDI_CLOCK_PPQN, Grid
from daemon.music.notes import Note
from daemon.music.pianoroll import bars_to_notes

log = logging.getLogger(__name__)

LEAD_S = 0.150  # a bar is sampled this long before its bar line: one ORT call, with room for a busy CPU
MIN_THRESHOLD, MAX_THRESHOLD = 0.001, 0.999  # the binarisation threshold stays inside (0, 1)
DENSITY_THRESHOLD_SPAN = 0.5  # live density 0..1 moves the threshold by +0.25..-0.25
COUNT_IN_DRAWS = 4  # unconditioned bars the band draws before its first, to take one with every part


def threshold_for(base: float, live_density: float) -> float:
    """The binarisation threshold for a preset's ``base`` and the live density (0-1, 0.5 = as set)."""
    return float(min(MAX_THRESHOLD, max(MIN_THRESHOLD, base - (live_density - 0.5) * DENSITY_THRESHOLD_SPAN)))


@dataclass
class _Heard:
    start: float  # pulse-grid position
    end: float | None  # None while the key is down
    pitch: int
    velocity: int
    channel: int


class Accompanist:
    """Heard notes, and one GAN bar at a time.

    Not thread-safe: the engine thread is its only caller.

    Args:
        model: the GAN generator.
    """

    def __init__(self, model: GanModel) -> None:
        self.model = model
        self.spec = model.spec
        tpb = self.spec.grid.ticks_per_beat
        if MIDI_CLOCK_PPQN % tpb:
            raise ModelError(f"a GAN on a grid of {tpb} ticks per beat cannot follow MIDI clock")
        self.ticks_per_model_tick = MIDI_CLOCK_PPQN // tpb
        self._heard: list[_Heard] = []
        self.next_bar: int | None = None  # index of the next bar to make
        self.bars_made = 0
        self._warned_meter = False
        self._band: np.ndarray | None = None  # the model's last bar, (1, T, S, P) bool

    def reset(self) -> None:
        """Forget what was heard, the band's last bar and where the next bar is (a clock jump, a
        mode switch)."""
        self._heard.clear()
        self._band = None
        self.next_bar = None

    def note_on(self, tick: float, channel: int, pitch: int, velocity: int) -> None:
        self._heard.append(_Heard(tick, None, pitch, velocity, channel))

    def note_off(self, tick: float, channel: int, pitch: int) -> None:
        for heard in self._heard:
            if heard.end is None and heard.channel == channel and heard.pitch == pitch:
                heard.end = tick
                return

    def due_tick(self, now_tick: float, grid: Grid) -> int:
        """Pulse-grid position of the bar line of the next bar to make (choosing it if unset)."""
        bar = grid.ticks_per_bar
        if self.next_bar is None:
            self.next_bar = int(now_tick // bar) + 1
        return self.next_bar * bar

    def make_bar(self, now_tick: float, grid: Grid, rng: np.random.Generator, threshold: float,
                 channels: Sequence[int]) -> tuple[int, list[Note]]:
        """Sample the next bar, conditioned on what was heard since the current bar began.

        Args:
            now_tick: pulse-grid position now (notes heard up to here condition the bar).
            grid: the daemon's meter.
            rng: noise and binarisation source.
            threshold: binarisation threshold (0-1).
            channels: MIDI channel of each of the model's tracks; tracks beyond the list keep
                the model's own channel.

        Returns:
            The bar index made and its notes on the pulse grid (absolute), on their channels.
        """
        bar = grid.ticks_per_bar
        index = self.next_bar if self.next_bar is not None else int(now_tick // bar) + 1
        self.next_bar = index + 1  # a bar that fails is skipped, not retried
        start_tick = index * bar
        window_start = start_tick - bar
        heard = self._condition(window_start, min(now_tick, start_tick))
        if heard is not None and self._band is None:  # the band comes in as if it had been playing
            self._band = self._count_in(rng, threshold)
        roll = self.condition_with_band(heard)
        bars = self.model.sample_bars(1, roll, rng, threshold)
        self._band = np.asarray(bars.active[-1:], bool)
        scale = self.ticks_per_model_tick
        model_bar = self.spec.grid.ticks_per_bar * scale
        if model_bar != bar and not self._warned_meter:
            self._warned_meter = True
            log.warning("the accompaniment model plays %d/%d bars; the daemon counts %d/%d: each bar is placed "
                        "on the bar line and cut at the next", self.spec.grid.numerator,
                        self.spec.grid.denominator, grid.numerator, grid.denominator)
        notes: list[Note] = []
        for t, track_notes in enumerate(bars_to_notes(bars, self.spec)):
            channel = channels[t] if t < len(channels) else self.spec.tracks[t].channel
            for n in track_notes:
                onset = n.start * scale
                if onset >= bar:
                    continue
                duration = min(n.duration * scale, bar - onset)
                notes.append(Note(start_tick + onset, n.pitch, duration, n.velocity, channel))
        self.bars_made += 1
        self._forget_before(window_start)
        return index, sorted(notes)

    def _count_in(self, rng: np.random.Generator, threshold: float) -> np.ndarray:
        """``(1, T, S, P)`` bool: of :data:`COUNT_IN_DRAWS` unconditioned bars, the first with the most
        tracks sounding (every one, nearly always)."""
        bars = np.asarray(self.model.sample_batch(None, rng, threshold, n=COUNT_IN_DRAWS).active, bool)
        return bars[[int(bars.any(axis=(2, 3)).sum(axis=1).argmax())]]

    def _condition(self, window_start: float, window_end: float) -> np.ndarray | None:
        """The roll ``(1, T, S, P)`` of the notes heard in [window_start, window_end), or None if none."""
        scale = self.ticks_per_model_tick
        model_bar = self.spec.grid.ticks_per_bar
        notes: list[Note] = []
        for heard in self._heard:
            end = window_end if heard.end is None else min(heard.end, window_end)
            if end <= window_start or heard.start >= window_end:
                continue
            start = max(0, round((max(heard.start, window_start) - window_start) / scale))
            stop = min(model_bar, round((end - window_start) / scale))
            if start >= model_bar:
                continue
            notes.append(Note(start, heard.pitch, max(1, stop - start), max(1, min(127, heard.velocity)),
                              heard.channel))
        if not notes:
            return None
        return last_bar(assign_tracks(notes, self.spec), self.spec)

    def condition_with_band(self, heard: np.ndarray | None) -> np.ndarray | None:
        """The bar to condition on: ``heard`` (``(1, T, S, P)`` bool, or None when nothing was
        heard), each of its silent tracks taking the band's own last bar of that track.

        Nothing heard stays None (an unconditioned bar): the band does not feed on itself alone,
        where its chains drift.
        """
        if heard is None or self._band is None:
            return heard
        silent = ~heard[0].any(axis=(1, 2))  # (T,)
        if not silent.any():
            return heard
        merged = np.array(heard, bool, copy=True)
        merged[:, silent] = self._band[:, silent]
        return merged

    def _forget_before(self, tick: float) -> None:
        self._heard = [h for h in self._heard if h.end is None or h.end > tick]
        if len(self._heard) > 4096:  # keys never released (a lost note-off): keep the newest
            self._heard = self._heard[-4096:]
