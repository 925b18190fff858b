"""Musical time for the daemon: follow the DAW's MIDI clock, or keep an internal one.

Both clocks answer the same two questions for the engine and scheduler: *where are we* (the
grid tick at a monotonic time) and *when is* a tick. Times are seconds on the daemon's one
monotonic clock (``daemon.timebase.now_s``); positions are in grid ticks (see
``daemon.music.grid.Grid``) and may be fractional between ticks.

:class:`MidiClock` follows MIDI clock (24 pulses per quarter note) with Start, Stop, Continue and
Song Position Pointer. Its tempo is a least-squares fit of pulse times over a sliding window,
which averages out the transport's jitter (a JACK period, a USB frame) and follows tempo
changes within a window. Neither class owns a thread or sends anything; the engine thread
feeds them and is their only caller (not thread-safe by design).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from daemon.control.params import MAX_BPM, MIN_BPM  # tempi outside this are transport glitches
from daemon.errors import AntiphonError
from daemon.music.grid import MIDI_CLOCK_PPQN, Grid

SPP_PULSES = 6  # a Song Position Pointer unit is a MIDI beat (sixteenth note) = 6 clock pulses
TEMPO_WINDOW_PULSES = 48  # pulses in the tempo fit: two beats, long enough to average jitter out
MIN_FIT_PULSES = 4  # fewer pulses than this give no tempo estimate of their own


class MusicalClock(Protocol):
    """What the engine and scheduler need of a clock."""

    @property
    def bpm(self) -> float: ...

    @property
    def running(self) -> bool: ...

    def tick_at(self, now_s: float) -> float:
        """Grid position (ticks, fractional) at monotonic time ``now_s``."""

    def time_of_tick(self, tick: float) -> float:
        """Monotonic time (s) at which grid position ``tick`` is (or was) reached."""


@dataclass
class InternalClock:
    """A steady clock at ``bpm`` whose tick 0 is at ``origin_s``; tempo changes keep the position.

    Attributes:
        grid: the grid positions are counted on.
        bpm: quarter notes per minute.
        origin_s: monotonic time of tick 0.
        running: False while stopped (positions freeze at the stop point).
    """

    grid: Grid
    bpm: float = 120.0
    origin_s: float = 0.0
    running: bool = True
    _stopped_at: float = 0.0

    def __post_init__(self) -> None:
        _check_bpm(self.bpm)

    def tick_at(self, now_s: float) -> float:
        if not self.running:
            return self._stopped_at
        return (now_s - self.origin_s) / self.grid.seconds_per_tick(self.bpm)

    def time_of_tick(self, tick: float) -> float:
        return self.origin_s + tick * self.grid.seconds_per_tick(self.bpm)

    def set_bpm(self, bpm: float, now_s: float) -> None:
        """Change tempo at ``now_s`` without moving the current position."""
        _check_bpm(bpm)
        position = self.tick_at(now_s)
        self.bpm = bpm
        if self.running:
            self.origin_s = now_s - position * self.grid.seconds_per_tick(bpm)

    def start(self, now_s: float, tick: float = 0.0) -> None:
        """Run from grid position ``tick`` at ``now_s``."""
        self.running = True
        self.origin_s = now_s - tick * self.grid.seconds_per_tick(self.bpm)

    def stop(self, now_s: float) -> None:
        self._stopped_at = self.tick_at(now_s)
        self.running = False


class MidiClock:
    """Follows a MIDI clock master.

    Feed it every realtime message with its arrival time: :meth:`pulse` for Clock (0xF8),
    :meth:`start`, :meth:`stop`, :meth:`continue_` and :meth:`song_position`. Pulse ``k``
    after Start is position ``k`` pulses; the first Clock after Start is position 0.

    Args:
        grid: the grid positions are counted on.
        fallback_bpm: tempo reported until enough pulses have arrived to estimate one.
        window_pulses: pulses in the tempo fit.
    """

    def __init__(self, grid: Grid, fallback_bpm: float = 120.0, window_pulses: int = TEMPO_WINDOW_PULSES) -> None:
        _check_bpm(fallback_bpm)
        self.grid = grid
        self._fallback_bpm = fallback_bpm
        self._window: deque[tuple[int, float]] = deque(maxlen=max(MIN_FIT_PULSES, window_pulses))
        self._next_pulse = 0
        self._running = False
        self._period_s = 60.0 / (fallback_bpm * MIDI_CLOCK_PPQN)
        self._anchor: tuple[float, float] | None = None  # (pulse, time) the fit passes through
        self.pulses_received = 0
        self.glitches = 0

    @property
    def running(self) -> bool:
        return self._running

    @property
    def bpm(self) -> float:
        """Smoothed tempo in quarter notes per minute."""
        return 60.0 / (self._period_s * MIDI_CLOCK_PPQN)

    @property
    def position_pulses(self) -> int:
        """Pulses counted from the song start (the next pulse's index)."""
        return self._next_pulse

    def start(self, now_s: float) -> None:
        """MIDI Start: the song starts from the top at the next pulse."""
        self._next_pulse = 0
        self._window.clear()
        self._anchor = None
        self._running = True

    def continue_(self, now_s: float) -> None:
        """MIDI Continue: resume from the current position at the next pulse."""
        self._window.clear()
        self._anchor = None
        self._running = True

    def stop(self, now_s: float) -> None:
        """MIDI Stop: freeze the position; the tempo estimate is kept for the next start."""
        self._running = False

    def song_position(self, sixteenths: int) -> None:
        """Song Position Pointer (in MIDI beats of 6 pulses); only meaningful while stopped."""
        self._next_pulse = max(0, int(sixteenths)) * SPP_PULSES
        self._window.clear()
        self._anchor = None

    def pulse(self, now_s: float) -> None:
        """MIDI Clock (0xF8) arrived at ``now_s``."""
        if not self._running:
            return
        if self._window:
            _, last_time = self._window[-1]
            interval = now_s - last_time
            if interval <= 0 or 60.0 / (interval * MIDI_CLOCK_PPQN) < MIN_BPM:
                self.glitches += 1  # time ran backwards or the master stalled: restart the fit here
                self._window.clear()
        self._window.append((self._next_pulse, now_s))
        self._next_pulse += 1
        self.pulses_received += 1
        self._refit()

    def _refit(self) -> None:
        n = len(self._window)
        if n >= MIN_FIT_PULSES:
            pulses = [p for p, _ in self._window]
            times = [t for _, t in self._window]
            mean_p = sum(pulses) / n
            mean_t = sum(times) / n
            var_p = sum((p - mean_p) ** 2 for p in pulses)
            slope = sum((p - mean_p) * (t - mean_t) for p, t in zip(pulses, times)) / var_p
            bpm = 60.0 / (slope * MIDI_CLOCK_PPQN) if slope > 0 else 0.0
            if MIN_BPM <= bpm <= MAX_BPM:
                self._period_s = slope
                self._anchor = (mean_p, mean_t)
                return
        last_pulse, last_time = self._window[-1]
        self._anchor = (float(last_pulse), last_time)

    def _pulse_at(self, now_s: float) -> float:
        if self._anchor is None:
            return float(self._next_pulse)
        pulse, when = self._anchor
        position = pulse + (now_s - when) / self._period_s
        if not self._running:
            return float(self._next_pulse)
        return max(position, float(self._next_pulse - 1))

    def tick_at(self, now_s: float) -> float:
        return self._pulse_at(now_s) / self.grid.clock_pulses_per_tick

    def time_of_tick(self, tick: float) -> float:
        """Predicted time of grid position ``tick`` at the current tempo estimate.

        Before the first pulse after a Start the prediction counts from now at the fallback
        or last tempo; the engine re-asks as pulses arrive.
        """
        target_pulse = tick * self.grid.clock_pulses_per_tick
        if self._anchor is None:
            raise LookupError("no clock pulse since Start; the position has no time yet")
        pulse, when = self._anchor
        return when + (target_pulse - pulse) * self._period_s


def _check_bpm(bpm: float) -> None:
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise AntiphonError(f"tempo {bpm} bpm is outside {MIN_BPM:g}-{MAX_BPM:g} bpm; pick a tempo inside it")
