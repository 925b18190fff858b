"""Musical time from an Ableton Link session: the shared tempo, beat and bar phase.

:class:`LinkClock` answers the engine's two questions (*where are we*, *when is* a tick; see
:class:`daemon.live.clock.MusicalClock`) from the session's timeline, so bar lines fall where
every peer's do: a Link beat is a quarter note and the quantum is one bar of the meter (4 beats
in 4/4, 3 in 6/8), so a bar line is where the session's phase is 0.

Link keeps time on its own host clock (microseconds); the daemon keeps it on
:func:`daemon.timebase.now_s` (``perf_counter``, or JACK's frame clock under ``--midi-api
jack``). The two are tied by an offset, measured by reading both clocks back to back (the
tightest of a few tries) and measured again every :data:`OFFSET_REFRESH_S`, so a daemon clock
that runs at JACK's frame rate, not quite the host's, stays on the session's grid.

Start/stop: with ``start_stop`` (the default) the clock runs only while the session plays;
without it, Antiphon plays whenever Link runs. The engine thread is the only caller (not
thread-safe by design), as with the other clocks.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from typing import Protocol

from daemon.io.link_session import LinkState
from daemon.music.grid import Grid
from daemon.timebase import Clock, now_s

OFFSET_REFRESH_S = 0.05  # re-tie Link's host clock to the daemon's this often (they drift by ppm)
OFFSET_TRIES = 3  # back-to-back readings per tie; the tightest bracket wins (a thread preempted widens one)
MICROS = 1e6


class LinkPeer(Protocol):
    """What the clock needs of :class:`daemon.io.link_session.LinkSession`."""

    def micros(self) -> int: ...

    def state(self) -> LinkState: ...

    def beat_at(self, micros: int, quantum: float) -> float: ...

    def time_at_beat(self, beat: float, quantum: float) -> int: ...

    def propose_tempo(self, bpm: float) -> None: ...


class LinkClock:
    """Grid ticks on a Link session's timeline.

    Args:
        session: the Link peer.
        grid: the daemon's pulse grid (its meter sets the quantum).
        clock: the daemon's clock.
        start_stop: run only while the session plays.
    """

    def __init__(self, session: LinkPeer, grid: Grid, clock: Clock = now_s, start_stop: bool = True) -> None:
        self.session = session
        self.grid = grid
        self.start_stop = start_stop
        self._clock = clock
        self._offset_us = 0.0  # Link micros - daemon seconds * 1e6
        self._tied_at = float("-inf")

    @property
    def quantum(self) -> float:
        """Beats (quarter notes) in a bar: the phase every peer shares."""
        return self.grid.ticks_per_bar / self.grid.ticks_per_beat

    @property
    def bpm(self) -> float:
        return self.session.state().tempo

    @property
    def running(self) -> bool:
        return self.session.state().playing or not self.start_stop

    def state(self) -> LinkState:
        return self.session.state()

    def tick_at(self, now_s: float) -> float:
        beat = self.session.beat_at(round(self._to_micros(now_s)), self.quantum)
        return beat * self.grid.ticks_per_beat

    def time_of_tick(self, tick: float) -> float:
        micros = self.session.time_at_beat(tick / self.grid.ticks_per_beat, self.quantum)
        return (micros - self._offset()) / MICROS

    def propose_tempo(self, bpm: float) -> None:
        """Ask the session for ``bpm`` (Antiphon's OSC ``bpm``): every peer moves, this clock too."""
        self.session.propose_tempo(bpm)

    def _to_micros(self, time_s: float) -> float:
        return time_s * MICROS + self._offset()

    def _offset(self) -> float:
        now = self._clock()
        if now - self._tied_at >= OFFSET_REFRESH_S:
            best_width = float("inf")
            for _ in range(OFFSET_TRIES):
                before = self._clock()
                micros = self.session.micros()
                after = self._clock()
                if after - before < best_width:
                    best_width = after - before
                    self._offset_us = micros - (before + after) / 2 * MICROS
            self._tied_at = now
        return self._offset_us
