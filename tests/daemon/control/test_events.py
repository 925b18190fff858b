"""Control events, the bounded control queue, and the live state holder."""

from __future__ import annotations

import threading

import pytest

from daemon.control.events import (
    ControlError,
    ControlQueue,
    ControlQueueFullError,
    SetParam,
    StatusRequest,
    SwitchPreset,
    Trigger,
    check_preset_name,
)
from daemon.control.live_state import LiveState
from daemon.control.params import PARAMS, ParamRangeError, UnknownParamError
from daemon.errors import PresetError


def test_events_are_frozen_and_check_themselves() -> None:
    event = SetParam.from_edge("channel_out", 10)
    assert event == SetParam("channel_out", 9)
    with pytest.raises(AttributeError):
        event.value = 3  # type: ignore[misc]
    with pytest.raises(UnknownParamError):
        SetParam("volume", 1)
    with pytest.raises(ControlError, match="generate, panic, reset"):
        Trigger("explode")
    assert Trigger("panic").name == "panic" and StatusRequest() == StatusRequest()


@pytest.mark.parametrize("name", ["bach", "folk-jig", "A_b-9", "x" * 64])
def test_plain_preset_names_are_accepted(name: str) -> None:
    assert SwitchPreset(name).name == name == check_preset_name(name)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "..", "a/b", "a\\b", "bach.toml", "",
                                  "x" * 65, "bach\n", "é", " bach", None, 3])
def test_preset_names_that_could_be_paths_are_refused(name: object) -> None:
    with pytest.raises(PresetError, match="1-64 letters, digits"):
        SwitchPreset(name)  # type: ignore[arg-type]


def test_the_queue_is_bounded_and_refuses_when_full() -> None:
    controls = ControlQueue(maxsize=2)
    controls.put(Trigger("generate"))
    controls.put(Trigger("reset"))
    with pytest.raises(ControlQueueFullError, match="engine is busy"):
        controls.put(Trigger("panic"))
    assert controls.refused == 1 and controls.qsize() == 2
    assert controls.drain() == [Trigger("generate"), Trigger("reset")]
    assert controls.get(0.01) is None


def test_the_queue_hands_events_across_threads_in_order() -> None:
    controls = ControlQueue()
    thread = threading.Thread(target=lambda: [controls.put(SetParam("top_k", i)) for i in range(100)])
    thread.start()
    got = []
    while len(got) < 100:
        event = controls.get(1.0)
        assert event is not None
        got.append(event.value)  # type: ignore[union-attr]
    thread.join()
    assert got == list(range(100))


def test_live_state_starts_from_defaults_and_overrides() -> None:
    state = LiveState({"key": "D", "channel_out": 2})
    assert state.get("key") == 2 and state.get("channel_out") == 1
    status = state.status()
    assert list(status) == [p.name for p in PARAMS]
    assert status["key"] == "D" and status["channel_out"] == 2 and status["channel_in"] == 0
    with pytest.raises(ParamRangeError):
        LiveState({"pitch_low": 90, "pitch_high": 80})


def test_apply_publishes_first_and_keeps_the_state_when_publishing_fails() -> None:
    state = LiveState()
    published: list[SetParam] = []
    state.apply(SetParam("temperature", 0.5), publish=published.append)
    assert published == [SetParam("temperature", 0.5)] and state.get("temperature") == 0.5

    def full(event: SetParam) -> None:
        raise ControlQueueFullError("full")
    with pytest.raises(ControlQueueFullError):
        state.apply(SetParam("temperature", 0.9), publish=full)
    assert state.get("temperature") == 0.5 and state.changes == 1


def test_pitch_low_may_not_pass_pitch_high() -> None:
    state = LiveState()
    state.set("pitch_high", 60)
    with pytest.raises(ParamRangeError, match="move pitch_high up first"):
        state.set("pitch_low", 61)
    state.set("pitch_low", 60)
    assert (state.get("pitch_low"), state.get("pitch_high")) == (60, 60)


def test_snapshot_is_a_copy() -> None:
    state = LiveState()
    snapshot = state.snapshot()
    snapshot["temperature"] = 3.0
    assert state.get("temperature") == 1.0


def test_concurrent_writers_never_break_the_pitch_range() -> None:
    state = LiveState()
    errors: list[Exception] = []

    def sweep(name: str, values: range) -> None:
        for value in values:
            try:
                state.set(name, value)
            except ParamRangeError:
                pass
            except Exception as exc:  # noqa: BLE001 - the test reports anything else
                errors.append(exc)
            snap = state.snapshot()
            if snap["pitch_low"] > snap["pitch_high"]:
                errors.append(AssertionError(snap))

    threads = [threading.Thread(target=sweep, args=("pitch_low", range(128))),
               threading.Thread(target=sweep, args=("pitch_high", range(127, -1, -1)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
