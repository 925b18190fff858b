"""OSC watchers (``/antiphon/watch <port>``, what the console asks for): real UDP packets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from daemon.io.osc_feedback import OscFeedback
from tests.daemon.osc_support import Rig, UdpReceiver, running_server


@pytest.fixture
def rig() -> Iterator[Rig]:
    with running_server() as running:
        yield running



def test_a_watcher_gets_the_replies_and_the_roll_and_the_patch_only_the_replies(rig: Rig) -> None:
    watcher = UdpReceiver()
    try:
        rig.send("/antiphon/watch", watcher.port)
        rig.settle(rig.replies.mark())  # the watch is handled before the status fence returns
        assert rig.feedback.watchers == [("127.0.0.1", watcher.port)]
        patch_start = rig.replies.mark()
        rig.send("/antiphon/set/temperature", 0.7)
        watcher.wait_address("/antiphon/state/temperature")
        rig.feedback.planned(62, 90, 1, 8.0, 0.5, "answer 3")
        rig.feedback.heard(60, 100, 0, 7.25)
        rig.feedback.silenced("panic")
        planned = watcher.wait_address("/antiphon/planned")
        assert list(planned.params) == [62, 90, 2, 8.0, 0.5, "answer 3"]
        assert list(watcher.wait_address("/antiphon/heard").params) == [60, 100, 1, 7.25]
        assert list(watcher.wait_address("/antiphon/silenced").params) == ["panic"]
        got = {m.address for m in rig.settle(patch_start)}
        assert "/antiphon/state/temperature" in got
        assert not got & {"/antiphon/planned", "/antiphon/heard", "/antiphon/silenced"}
    finally:
        watcher.close()


@pytest.mark.parametrize("args", [(), ("7401",), (0,), (70000,), (1, 2)])
def test_a_watch_without_one_port_is_refused(rig: Rig, args: tuple[Any, ...]) -> None:
    start = rig.replies.mark()
    rig.send("/antiphon/watch", *args)
    msg = rig.error_after(start)
    address, message = msg.params[0], msg.params[1]
    assert address == "/antiphon/watch" and "UDP port" in message
    assert rig.feedback.watchers == []


def test_a_watcher_that_stops_asking_is_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    from daemon.io import osc_feedback

    feedback = OscFeedback("127.0.0.1", None)
    clock = [100.0]
    monkeypatch.setattr(osc_feedback.time, "monotonic", lambda: clock[0])
    watcher = UdpReceiver()
    try:
        assert feedback.watch("127.0.0.1", watcher.port)
        assert feedback.heard(60, 90, 0, 1.0)
        watcher.wait_address("/antiphon/heard")
        clock[0] += osc_feedback.WATCH_TTL_S + 0.1
        feedback.heard(61, 90, 0, 2.0)
        assert feedback.watchers == [] and not feedback.heard(62, 90, 0, 3.0)
    finally:
        watcher.close()
        feedback.close()
