"""Helpers for the OSC tests: a UDP receiver that collects replies, a running server, tools.

Everything here is real UDP on 127.0.0.1 with ephemeral ports; waits poll with timeouts.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg

from benchmarks.jack_rig import OscListener, free_udp_port  # noqa: F401 (the tests take it from here)
from daemon.control.cc_map import CcMapper
from daemon.control.events import ControlQueue
from daemon.control.live_state import LiveState
from daemon.control.osc_config import OscConfig
from daemon.control.params import PARAMS
from daemon.io.osc_feedback import OscFeedback
from daemon.io.osc_server import OscServer

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


class UdpReceiver(OscListener):
    """Collects the OSC messages sent to its port, on a thread of its own (the benchmarks' listener)."""


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
