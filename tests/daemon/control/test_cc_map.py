"""MIDI CC bindings (preset section), scaling, learn mode, and learn over real UDP."""

from __future__ import annotations

import re
import sys
from typing import Any

import mido
import pytest

from daemon.control.cc_map import CcBinding, CcMapper, CcMapSection, apply_control_change
from daemon.control.events import SetParam
from daemon.control.live_state import LiveState
from daemon.control.params import ParamError, UnknownParamError
from daemon.errors import PresetError
from tests.daemon.osc_support import running_server

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PRESET_TOML = """
[cc]
bindings = [
    { param = "temperature", cc = 74 },
    { param = "density", cc = 1, channel = 2, low = 0.2, high = 0.8 },
    { param = "mode", cc = 80, channel = 0 },
]
"""


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", control=control, value=value, channel=channel)


class RecordingFeedback:
    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def learned(self, param: str, cc: int, channel: int) -> bool:
        self.rows.append(("learned", param, cc, channel))
        return True

    def param(self, name: str, value: Any) -> bool:
        self.rows.append(("param", name, value))
        return True


def test_a_preset_section_reads_bindings_with_channels_1_to_16() -> None:
    section = CcMapSection.from_toml(tomllib.loads(PRESET_TOML)["cc"])
    assert section.bindings == (
        CcBinding("temperature", 74, None),
        CcBinding("density", 1, 1, 0.2, 0.8),
        CcBinding("mode", 80, None),
    )


@pytest.mark.parametrize(("table", "expected"), [
    ({"bindings": [], "learn": True}, "unknown key cc.learn"),
    ({"bindings": [{"param": "temperature", "cc": 74, "chan": 1}]}, "unknown key cc.bindings[0].chan"),
    ({"bindings": [{"cc": 74}]}, "needs 'param'"),
    ({"bindings": [{"param": "temperature"}]}, "needs 'cc'"),
    ({"bindings": [{"param": "tempo", "cc": 74}]}, "unknown parameter 'tempo'"),
    ({"bindings": [{"param": "temperature", "cc": 123}]}, "120-127 are channel mode messages"),
    ({"bindings": [{"param": "temperature", "cc": 74, "channel": 17}]}, "1-16 (0 = any)"),
    ({"bindings": [{"param": "temperature", "cc": 74, "low": 0.0}]}, "temperature must be 0.05-5"),
    ({"bindings": [{"param": "mode", "cc": 74, "low": 1}]}, "only to numeric parameters"),
    ({"bindings": [{"param": "accompany_channels", "cc": 74}]}, "cannot be driven by one CC"),
    ({"bindings": [{"param": "top_k", "cc": 7}, {"param": "top_p", "cc": 7}]},
     "CC 7 on any channel is bound twice"),
    ({"bindings": {"param": "top_k"}}, "must be a list"),
    ({"bindings": ["top_k"]}, "must be a table"),
])
def test_bad_sections_are_refused_by_name(table: dict[str, Any], expected: str) -> None:
    with pytest.raises(PresetError, match=re.escape(expected)):
        CcMapSection.from_toml(table)


def test_cc_values_scale_onto_the_range_or_the_given_ends() -> None:
    temperature = CcBinding("temperature", 74)
    assert temperature.value_for(0) == 0.05 and temperature.value_for(127) == 5.0
    assert temperature.value_for(64) == pytest.approx(0.05 + 4.95 * 64 / 127)
    density = CcBinding("density", 1, low=0.8, high=0.2)  # turned round
    assert density.value_for(0) == 0.8 and density.value_for(127) == pytest.approx(0.2)
    assert CcBinding("answer_bars", 2).value_for(127) == 32 and CcBinding("answer_bars", 2).value_for(0) == 1
    assert CcBinding("channel_in", 3).value_for(0) is None  # omni
    assert CcBinding("channel_out", 3).value_for(127) == 15


def test_cc_values_step_through_choices_in_order() -> None:
    mode = CcBinding("mode", 80)
    assert [mode.value_for(v) for v in (0, 25, 26, 51, 77, 101, 102, 127)] == \
        ["respond", "respond", "accompany", "both", "restyle", "restyle", "thru", "thru"]
    key = CcBinding("key", 81)
    assert key.value_for(0) is None and key.value_for(127) == 11
    assert CcBinding("meter_denominator", 82).value_for(127) == 32


def test_a_channel_binding_wins_over_an_any_channel_binding() -> None:
    mapper = CcMapper([CcBinding("temperature", 74), CcBinding("density", 74, channel=3)])
    assert mapper.handle(74, 3, 127).event == SetParam("density", 1.0)  # type: ignore[union-attr]
    assert mapper.handle(74, 0, 127).event == SetParam("temperature", 5.0)  # type: ignore[union-attr]
    assert mapper.handle(75, 0, 127) is None
    assert mapper.handle(123, 0, 0) is None


def test_learn_binds_the_next_cc_on_its_channel_and_replaces_older_bindings() -> None:
    mapper = CcMapper([CcBinding("temperature", 10), CcBinding("density", 20, channel=4)])
    mapper.learn("temperature")
    assert mapper.learning == "temperature"
    assert mapper.handle(121, 4, 0) is None and mapper.learning == "temperature"  # mode messages never bind
    outcome = mapper.handle(20, 4, 127)
    assert outcome is not None and outcome.learned == CcBinding("temperature", 20, 4)
    assert outcome.event == SetParam("temperature", 5.0)
    assert mapper.learning is None
    assert mapper.bindings() == (CcBinding("temperature", 20, 4),)  # CC 10 and the density binding are gone
    assert mapper.handle(20, 5, 127) is None  # learned on channel 5 (inside 4) only


def test_learning_can_be_stopped_and_refuses_what_no_cc_can_drive() -> None:
    mapper = CcMapper()
    mapper.learn("density")
    mapper.learn(None)
    assert mapper.handle(1, 0, 64) is None
    with pytest.raises(ParamError, match="cannot be driven"):
        mapper.learn("accompany_channels")
    with pytest.raises(UnknownParamError):
        mapper.learn("loudness")


def test_apply_control_change_applies_and_reports() -> None:
    state, feedback = LiveState(), RecordingFeedback()
    mapper = CcMapper([CcBinding("pitch_high", 7), CcBinding("pitch_low", 8)])
    assert apply_control_change(mido.Message("note_on", note=60), mapper, state, feedback) is None
    assert apply_control_change(cc(7, 0), mapper, state, feedback) == SetParam("pitch_high", 0)
    assert apply_control_change(cc(8, 127), mapper, state, feedback) is None  # would pass pitch_high
    assert state.get("pitch_low") == 0
    mapper.learn("top_k")
    assert apply_control_change(cc(30, 127, channel=2), mapper, state, feedback) == SetParam("top_k", 512)
    assert feedback.rows == [("param", "pitch_high", 0), ("learned", "top_k", 30, 2), ("param", "top_k", 512)]


def test_learn_over_udp_is_confirmed_with_the_cc_and_the_channel_from_1() -> None:
    with running_server() as rig:
        start = rig.replies.mark()
        rig.send("/antiphon/learn", "temperature")
        assert rig.replies.wait_address("/antiphon/learning", start=start).params == ["temperature"]
        # What the engine does with a control change from the MIDI input:
        event = apply_control_change(cc(74, 127, channel=2), rig.cc_map, rig.state, rig.feedback)
        assert event == SetParam("temperature", 5.0)
        learned = rig.replies.wait_address("/antiphon/learned", start=start)
        assert learned.params == ["temperature", 74, 3]
        state = rig.replies.wait_address("/antiphon/state/temperature", start=start)
        assert state.params == [5.0]
        start = rig.replies.mark()
        rig.send("/antiphon/learn", "none")
        assert rig.replies.wait_address("/antiphon/learning", start=start).params == ["none"]
        assert rig.cc_map.learning is None
