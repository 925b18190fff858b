"""Helpers for the OSC tests: a UDP receiver that collects replies, a running server, tools.

Everything here is real UDP on 127.0.0.1 with ephemeral ports; waits poll with timeouts.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg

from daemon.cc_map import CcMapper
from daemon.control import ControlQueue
from daemon.live_state import LiveState
from daemon.osc_io import OscConfig, OscFeedback, OscServer, parse_packet
from daemon.params import PARAMS

WAIT_S = 3.0  # longest wait for a reply that must come
QUIET_S = 0.15  # how long "nothing more came" is watched for


def in_ci() -> bool:
    """Whether the ``CI`` environment variable asks for missing tools to fail tests."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require_tool(name: str, package: str) -> str:
    """The path of program ``name``; skip the test without it (fail when CI is set)."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (apt-get install {package})"
        if in_ci():
            pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
        pytest.skip(reason)
    return path


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago (for programs that need a number)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class UdpReceiver:
    """Collects the OSC messages sent to its port, on a thread of its own."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(1.0)
        self.port = int(self.sock.getsockname()[1])
        self.messages: list[OscMessage] = []
        self.datagram_sizes: list[int] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if self._stop.is_set():
                return
            with self._cond:
                self.datagram_sizes.append(len(data))
                self.messages.extend(parse_packet(data))
                self._cond.notify_all()

    def wait_for(self, predicate: Callable[[OscMessage], bool], timeout_s: float = WAIT_S,
                 start: int = 0) -> OscMessage:
        """The first message from index ``start`` on satisfying ``predicate``; fails after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for msg in self.messages[start:]:
                    if predicate(msg):
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [str(m) for m in self.messages[start:]]
                    raise AssertionError(f"no matching OSC message within {timeout_s} s; got {seen}")
                self._cond.wait(left)

    def wait_address(self, address: str, timeout_s: float = WAIT_S, start: int = 0) -> OscMessage:
        """The first message to ``address`` (from index ``start``)."""
        return self.wait_for(lambda m: m.address == address, timeout_s, start)

    def mark(self) -> int:
        """An index to pass as ``start`` so that only later messages count."""
        with self._cond:
            return len(self.messages)

    def since(self, start: int) -> list[OscMessage]:
        """Messages from index ``start`` on."""
        with self._cond:
            return list(self.messages[start:])

    def close(self) -> None:
        self._stop.set()
        self.sock.sendto(b"", ("127.0.0.1", self.port))  # wakes the thread now
        self._thread.join(1.0)
        self.sock.close()


@dataclass
class Rig:
    """A running server with everything around it."""

    server: OscServer
    state: LiveState
    controls: ControlQueue
    feedback: OscFeedback
    replies: UdpReceiver
    cc_map: CcMapper
    client: socket.socket

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address

    def send_raw(self, data: bytes) -> None:
        self.client.sendto(data, self.server.address)

    def send(self, address: str, *args: object) -> None:
        self.send_raw(build_msg(address, list(args)).dgram)

    def error_after(self, start: int, timeout_s: float = WAIT_S) -> OscMessage:
        return self.replies.wait_address("/antiphon/error", timeout_s, start)

    def settle(self, start: int) -> list[OscMessage]:
        """Everything the server sent from ``start`` on in answer to what was sent before this call.

        Sends ``/antiphon/status`` as a fence: the server handles datagrams in order, so once its
        reply ends, every earlier datagram has been answered. The status block itself is left out.
        """
        self.send("/antiphon/status")
        self.replies.wait_address("/antiphon/status/end", start=start)
        got = self.replies.since(start)
        end = next(i for i, m in enumerate(got) if m.address == "/antiphon/status/end")
        return got[:end - len(PARAMS)]


@contextmanager
def running_server(state: LiveState | None = None, cc_map: CcMapper | None = None,
                   controls: ControlQueue | None = None) -> Iterator[Rig]:
    """An :class:`OscServer` on a free port, replying to a :class:`UdpReceiver`."""
    replies = UdpReceiver()
    feedback = OscFeedback("127.0.0.1", replies.port)
    state = state or LiveState()
    controls = controls or ControlQueue()
    cc_map = cc_map or CcMapper()
    server = OscServer(OscConfig(port=0), controls, state, feedback, cc_map)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.start()
    try:
        yield Rig(server, state, controls, feedback, replies, cc_map, client)
    finally:
        server.stop()
        client.close()
        feedback.close()
        replies.close()
