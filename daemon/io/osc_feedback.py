"""Everything Antiphon says over OSC: replies, errors, played notes, detected phrases.

:class:`OscFeedback` sends to one configured host and port (Max's ``udpreceive``, Pd's
``netreceive -u -b``); the engine and scheduler may call it from any thread.
This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Mapping
from typing import Any

from pythonosc.osc_message_builder import build_msg
from pythonosc.parsing import osc_types
from pythonosc.udp_client import SimpleUDPClient

from daemon.control.osc_config import DEFAULT_REPLY_HOST, DEFAULT_REPLY_PORT, OscConfig, OscConfigError
from daemon.control.params import edge_args, key_name
from daemon.io.osc_addresses import (
    CLOCK,
    COUNT,
    CURRENT_PRESET,
    DROPPED,
    ERROR,
    HEARD,
    LEARNED,
    LEARNING,
    NOTE,
    PHRASE,
    PLANNED,
    SILENCED,
    STATE_PREFIX,
    STATUS_END,
)
from daemon.io.osc_packet import MAX_SHOWN_ADDRESS_CHARS, _ascii, _cut

log = logging.getLogger(__name__)

WATCH_TTL_S = 5.0  # a watcher that has not asked again for this long is forgotten (the console asks every second)
MAX_WATCHERS = 8


class OscFeedback:
    """Sends Antiphon's OSC replies and feedback to one host and port.

    Thread-safety: every method may be called from any thread (the OSC server thread, the engine,
    the scheduler); one lock serialises the sends. A send never blocks (the socket is
    non-blocking) and never raises: a failure is logged at debug level and counted in
    ``failed``.

    Args:
        host: where to send.
        port: UDP port to send to; None or 0 sends nothing (every method returns False).
    """

    def __init__(self, host: str = DEFAULT_REPLY_HOST, port: int | None = DEFAULT_REPLY_PORT) -> None:
        self._lock = threading.Lock()
        self._client: SimpleUDPClient | None = None
        self._target: tuple[str, int] | None = None
        self.sent = 0
        self.failed = 0
        self._watchers: dict[tuple[str, int], float] = {}  # (host, port) -> when it is forgotten (monotonic s)
        self._watch_socket: socket.socket | None = None
        if port:
            try:
                self._client = SimpleUDPClient(host, port)
            except OSError as exc:
                raise OscConfigError(f"cannot send OSC to {host}:{port}: {exc.strerror or exc}; "
                                     "check --osc-reply-host") from exc
            self._target = (host, port)

    @classmethod
    def from_config(cls, config: OscConfig) -> OscFeedback:
        """The feedback sender ``config`` asks for."""
        return cls(config.reply_host, config.reply_port if config.enabled else None)

    @property
    def target(self) -> tuple[str, int] | None:
        """``(host, port)`` replies go to, or None when replies are off."""
        return self._target

    def send(self, address: str, *args: Any) -> bool:
        """Send one message; True if it left.

        Args:
            address: the OSC address.
            *args: int, float or str arguments (strings are sent as ASCII, other characters escaped).
        """
        if self._client is None and not self._watchers:
            return False
        clean = [_ascii(a) if isinstance(a, str) else a for a in args]
        with self._lock:
            try:
                message = build_msg(address, clean)
            except (osc_types.BuildError, struct.error, ValueError) as exc:
                self.failed += 1
                log.debug("OSC %s not built: %s", address, exc)
                return False
            self._to_watchers(message.dgram)
            if self._client is None:
                return False
            try:
                self._client.send(message)
            except OSError as exc:
                self.failed += 1
                log.debug("OSC %s to %s:%d not sent: %s", address, *self._target, exc)  # type: ignore[misc]
                return False
            self.sent += 1
            return True

    # ------------------------------------------------------------------ watchers (the console)

    def watch(self, host: str, port: int) -> bool:
        """``host:port`` gets everything, and the roll, for :data:`WATCH_TTL_S` from now."""
        with self._lock:
            if (host, port) not in self._watchers and len(self._watchers) >= MAX_WATCHERS:
                return False
            if self._watch_socket is None:
                self._watch_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._watch_socket.setblocking(False)
            self._watchers[(host, port)] = time.monotonic() + WATCH_TTL_S
            return True

    @property
    def watchers(self) -> list[tuple[str, int]]:
        return list(self._watchers)

    def _to_watchers(self, dgram: bytes) -> None:
        """Send ``dgram`` to every watcher still asking (the lock is held)."""
        if not self._watchers or self._watch_socket is None:
            return
        now = time.monotonic()
        for target, until in list(self._watchers.items()):
            if now > until:
                del self._watchers[target]
                continue
            try:
                self._watch_socket.sendto(dgram, target)
            except OSError as exc:  # a console that went away: it stops asking, and is forgotten
                log.debug("OSC to the watcher %s:%d not sent: %s", *target, exc)

    def _roll(self, address: str, *args: Any) -> bool:
        """One roll message, to the watchers only."""
        if not self._watchers:
            return False
        clean = [_ascii(a) if isinstance(a, str) else a for a in args]
        with self._lock:
            try:
                self._to_watchers(build_msg(address, clean).dgram)
            except (osc_types.BuildError, struct.error, ValueError) as exc:
                log.debug("OSC %s not built: %s", address, exc)
                return False
            return True

    def heard(self, pitch: int, velocity: int, channel: int, position_beats: float) -> bool:
        """``/antiphon/heard <pitch> <velocity> <channel 1-16> <position>``: a note-on (a note-off:
        velocity 0) heard from the player, at ``position_beats`` on the clock; ``channel`` is 0-15."""
        return self._roll(HEARD, int(pitch), int(velocity), int(channel) + 1, float(position_beats))

    def planned(self, pitch: int, velocity: int, channel: int, start_beats: float, duration_beats: float,
                group: str) -> bool:
        """``/antiphon/planned <pitch> <velocity> <channel 1-16> <start> <duration> <group>``: a note
        Antiphon will play (an answer's, a band bar's), sent when it is planned, ahead of its time."""
        return self._roll(PLANNED, int(pitch), int(velocity), int(channel) + 1, float(start_beats),
                          float(duration_beats), group)

    def dropped(self, group: str) -> bool:
        """``/antiphon/dropped <group>``: the planned notes of ``group`` will not be played."""
        return self._roll(DROPPED, group)

    def silenced(self, reason: str) -> bool:
        """``/antiphon/silenced <reason>``: everything sounding closed, everything planned dropped."""
        return self._roll(SILENCED, reason)

    def note(self, pitch: int, velocity: int, channel: int, duration_beats: float) -> bool:
        """``/antiphon/note <pitch> <velocity> <channel 1-16> <duration_beats>`` for a note played.

        Args:
            pitch: MIDI note 0-127.
            velocity: 1-127.
            channel: MIDI channel 0-15 (sent as 1-16).
            duration_beats: how long it sounds, in beats.
        """
        return self.send(NOTE, int(pitch), int(velocity), int(channel) + 1, float(duration_beats))

    def phrase(self, n_notes: int, duration_beats: float, key_root: int | None) -> bool:
        """``/antiphon/phrase <n_notes> <duration_beats> <key>`` for a phrase detected.

        Args:
            n_notes: notes in the phrase.
            duration_beats: from its first note-on to its last note-off, in beats.
            key_root: the key's pitch class 0-11, or None (sent as ``none``).
        """
        return self.send(PHRASE, int(n_notes), float(duration_beats), key_name(key_root))

    def param(self, name: str, value: Any) -> bool:
        """``/antiphon/state/<name> <value...>`` for a parameter's internal ``value``."""
        return self.send(f"{STATE_PREFIX}{name}", *edge_args(name, value))

    def status(self, values: Mapping[str, Any]) -> bool:
        """Every parameter (internal values), then ``/antiphon/status/end <count>``."""
        ok = True
        for name, value in values.items():  # every one is sent, whatever happened to the one before
            ok = self.param(name, value) and ok
        return self.send(STATUS_END, len(values)) and ok

    def clock(self, source: str, bpm: float, running: bool, position_beats: float) -> bool:
        """``/antiphon/clock <source> <bpm> <running> <position>``.

        Args:
            source: ``midi``, ``internal`` or ``link``.
            bpm: the tempo followed (MIDI clock: the smoothed estimate), quarter notes per minute.
            running: False while the DAW is stopped.
            position_beats: where the clock is as this is sent, in beats from its origin (the
                MIDI song start, or the internal clock's start): bar lines fall on multiples of
                the bar's length in beats.
        """
        return self.send(CLOCK, source, float(bpm), int(bool(running)), float(position_beats))

    def current_preset(self, name: str) -> bool:
        """``/antiphon/preset/current <name>``: the preset playing."""
        return self.send(CURRENT_PRESET, name)

    def count(self, name: str, value: int) -> bool:
        """``/antiphon/count <name> <value>``: one of the daemon's counters."""
        return self.send(COUNT, name, int(value))

    def learning(self, param: str) -> bool:
        """``/antiphon/learning <param>``: learn mode started (``none``: stopped)."""
        return self.send(LEARNING, param)

    def learned(self, param: str, cc: int, channel: int) -> bool:
        """``/antiphon/learned <param> <cc> <channel 1-16>``; ``channel`` is 0-15."""
        return self.send(LEARNED, param, int(cc), int(channel) + 1)

    def error(self, address: str, message: str) -> bool:
        """``/antiphon/error <address> <message>``."""
        return self.send(ERROR, _cut(address, MAX_SHOWN_ADDRESS_CHARS), message)

    def close(self) -> None:
        """Close the socket; later sends return False."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._watch_socket is not None:
                self._watch_socket.close()
                self._watch_socket = None
            self._watchers.clear()
