"""Musical time from an Ableton Link session: the shared tempo, beat and bar phase.

:class:`LinkClock` answers the engine's two questions (*where are we*, *when is* a tick; see
:class:`daemon.live.clock.MusicalClock`) from the session's timeline, so bar lines fall where
every peer's do: a Link beat is a quarter note and the quantum is one bar of the meter (4 beats
in 4/4, 3 in 6/8), so a bar line is where the session's phase is 0.

Link keeps time on its own host clock (microseconds); the daemon keeps it on
:func:`daemon.timebase.now_s` (``perf_counter``, or JACK's frame clock under ``--midi-api
jack``). The two are tied by a straight line through pairs of readings of both clocks, one pair
(the tightest of a few back-to-back tries) every :data:`TIE_EVERY_S`, over the last
:data:`TIE_WINDOW` pairs, refitted without the pairs more than :data:`TIE_OUTLIER_US` off it. A
JACK frame clock runs at the sound card's rate, not quite the host's (a dummy driver's 0.25 %
slow here), and its reading stalls with the graph: the line follows the rate, and a stalled
reading does not move it.

Start/stop: with ``start_stop`` (the default) the clock runs only while the session plays;
without it, Antiphon plays whenever Link runs. The engine thread is the only caller (not
thread-safe by design), as with the other clocks.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from daemon.io.link_session import LinkState
from daemon.music.grid import Grid
from daemon.timebase import Clock, now_s

TIE_EVERY_S = 0.05  # a new pair of readings of both clocks this often
TIE_WINDOW = 10  # pairs in the line (0.5 s)
TIE_OUTLIER_US = 500.0  # a pair this far off the first line is left out of the second
TIE_TRIES = 3  # back-to-back readings per pair; the tightest bracket wins (a thread preempted widens one)
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
        self._pairs: deque[tuple[float, float]] = deque(maxlen=TIE_WINDOW)  # (daemon s, Link micros)
        self._line = (0.0, MICROS)  # Link micros = line[0] + line[1] * daemon seconds
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
        intercept, slope = self._tie()
        beat = self.session.beat_at(round(intercept + slope * now_s), self.quantum)
        return beat * self.grid.ticks_per_beat

    def time_of_tick(self, tick: float) -> float:
        micros = self.session.time_at_beat(tick / self.grid.ticks_per_beat, self.quantum)
        intercept, slope = self._tie()
        return (micros - intercept) / slope

    def propose_tempo(self, bpm: float) -> None:
        """Ask the session for ``bpm`` (Antiphon's OSC ``bpm``): every peer moves, this clock too."""
        self.session.propose_tempo(bpm)

    def _tie(self) -> tuple[float, float]:
        """The line from daemon seconds to Link micros, with a new pair when one is due."""
        now = self._clock()
        if now - self._tied_at >= TIE_EVERY_S:
            self._tied_at = now
            best: tuple[float, float, float] | None = None
            for _ in range(TIE_TRIES):
                before = self._clock()
                micros = float(self.session.micros())
                after = self._clock()
                if best is None or after - before < best[0]:
                    best = (after - before, (before + after) / 2, micros)
            assert best is not None
            self._pairs.append(best[1:])
            self._line = _fit(list(self._pairs), self._line)
        return self._line


def _fit(pairs: list[tuple[float, float]], previous: tuple[float, float]) -> tuple[float, float]:
    """A line (intercept, slope) through ``pairs``; once more without the pairs far off it. One pair: the
    previous slope through it."""
    if len(pairs) < 3:
        seconds, micros = pairs[-1]
        return micros - previous[1] * seconds, previous[1]
    line = _least_squares(pairs)
    kept = [(x, y) for x, y in pairs if abs(y - line[0] - line[1] * x) <= TIE_OUTLIER_US]
    return _least_squares(kept) if len(kept) >= 3 else line


def _least_squares(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    origin = pairs[0][0]  # seconds of a JACK frame clock are large: fit around the first
    xs = [x - origin for x, _ in pairs]
    ys = [y for _, y in pairs]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var if var > 0 else MICROS
    return mean_y - slope * (mean_x + origin), slope
