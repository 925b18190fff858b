"""Which clock the daemon follows: the DAW's MIDI clock while it arrives, an internal clock otherwise.

The rule, in one place:

* **MIDI clock pulses arriving -> follow them.** The first Clock (0xF8), Start (0xFA) or
  Continue (0xFB) switches to the :class:`~daemon.live.clock.MidiClock` follower. Pulses that come
  without any Start having been seen (the DAW was already playing when Antiphon started) are
  followed from the first one heard: bar lines are then counted from that pulse.
* **No pulse for more than** ``timeout_s`` **(1 s by default) -> the internal clock,** at the
  last tempo the MIDI clock had, continuing from the position reached (so what is playing
  keeps its place). The internal tempo and meter otherwise come from the preset or OSC.
* A MIDI Stop stops the MIDI clock (positions freeze until Continue or Start); a DAW that keeps
  sending pulses while stopped keeps Antiphon following it, stopped and silent. A Stop heard
  while on the internal clock silences what plays but does not stop that clock; a Song
  Position Pointer heard then is kept for the next Continue.

* **Ableton Link** (``[clock] source = "link"`` or ``--link``, decided when the daemon starts):
  the session's tempo, beats and bar phase (:class:`~daemon.live.link_clock.LinkClock`); MIDI
  clock is then not followed. The session's start/stop starts and silences the parts, Antiphon's
  OSC ``bpm`` is proposed to the session, and tempo and peer changes are logged.

Positions are grid ticks of a 24-ticks-per-beat grid (one tick per MIDI clock pulse), so both
clocks count the same units; the meter only says where bar lines fall.

:class:`Transport` owns no thread and sends nothing: the engine thread feeds it every realtime
message with its arrival time and asks it for positions and times (not thread-safe by design).

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from enum import Enum

from daemon.control.params import MAX_BPM, MIN_BPM
from daemon.live.clock import InternalClock, MidiClock
from daemon.live.link_clock import LinkClock
from daemon.music.grid import MIDI_CLOCK_PPQN, Grid

log = logging.getLogger(__name__)

DEFAULT_MIDI_TIMEOUT_S = 1.0  # no pulse for this long (a pulse comes every 10-125 ms): internal clock
CLOCK_MESSAGES = frozenset({"clock", "start", "continue", "stop", "songpos"})  # what handle() reads

INTERNAL = "internal"
MIDI = "midi"
LINK = "link"
LINK_POLL_S = 0.01  # how often the engine looks at the Link session's start/stop and tempo
LINK_TEMPO_REPORT_BPM = 0.05  # a Link tempo change this large is logged


class TransportEvent(Enum):
    """What a message (or the timeout) did to musical time; the engine reacts to each."""

    FOLLOWING_MIDI = "following MIDI clock"  # switched from the internal clock: positions jump
    STARTED = "MIDI Start"  # song from the top: positions jump
    CONTINUED = "MIDI Continue"  # resumes where it stopped
    STOPPED = "MIDI Stop"  # silence now
    LOCATED = "Song Position Pointer"  # positions jump (only while stopped)
    INTERNAL = "internal clock"  # no pulse for the timeout: the internal clock took over
    LINK_STARTED = "Link start"  # the session started playing
    LINK_STOPPED = "Link stop"  # the session stopped: silence now


def pulse_grid(numerator: int = 4, denominator: int = 4) -> Grid:
    """The daemon's grid of one tick per MIDI clock pulse (24 per quarter note) in a meter."""
    return Grid(MIDI_CLOCK_PPQN, numerator, denominator)


class Transport:
    """The clock the engine follows now, and the switching between MIDI and internal clocks.

    Args:
        bpm: tempo of the internal clock, quarter notes per minute.
        now_s: the time (seconds, :func:`daemon.timebase.now_s`) of tick 0 of the internal clock.
        numerator: beats in a bar.
        denominator: note value of a beat.
        follow_midi: False ignores MIDI clock and transport messages (always internal).
        timeout_s: seconds without a pulse after which the internal clock takes over.
        link: a Link session's clock to follow instead of MIDI clock (its grid is replaced by the
            transport's).
    """

    def __init__(self, bpm: float, now_s: float, numerator: int = 4, denominator: int = 4,
                 follow_midi: bool = True, timeout_s: float = DEFAULT_MIDI_TIMEOUT_S,
                 link: LinkClock | None = None) -> None:
        self.grid = pulse_grid(numerator, denominator)
        self.internal = InternalClock(self.grid, bpm, origin_s=now_s)
        self.midi = MidiClock(self.grid, fallback_bpm=bpm)
        self.link = link
        self.follow_midi = follow_midi and link is None
        self.timeout_s = timeout_s
        self.source = INTERNAL
        self._link_seen: tuple[bool, float, int] | None = None  # (playing, tempo logged, peers) last looked at
        self._link_polled_s = now_s
        if link is not None:
            link.grid = self.grid
            self.source = LINK
        self._last_heard_s: float | None = None  # last pulse or transport message from the DAW
        self._transport_seen = False  # a Start, Stop or Continue since following began

    # ------------------------------------------------------------------ the active clock

    def _active(self) -> InternalClock | MidiClock | LinkClock:
        if self.link is not None:
            return self.link
        return self.midi if self.source == MIDI else self.internal

    @property
    def bpm(self) -> float:
        """Tempo now, quarter notes per minute (the MIDI clock's smoothed estimate when following)."""
        return self._active().bpm

    @property
    def running(self) -> bool:
        """False while the DAW (or the Link session) is stopped."""
        return self._active().running

    @property
    def ticks_per_bar(self) -> int:
        return self.grid.ticks_per_bar

    def tick_at(self, now_s: float) -> float:
        """Position (ticks of 1/24 beat, fractional) at time ``now_s``."""
        return self._active().tick_at(now_s)

    def time_of_tick(self, tick: float) -> float:
        """Time (seconds) of position ``tick`` at the current tempo estimate.

        Raises:
            LookupError: following MIDI clock after a Start, before its first pulse.
        """
        return self._active().time_of_tick(tick)

    # ------------------------------------------------------------------ settings

    def set_bpm(self, bpm: float, now_s: float, propose: bool = True) -> None:
        """The internal clock's tempo (keeps its position); the MIDI clock, when followed, wins.
        Under Link, ``propose`` asks the session for the tempo (every peer follows)."""
        self.internal.set_bpm(bpm, now_s)
        if self.link is not None and propose:
            self.link.propose_tempo(bpm)
            log.info("Link: proposed %.2f bpm to the session", bpm)

    def set_meter(self, numerator: int, denominator: int) -> None:
        """Where bar lines fall, for both clocks (positions do not move)."""
        self.grid = pulse_grid(numerator, denominator)
        self.internal.grid = self.grid
        self.midi.grid = self.grid
        if self.link is not None:
            self.link.grid = self.grid

    def deadline_s(self) -> float | None:
        """When :meth:`check_timeout` would switch to the internal clock (or look at Link), or None."""
        if self.link is not None:
            return self._link_polled_s + LINK_POLL_S
        if self.source != MIDI or self._last_heard_s is None:
            return None
        return self._last_heard_s + self.timeout_s

    # ------------------------------------------------------------------ input

    def handle(self, kind: str, time_s: float, song_position: int = 0) -> TransportEvent | None:
        """Feed one realtime or song-position message (mido type name) that arrived at ``time_s``.

        Args:
            kind: ``clock``, ``start``, ``continue``, ``stop`` or ``songpos``.
            time_s: its arrival time (seconds).
            song_position: for ``songpos``, the position in MIDI beats (sixteenths).

        Returns:
            What changed for the engine, or None (an ordinary pulse).
        """
        if not self.follow_midi or kind not in CLOCK_MESSAGES:
            return None
        if self.source != MIDI and kind in ("stop", "songpos"):
            # No MIDI clock is followed: a Stop still silences, a position waits for a Start.
            if kind == "songpos":
                self.midi.song_position(song_position)
                return None
            return TransportEvent.STOPPED
        self._last_heard_s = time_s
        switched = self._follow(time_s)
        if kind == "clock":
            if not self.midi.running and not self._transport_seen:
                log.info("MIDI clock without a Start: following it from here (bar lines counted from now)")
                self.midi.continue_(time_s)
            self.midi.pulse(time_s)
            return TransportEvent.FOLLOWING_MIDI if switched else None
        if kind == "songpos":
            self.midi.song_position(song_position)
            return TransportEvent.LOCATED
        self._transport_seen = True
        if kind == "start":
            self.midi.start(time_s)
            return TransportEvent.STARTED
        if kind == "continue":
            self.midi.continue_(time_s)
            return TransportEvent.CONTINUED
        self.midi.stop(time_s)
        return TransportEvent.STOPPED

    def _follow(self, time_s: float) -> bool:
        if self.source == MIDI:
            return False
        self.source = MIDI
        self._transport_seen = False
        return True

    def check_timeout(self, now_s: float) -> TransportEvent | None:
        """Switch to the internal clock when no pulse came for ``timeout_s``; say so if it did.
        Under Link: the session's start or stop, if it changed."""
        if self.link is not None:
            return self._poll_link(self.link, now_s)
        deadline = self.deadline_s()
        if deadline is None or now_s < deadline:
            return None
        position = self.midi.tick_at(now_s)
        bpm = min(max(self.midi.bpm, MIN_BPM), MAX_BPM)
        self.internal = InternalClock(self.grid, bpm)
        self.internal.start(now_s, position)
        self.source = INTERNAL
        self._last_heard_s = None
        log.info("no MIDI clock for %.1f s: internal clock at %.2f bpm (the last tempo heard)", self.timeout_s, bpm)
        return TransportEvent.INTERNAL

    def _poll_link(self, link: LinkClock, now_s: float) -> TransportEvent | None:
        self._link_polled_s = now_s
        state = link.state()
        seen = self._link_seen
        if seen is None:
            self._link_seen = (state.playing, state.tempo, state.peers)
            log.info("Link: %.2f bpm, %d peer(s), %s (quantum %g beats)", state.tempo, state.peers,
                     "playing" if state.playing else "stopped", link.quantum)
            return None
        playing, tempo, peers = seen
        if peers != state.peers:
            log.info("Link: %d peer(s) in the session", state.peers)
        if abs(tempo - state.tempo) >= LINK_TEMPO_REPORT_BPM:
            log.info("Link tempo: %.2f bpm", state.tempo)
            tempo = state.tempo
        self._link_seen = (state.playing, tempo, state.peers)
        if not link.start_stop or playing == state.playing:
            return None
        return TransportEvent.LINK_STARTED if state.playing else TransportEvent.LINK_STOPPED
