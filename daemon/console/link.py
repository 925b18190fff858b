"""The console's line to a running daemon: OSC over UDP, in its own process.

The console never runs inside the daemon: it asks the daemon's OSC server for everything it says
(``/antiphon/watch <port>``, renewed every :data:`ASK_EVERY_S` with a ``/antiphon/status``), and
sends parameter changes and triggers as any patch does. So the daemon's threads share nothing
with the console's drawing (no interpreter lock, no event loop), a console that stops changes
nothing, and one attaches to a daemon already playing, across restarts, and over SSH.

This module must not import torch, ``training``, ``export`` or Textual.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from typing import Any

from pythonosc.osc_message_builder import build_msg

from daemon.control.osc_config import OscPacketError
from daemon.io.osc_addresses import STATUS, WATCH
from daemon.io.osc_packet import parse_packet

log = logging.getLogger(__name__)

ASK_EVERY_S = 1.0  # watch and status again this often (the daemon forgets a watcher after 5 s)
RECEIVE_TIMEOUT_S = 0.2


class DaemonLink:
    """OSC to and from the daemon at ``host:port``; what it says lands in :attr:`inbox`.

    Args:
        host: the daemon's OSC host.
        port: the daemon's OSC port (``[osc] port``, ``--osc-port``).
        listen_host: where the console receives (the daemon sends to the address it was asked from).
    """

    def __init__(self, host: str, port: int, listen_host: str = "127.0.0.1") -> None:
        self.target = (host, port)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((listen_host, 0))
        self._socket.settimeout(RECEIVE_TIMEOUT_S)
        self.port: int = self._socket.getsockname()[1]
        self.inbox: queue.SimpleQueue[tuple[str, list[Any], float]] = queue.SimpleQueue()
        self.unreadable = 0
        self._stop = threading.Event()
        self._asked_s = 0.0
        self._thread = threading.Thread(target=self._receive, name="console-osc", daemon=True)
        self._thread.start()

    def send(self, address: str, *args: Any) -> None:
        """Send one message to the daemon (a daemon that is not there: nothing happens)."""
        try:
            self._socket.sendto(build_msg(address, list(args)).dgram, self.target)
        except OSError as exc:
            log.debug("OSC %s to %s:%d not sent: %s", address, *self.target, exc)

    def ask(self, now_s: float | None = None) -> bool:
        """Watch and status again when :data:`ASK_EVERY_S` has passed; True if it asked."""
        now_s = time.monotonic() if now_s is None else now_s
        if now_s - self._asked_s < ASK_EVERY_S:
            return False
        self._asked_s = now_s
        self.send(WATCH, self.port)
        self.send(STATUS)
        return True

    def drain(self) -> list[tuple[str, list[Any], float]]:
        """Everything received since the last call: (address, arguments, monotonic seconds)."""
        out = []
        while True:
            try:
                out.append(self.inbox.get_nowait())
            except queue.Empty:
                return out

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                messages = parse_packet(data)
            except OscPacketError:
                self.unreadable += 1
                continue
            now = time.monotonic()
            for message in messages:
                self.inbox.put((message.address, list(message.params), now))

    def close(self) -> None:
        self._stop.set()
        self._socket.close()
        self._thread.join(timeout=1.0)
