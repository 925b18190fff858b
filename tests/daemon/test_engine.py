"""The thru engine: channel messages go to the scheduler at their arrival time, system messages do not."""

from __future__ import annotations

import threading

import mido

from daemon.engine import ThruEngine
from daemon.midi_io import InputQueue
from daemon.scheduler import DEFAULT_PORT, Scheduler


class RecordingOutput:
    def __init__(self) -> None:
        self.sent: list[mido.Message] = []
        self.event = threading.Event()

    def send(self, msg: mido.Message) -> None:
        self.sent.append(msg)
        self.event.set()


def test_thru_schedules_channel_messages_at_arrival_and_skips_system_messages() -> None:
    now = [10.0]
    out = RecordingOutput()
    scheduler = Scheduler({DEFAULT_PORT: out}, clock=lambda: now[0])
    engine = ThruEngine(InputQueue(), scheduler)
    engine.handle(10.0, mido.Message("clock"))
    engine.handle(10.0, mido.Message("note_on", note=60, velocity=90))
    engine.handle(10.0, mido.Message("pitchwheel", pitch=100))
    engine.handle(10.0, mido.Message("sysex", data=[1, 2]))
    scheduler.pump()
    assert [m.type for m in out.sent] == ["note_on", "pitchwheel"]
    assert (engine.passed, engine.ignored) == (2, 2)


def test_thru_engine_thread_passes_queued_input_to_a_running_scheduler() -> None:
    out = RecordingOutput()
    scheduler = Scheduler({DEFAULT_PORT: out})
    inputs = InputQueue()
    engine = ThruEngine(inputs, scheduler)
    scheduler.start()
    engine.start()
    try:
        inputs.put(mido.Message("note_on", note=64, velocity=80))
        assert out.event.wait(2.0)
    finally:
        engine.stop()
        scheduler.stop()
    assert out.sent[0] == mido.Message("note_on", note=64, velocity=80)
    assert mido.Message("note_off", note=64, velocity=0) in out.sent[1:]  # stop closed it
