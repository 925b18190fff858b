"""Ableton Link: join the session of the Link peers on the network (Live, Bitwig, iOS apps).

A thin, typed face over the ``link`` module of the optional ``LinkPython-extern`` package
(``pip install 'antiphon[link]'``; Link is GPL-2.0-or-later or commercially licensed). Only this
module imports it, lazily, so the daemon runs without it and says what to install when asked for
Link. Everything musical (beats into grid ticks, Link's clock into the daemon's) is
:class:`daemon.live.link_clock.LinkClock`'s.

Link counts time in integer microseconds on its own host clock (on Linux ``CLOCK_MONOTONIC_RAW``)
and beats on a timeline whose phase within ``quantum`` beats is shared by every peer. Reads
capture the session state from the application's side (``captureAppSessionState``), which is
safe from any non-audio thread; nothing here runs in JACK's process callback.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from daemon.errors import AntiphonError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'antiphon[link]' (the LinkPython-extern package; Link is GPL-2.0-or-later)"
MIN_LINK_BPM, MAX_LINK_BPM = 20.0, 999.0  # the tempo range Link sessions keep


class LinkUnavailableError(AntiphonError):
    """Ableton Link was asked for and cannot run here (the package is missing or Link failed)."""


@dataclass(frozen=True)
class LinkState:
    """One reading of the session.

    Attributes:
        tempo: the session's tempo, beats (quarter notes) per minute.
        playing: the session's start/stop state.
        peers: other Link peers in the session.
    """

    tempo: float
    playing: bool
    peers: int


class LinkSession:
    """Antiphon as one Link peer.

    Args:
        bpm: the tempo Antiphon proposes when it founds a session (a joined session keeps its own).
        start_stop_sync: share start/stop with peers that share it.
        module: the ``link`` module (tests pass their own); None imports it.

    Raises:
        LinkUnavailableError: the package is not installed or Link cannot start.
    """

    def __init__(self, bpm: float, start_stop_sync: bool = True, module: Any = None) -> None:
        if module is None:
            try:
                import link as module
            except ImportError as exc:
                raise LinkUnavailableError(f"Ableton Link is not installed: {INSTALL_HINT}") from exc
        try:
            self._link = module.Link(float(bpm))
            self._link.startStopSyncEnabled = bool(start_stop_sync)
            self._link.enabled = True
            self._clock = self._link.clock()
        except Exception as exc:  # a binding or network failure inside the extension: say so, run without
            raise LinkUnavailableError(f"Ableton Link could not start: {exc}") from exc
        self.start_stop_sync = bool(start_stop_sync)

    def micros(self) -> int:
        """Link's host clock now, microseconds."""
        return int(self._clock.micros())

    def state(self) -> LinkState:
        """The session's tempo, start/stop state and peer count now."""
        session = self._link.captureAppSessionState()
        return LinkState(float(session.tempo()), bool(session.isPlaying()), int(self._link.numPeers()))

    def beat_at(self, micros: int, quantum: float) -> float:
        """The beat at host time ``micros`` (its phase in ``quantum`` is the session's)."""
        return float(self._link.captureAppSessionState().beatAtTime(int(micros), float(quantum)))

    def time_at_beat(self, beat: float, quantum: float) -> int:
        """Host time (microseconds) of ``beat``."""
        return int(self._link.captureAppSessionState().timeAtBeat(float(beat), float(quantum)))

    def propose_tempo(self, bpm: float) -> None:
        """Ask the session to change tempo from now (every peer follows, Antiphon too)."""
        bpm = min(max(float(bpm), MIN_LINK_BPM), MAX_LINK_BPM)
        session = self._link.captureAppSessionState()
        session.setTempo(bpm, self.micros())
        self._link.commitAppSessionState(session)

    def close(self) -> None:
        """Leave the session."""
        try:
            self._link.enabled = False
        except Exception:  # leaving must never stop a shutdown
            log.debug("Link did not leave cleanly", exc_info=True)
