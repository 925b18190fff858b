"""What the bar-by-bar parts share: the notes heard, the next bar line, and bars laid out as notes.

:class:`HeardBars` keeps the notes the engine hears (positions in ticks of the daemon's pulse
grid, 24 per beat), says which bar is made next, turns the notes heard in a bar into the
model's pianoroll bar, and turns a made bar back into notes on the band's channels. The GAN
band (:class:`daemon.live.accompany.Accompanist`) and the restyler
(:class:`daemon.live.restyle.Restyler`) are built on it.

Not thread-safe: the engine thread is its only caller. This module must not import torch,
``training`` or ``export``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daemon.errors import ModelError
from daemon.music.bar_features import assign_tracks, last_bar
from daemon.music.grid import MIDI_CLOCK_PPQN, Grid
from daemon.music.notes import Note
from daemon.music.pianoroll import Bars, bars_to_notes, binarise

log = logging.getLogger("daemon.live.accompany")

MAX_HEARD = 4096  # keys never released (a lost note-off): the newest are kept


@dataclass
class Heard:
    start: float  # pulse-grid position
    end: float | None  # None while the key is down
    pitch: int
    velocity: int
    channel: int


class HeardBars:
    """Heard notes and the next bar line, for a model of pianoroll bars (``model.spec``).

    Args:
        model: a model with a ``spec`` (:class:`daemon.music.pianoroll.RollSpec`).

    Raises:
        ModelError: the model's grid cannot follow MIDI clock's 24 pulses a beat.
    """

    lead_s = 0.150  # a bar is made this long before its bar line

    def __init__(self, model: Any) -> None:
        self.model = model
        self.spec = model.spec
        tpb = self.spec.grid.ticks_per_beat
        if MIDI_CLOCK_PPQN % tpb:
            raise ModelError(f"a model on a grid of {tpb} ticks per beat cannot follow MIDI clock")
        self.ticks_per_model_tick = MIDI_CLOCK_PPQN // tpb
        self._heard: list[Heard] = []
        self.next_bar: int | None = None  # index of the next bar to make
        self.bars_made = 0
        self.revoiced = 0
        self._warned_meter = False

    def reset(self) -> None:
        """Forget what was heard and where the next bar is (a clock jump, a mode switch)."""
        self._heard.clear()
        self.next_bar = None

    def note_on(self, tick: float, channel: int, pitch: int, velocity: int) -> None:
        self._heard.append(Heard(tick, None, pitch, velocity, channel))

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

    def drum_channels(self, channels: Sequence[int]) -> set[int]:
        """The MIDI channels the model's drum tracks play on."""
        return {channels[t] if t < len(channels) else track.channel
                for t, track in enumerate(self.spec.tracks) if track.drums}

    def _notes(self, made: np.ndarray | Bars, start_tick: int, grid: Grid, channels: Sequence[int]) -> list[Note]:
        """A made bar (``(1, T, S, P)`` or :class:`Bars`) as notes on the pulse grid from ``start_tick``,
        on their channels."""
        bar = grid.ticks_per_bar
        scale = self.ticks_per_model_tick
        model_bar = self.spec.grid.ticks_per_bar * scale
        if model_bar != bar and not self._warned_meter:
            self._warned_meter = True
            log.warning("the accompaniment model plays %d/%d bars; the daemon counts %d/%d: each bar is placed "
                        "on the bar line and cut at the next", self.spec.grid.numerator,
                        self.spec.grid.denominator, grid.numerator, grid.denominator)
        bars = made if isinstance(made, Bars) else binarise(made.astype(np.float32), self.spec, 0.5)
        notes: list[Note] = []
        for t, track_notes in enumerate(bars_to_notes(bars, self.spec)):
            channel = channels[t] if t < len(channels) else self.spec.tracks[t].channel
            for n in track_notes:
                onset = n.start * scale
                if onset >= bar:
                    continue
                duration = min(n.duration * scale, bar - onset)
                notes.append(Note(start_tick + onset, n.pitch, duration, n.velocity, channel))
        return sorted(notes)

    def _heard_notes(self, window_start: float, window_end: float) -> list[Note]:
        """The notes heard in [window_start, window_end) on the model's grid from the window's start
        (a note starting in the last half step belongs to the next bar's downbeat)."""
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
        return notes

    def _condition(self, window_start: float, window_end: float) -> np.ndarray | None:
        """The roll ``(1, T, S, P)`` of the notes heard in [window_start, window_end), or None if none."""
        notes = self._heard_notes(window_start, window_end)
        if not notes:
            return None
        return last_bar(assign_tracks(notes, self.spec), self.spec)

    def _forget_before(self, tick: float) -> None:
        self._heard = [h for h in self._heard if h.end is None or h.end > tick]
        if len(self._heard) > MAX_HEARD:
            self._heard = self._heard[-MAX_HEARD:]
