"""``/antiphon/set/memory`` and ``/antiphon/forget`` over real UDP."""

from __future__ import annotations

import pytest

from daemon.control.events import SetParam, Trigger
from daemon.control.params import ParamRangeError, defaults, validate
from tests.daemon.osc_support import running_server


def test_memory_is_set_and_echoed_refused_out_of_range_and_forget_enqueues_its_trigger() -> None:
    with running_server() as rig:
        start = rig.replies.mark()
        rig.send("/antiphon/set/memory", 0.25)  # a binary fraction: OSC floats are 32-bit
        assert rig.replies.wait_address("/antiphon/state/memory", start=start).params == [0.25]
        assert rig.state.get("memory") == 0.25
        start = rig.replies.mark()
        rig.send("/antiphon/set/memory", 1.5)
        message = rig.error_after(start)
        assert message.params[0] == "/antiphon/set/memory" and "memory must be 0-1" in message.params[1]
        assert rig.state.get("memory") == 0.25
        start = rig.replies.mark()
        rig.send("/antiphon/forget")
        assert rig.settle(start) == []
        assert rig.controls.drain()[:2] == [SetParam("memory", 0.25), Trigger("forget")]


def test_memory_is_off_unless_asked_and_takes_0_to_1() -> None:
    assert defaults()["memory"] == 0.0
    assert validate("memory", 1) == 1.0
    with pytest.raises(ParamRangeError, match="memory must be 0-1"):
        validate("memory", -0.1)
