"""The session memory in the engine: set live, kept by panic and reset, cleared by /antiphon/forget and a preset switch."""

from __future__ import annotations

from daemon.control.events import SetParam, SwitchPreset, Trigger
from daemon.models.session_memory import SessionMemory
from tests.daemon.live.test_engine import PRESET, Rig
from tests.daemon.models.test_session_memory import RIFF, FlatModel


def memory_of(rig: Rig) -> SessionMemory:
    answering = rig.engine.answering
    assert answering is not None
    return answering.responder.continuator.memory


def set_live(rig: Rig, name: str, value: float) -> None:
    rig.state.apply(SetParam.from_edge(name, value))
    rig.control(SetParam.from_edge(name, value))


def test_answers_lean_on_what_was_played_before_once_memory_is_up_and_forget_clears_it() -> None:
    rig = Rig(models={"lstm.onnx": FlatModel()}, presets={"other": PRESET})
    released = rig.play(rig.clock() + 0.2, list(RIFF * 2))
    rig.run_until(released + 4.0)
    assert memory_of(rig).events == 8
    set_live(rig, "memory", 0.9)
    assert rig.engine._sampling.params().memory == 0.9
    before = len(rig.note_ons(channel=1))
    released = rig.play(rig.clock() + 0.2, [60, 64])
    rig.run_until(released + 4.0)
    answer = [m.note for _, m in rig.note_ons(channel=1)[before:]]
    assert len(answer) >= 4
    assert sum(p in RIFF for p in answer) >= len(answer) - 1, answer
    rig.control(Trigger("panic"))
    rig.control(Trigger("reset"))
    assert memory_of(rig).events == 10, "panic and reset keep the session's memory"
    rig.control(Trigger("forget"))
    assert memory_of(rig).events == 0
    rig.play(rig.clock() + 0.2, [60, 64, 67])
    assert memory_of(rig).events >= 2
    rig.control(SwitchPreset("other"))
    assert memory_of(rig).events == 0, "another preset starts a fresh memory"


def test_memory_is_off_by_default_and_a_preset_may_set_it() -> None:
    assert Rig().engine._sampling.params().memory == 0.0
    rig = Rig({**PRESET, "sampling": {"memory": 0.3}})
    assert rig.state.get("memory") == 0.3 and rig.engine._sampling.params().memory == 0.3
