"""The scheduler's ledger, lateness policy and thread, with a recording output and a hand-advanced clock."""

from __future__ import annotations

import threading
import time

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.live.outputs import Discard
from daemon.live.scheduler import (
    ALL_NOTES_OFF,
    DEFAULT_PORT,
    LOSS_MARGIN_S,
    SUSTAIN_PEDAL,
    Scheduler,
    is_note_off,
    is_note_on,
)

TOLERANCE_S = 0.050


class FakeClock:
    """A clock that moves only when the test says so (seconds).

    Tests advance it in binary fractions (1/8 s) so that due times compare exactly.
    """

    def __init__(self, start_s: float = 100.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


class RecordingOutput:
    """An output that records (clock time, message) for every send."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock
        self.sent: list[mido.Message] = []
        self.times: list[float] = []
        self.event = threading.Event()

    def send(self, msg: mido.Message) -> None:
        self.sent.append(msg)
        self.times.append(self.clock() if self.clock else time.perf_counter())
        self.event.set()


def on(pitch: int, channel: int = 0, velocity: int = 100) -> mido.Message:
    return mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)


def off(pitch: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", channel=channel, note=pitch, velocity=0)


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", channel=channel, control=control, value=value)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def out(clock: FakeClock) -> RecordingOutput:
    return RecordingOutput(clock)


@pytest.fixture
def scheduler(clock: FakeClock, out: RecordingOutput) -> Scheduler:
    return Scheduler({DEFAULT_PORT: out}, clock=clock, late_tolerance_s=TOLERANCE_S)


def test_messages_leave_at_their_time_in_time_order(scheduler: Scheduler, clock: FakeClock,
                                                    out: RecordingOutput) -> None:
    t0 = clock()
    scheduler.schedule(t0 + 0.25, off(60))
    scheduler.schedule(t0 + 0.125, on(60))
    assert scheduler.pump() == t0 + 0.125
    assert out.sent == []
    clock.advance(0.125)
    assert scheduler.pump() == t0 + 0.25
    assert out.sent == [on(60)]
    clock.advance(0.125)
    assert scheduler.pump() is None
    assert out.sent == [on(60), off(60)]
    assert out.times == [t0 + 0.125, t0 + 0.25]


def test_equal_times_leave_in_the_order_scheduled(scheduler: Scheduler, clock: FakeClock,
                                                  out: RecordingOutput) -> None:
    messages = [on(60), on(64), on(67), cc(1, 10)]
    for msg in messages:
        scheduler.schedule(clock(), msg)
    scheduler.pump()
    assert out.sent == messages


def test_panic_closes_every_sounding_note(
    scheduler: Scheduler, clock: FakeClock, out: RecordingOutput,
) -> None:
    for pitch, channel in ((60, 0), (64, 0), (36, 9), (72, 3)):
        scheduler.schedule(clock(), on(pitch, channel))
    scheduler.schedule(clock() + 1.0, off(60))  # pending: dropped by panic, its note closed anyway
    scheduler.pump()
    out.sent.clear()

    scheduler.panic()

    offs = {(m.channel, m.note) for m in out.sent if is_note_off(m)}
    assert offs == {(0, 60), (0, 64), (9, 36), (3, 72)}
    all_off_channels = {
        m.channel for m in out.sent if m.type == "control_change" and m.control == ALL_NOTES_OFF
    }
    assert all_off_channels == {0, 3, 9}
    # note-offs go before the all-notes-off of their channel
    assert max(i for i, m in enumerate(out.sent) if is_note_off(m)) < min(
        i for i, m in enumerate(out.sent) if m.type == "control_change")
    assert scheduler.sounding() == frozenset()
    assert scheduler.pending() == 0
    clock.advance(2.0)
    out.sent.clear()
    scheduler.pump()
    assert out.sent == []


def test_panic_releases_a_held_sustain_pedal(
    scheduler: Scheduler, clock: FakeClock, out: RecordingOutput,
) -> None:
    scheduler.schedule(clock(), cc(SUSTAIN_PEDAL, 127, channel=2))
    scheduler.schedule(clock(), on(50, channel=2))
    scheduler.schedule(clock(), off(50, channel=2))
    scheduler.pump()
    out.sent.clear()
    scheduler.panic()
    assert out.sent == [cc(SUSTAIN_PEDAL, 0, channel=2), cc(ALL_NOTES_OFF, 0, channel=2)]


def test_stop_flushes_like_panic_and_ignores_later_messages(scheduler: Scheduler, clock: FakeClock,
                                                            out: RecordingOutput) -> None:
    scheduler.schedule(clock(), on(60))
    scheduler.pump()
    scheduler.stop()
    assert out.sent == [on(60), off(60), cc(ALL_NOTES_OFF, 0)]
    scheduler.schedule(clock(), on(62))
    scheduler.stop()
    scheduler.pump()
    assert out.sent == [on(60), off(60), cc(ALL_NOTES_OFF, 0)]
    assert scheduler.stats().ignored_after_stop == 1


def test_late_note_on_is_dropped_and_counted(
    scheduler: Scheduler, clock: FakeClock, out: RecordingOutput,
) -> None:
    t0 = clock()
    scheduler.schedule(t0, on(60))
    scheduler.schedule(t0 + 0.5, off(60))
    scheduler.schedule(t0 + 0.01, on(62))
    clock.advance(0.2)  # the scheduler stalled for 200 ms
    scheduler.pump()
    clock.advance(0.3)
    scheduler.pump()
    assert on(60) not in out.sent
    assert off(60) not in out.sent  # its note-off goes with it
    stats = scheduler.stats()
    assert stats.late_note_ons_dropped == 2
    assert stats.note_offs_dropped == 1
    assert out.sent == []
    # within tolerance it is sent, late
    scheduler.schedule(clock() - 0.02, on(64))
    scheduler.pump()
    assert out.sent == [on(64)]


def test_late_note_off_and_controller_are_still_sent(scheduler: Scheduler, clock: FakeClock,
                                                     out: RecordingOutput) -> None:
    scheduler.schedule(clock(), on(60))
    scheduler.pump()
    scheduler.schedule(clock() + 0.1, off(60))
    scheduler.schedule(clock() + 0.1, cc(SUSTAIN_PEDAL, 0))
    clock.advance(1.0)
    scheduler.pump()
    assert out.sent == [on(60), off(60), cc(SUSTAIN_PEDAL, 0)]
    assert scheduler.stats().late_sent == 2
    assert scheduler.sounding() == frozenset()


def test_late_notes_never_come_out_as_a_burst(
    scheduler: Scheduler, clock: FakeClock, out: RecordingOutput,
) -> None:
    for k in range(50):
        scheduler.schedule(clock() + k * 0.01, on(40 + k))
        scheduler.schedule(clock() + k * 0.01 + 0.005, off(40 + k))
    clock.advance(2.0)
    scheduler.pump()
    assert [m for m in out.sent if is_note_on(m)] == []
    assert scheduler.sounding() == frozenset()


def test_note_off_always_follows_note_on(
    scheduler: Scheduler, clock: FakeClock, out: RecordingOutput,
) -> None:
    scheduler.schedule(clock(), on(60))
    scheduler.schedule(clock() + 0.125, off(60))
    scheduler.schedule(clock() + 0.25, on(60, velocity=70))
    scheduler.pump()
    assert scheduler.sounding() == frozenset({(DEFAULT_PORT, 0, 60)})
    clock.advance(0.125)
    scheduler.pump()
    assert scheduler.sounding() == frozenset()
    clock.advance(0.125)
    scheduler.pump()
    scheduler.stop()  # the second note is still sounding: stop closes it
    assert out.sent == [on(60), off(60), on(60, velocity=70), off(60), cc(ALL_NOTES_OFF, 0)]


def test_note_on_velocity_zero_counts_as_note_off(scheduler: Scheduler, clock: FakeClock,
                                                  out: RecordingOutput) -> None:
    scheduler.schedule(clock(), on(60))
    scheduler.schedule(clock(), on(60, velocity=0))
    scheduler.pump()
    assert scheduler.sounding() == frozenset()
    assert out.sent == [on(60), on(60, velocity=0)]


def test_retriggered_note_closes_first(scheduler: Scheduler, clock: FakeClock, out: RecordingOutput) -> None:
    scheduler.schedule(clock(), on(60, velocity=90))
    scheduler.schedule(clock() + 0.125, on(60, velocity=50))
    scheduler.schedule(clock() + 0.25, off(60))  # closes the first note-on: the second still owns the key
    scheduler.schedule(clock() + 0.375, off(60))
    for _ in range(4):
        scheduler.pump()
        clock.advance(0.125)
    assert out.sent == [on(60, velocity=90), off(60), on(60, velocity=50), off(60)]
    assert scheduler.stats().retriggers == 1
    assert scheduler.sounding() == frozenset()


def test_ledger_keys_are_per_port_and_channel(clock: FakeClock) -> None:
    a, b = RecordingOutput(clock), RecordingOutput(clock)
    scheduler = Scheduler({"a": a, "b": b}, clock=clock)
    scheduler.schedule(clock(), on(60, channel=0), "a")
    scheduler.schedule(clock(), on(60, channel=1), "a")
    scheduler.schedule(clock(), on(60, channel=0), "b")
    scheduler.pump()
    assert scheduler.stats().retriggers == 0
    scheduler.panic()
    assert a.sent[2:] == [off(60, 0), off(60, 1), cc(ALL_NOTES_OFF, 0, 0), cc(ALL_NOTES_OFF, 0, 1)]
    assert b.sent[1:] == [off(60, 0), cc(ALL_NOTES_OFF, 0, 0)]


def test_unknown_port_is_refused(scheduler: Scheduler, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="no output named 'nowhere'"):
        scheduler.schedule(clock(), on(60), "nowhere")


def test_a_failing_output_is_counted_and_does_not_leave_a_note_in_the_ledger(clock: FakeClock) -> None:
    class BrokenOutput:
        def send(self, msg: mido.Message) -> None:
            raise OSError("port went away")

    scheduler = Scheduler({DEFAULT_PORT: BrokenOutput()}, clock=clock)
    scheduler.schedule(clock(), on(60))
    scheduler.pump()
    assert scheduler.stats().send_errors == 1
    assert scheduler.sounding() == frozenset()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.booleans(), st.integers(0, 2), st.integers(60, 62)),
                max_size=60),
       st.integers(0, 60))
def test_every_sent_note_on_is_closed_after_stop(
    events: list[tuple[int, bool, int, int]], stall_at: int,
) -> None:
    """Whatever arrives, in whatever order and however late: after stop no key is left sounding."""
    clock = FakeClock()
    out = RecordingOutput(clock)
    scheduler = Scheduler({DEFAULT_PORT: out}, clock=clock, late_tolerance_s=TOLERANCE_S)
    t0 = clock()
    for step_ms, is_on, channel, pitch in events:
        scheduler.schedule(t0 + step_ms / 1e3, on(pitch, channel) if is_on else off(pitch, channel))
    for step in range(60):
        clock.advance(0.2 if step == stall_at else 0.001)
        scheduler.pump()
    scheduler.stop()
    sounding: dict[tuple[int, int], int] = {}
    for msg in out.sent:
        key = (msg.channel, getattr(msg, "note", -1))
        if is_note_on(msg):
            assert not sounding.get(key), "a note-on was sent over a sounding note without closing it"
            sounding[key] = 1
        elif is_note_off(msg):
            sounding[key] = 0
        elif msg.type == "control_change" and msg.control == ALL_NOTES_OFF:
            assert not any(v for (ch, _), v in sounding.items() if ch == msg.channel)
    assert not any(sounding.values())


def test_thread_sends_on_time_and_stop_ends_it() -> None:
    """The real thread with the real clock: a message 30 ms ahead leaves within a few ms of its time."""
    out = RecordingOutput()
    scheduler = Scheduler({DEFAULT_PORT: out})
    scheduler.start()
    try:
        due_s = scheduler.clock() + 0.030
        scheduler.schedule(due_s, on(60))
        assert out.event.wait(2.0)
        assert out.times[0] >= due_s
        assert out.times[0] - due_s < 0.020  # generous: two shared cores
        out.event.clear()
        # an earlier message scheduled while the thread waits for a later one wakes it
        scheduler.schedule(scheduler.clock() + 5.0, on(70))
        due_s = scheduler.clock() + 0.010
        scheduler.schedule(due_s, off(60))
        assert out.event.wait(2.0)
        assert out.sent[-1] == off(60)
    finally:
        scheduler.stop()
    assert out.sent[-1] == cc(ALL_NOTES_OFF, 0)
    assert on(70) not in out.sent


def test_cancel_drops_a_groups_pending_notes_and_keeps_note_offs_of_sounding_ones(
    scheduler: Scheduler, clock: FakeClock, out: RecordingOutput,
) -> None:
    t0 = clock()
    scheduler.schedule(t0 + 0.125, on(60), group="answer")
    scheduler.schedule(t0 + 0.5, off(60), group="answer")
    scheduler.schedule(t0 + 0.25, on(62), group="answer")
    scheduler.schedule(t0 + 0.375, off(62), group="answer")
    scheduler.schedule(t0 + 0.25, on(70), group="other")
    scheduler.schedule(t0 + 0.375, off(70), group="other")
    clock.advance(0.125)
    scheduler.pump()
    assert out.sent == [on(60)]
    assert scheduler.cancel("answer") == 2  # 62's note-on and note-off; 60's note-off stays
    for _ in range(4):
        clock.advance(0.125)
        scheduler.pump()
    assert out.sent == [on(60), on(70), off(70), off(60)]
    assert not scheduler.sounding()
    assert scheduler.stats().cancelled == 2


def test_a_cancelled_retrigger_keeps_the_note_off_of_the_note_already_sounding(
    scheduler: Scheduler, clock: FakeClock, out: RecordingOutput,
) -> None:
    t0 = clock()
    scheduler.schedule(t0, on(60), group="a")
    scheduler.schedule(t0 + 0.25, off(60), group="a")
    scheduler.schedule(t0 + 0.375, on(60), group="a")
    scheduler.schedule(t0 + 0.5, off(60), group="a")
    scheduler.pump()
    scheduler.cancel("a")
    clock.advance(1.0)
    scheduler.pump()
    assert out.sent == [on(60), off(60)]


def test_every_message_written_is_reported_to_the_sent_hook(clock: FakeClock, out: RecordingOutput) -> None:
    seen: list[tuple[str, mido.Message, float]] = []
    scheduler = Scheduler({DEFAULT_PORT: out}, clock=clock, on_sent=lambda p, m, t: seen.append((p, m, t)))
    scheduler.schedule(clock(), on(60))
    scheduler.pump()
    scheduler.panic()
    assert [m for _, m, _ in seen] == [on(60), off(60), cc(ALL_NOTES_OFF, 0)]
    assert all(p == DEFAULT_PORT and t == clock() for p, _, t in seen)


class TimedOutput:
    """An output that takes messages ahead of time, as Antiphon's own JACK client does: records
    (due time, message) and hands back what it still holds on discard."""

    lookahead_s = 0.04

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.written: list[tuple[float, mido.Message]] = []

    def send(self, msg: mido.Message) -> None:
        self.written.append((self.clock(), msg))

    def send_at(self, time_s: float, msg: mido.Message) -> None:
        self.written.append((max(time_s, self.clock()), msg))

    def discard(self) -> list[mido.Message]:
        held = [m for t, m in self.written if t > self.clock()]
        self.written = [(t, m) for t, m in self.written if t <= self.clock()]
        return held


def test_an_output_that_takes_times_gets_messages_ahead_with_their_due_time(clock: FakeClock) -> None:
    out = TimedOutput(clock)
    scheduler = Scheduler({"out": out}, clock=clock)
    t0 = clock()
    scheduler.schedule(t0 + 0.1, on(60))
    scheduler.schedule(t0 + 0.3, off(60))
    clock.advance(0.07)  # 30 ms before the note-on: within the look-ahead
    scheduler.pump()
    assert out.written == [(t0 + 0.1, on(60))], "handed over early, written at its own time"


def test_closing_a_cancelled_group_never_puts_a_note_off_before_a_note_on_handed_over(clock: FakeClock) -> None:
    out = TimedOutput(clock)
    scheduler = Scheduler({"out": out}, clock=clock)
    t0 = clock()
    scheduler.schedule(t0 + 0.1, on(60), group="bar")
    scheduler.schedule(t0 + 0.5, off(60), group="bar")
    clock.advance(0.07)
    scheduler.pump()  # the note-on is with the output, due at t0 + 0.1
    scheduler.cancel("bar", close_at=clock())
    clock.advance(0.1)
    scheduler.pump()
    times = {m.type: t for t, m in out.written}
    assert times["note_off"] >= times["note_on"], out.written
    assert not scheduler.sounding()


def test_a_panic_takes_back_what_the_output_holds_ahead_and_closes_it(clock: FakeClock) -> None:
    out = TimedOutput(clock)
    scheduler = Scheduler({"out": out}, clock=clock)
    t0 = clock()
    scheduler.schedule(t0 + 0.1, on(60))
    scheduler.schedule(t0 + 0.12, off(60))
    clock.advance(0.09)
    scheduler.pump()  # both with the output
    scheduler.panic()
    later = [m for t, m in out.written if t > clock()]
    assert not later, "nothing is left to sound after the panic"
    assert any(m.type == "note_off" and m.note == 60 for _, m in out.written)


def test_a_lost_output_s_last_note_offs_are_sent_again_on_the_new_one(clock: FakeClock) -> None:
    """A JACK server that dies may not deliver what it was given last: the notes its port closed in
    its last moments are closed again on the port that comes back; older ones are not."""
    dead = TimedOutput(clock)
    scheduler = Scheduler({DEFAULT_PORT: dead}, clock=clock)
    t0 = clock()
    scheduler.schedule(t0, on(55))
    scheduler.schedule(t0 + 0.01, off(55))  # long before the loss
    scheduler.pump()
    clock.advance(LOSS_MARGIN_S + 1.0)
    t1 = clock()
    scheduler.schedule(t1, on(60))
    scheduler.schedule(t1 + 0.03, off(60))  # handed over ahead: the server may never write it
    scheduler.schedule(t1 + 0.03, on(64))  # still sounding
    scheduler.pump()
    assert scheduler.sounding() == frozenset({(DEFAULT_PORT, 0, 64)})
    clock.advance(0.5)  # the loss is noticed a moment later
    scheduler.replace_output(DEFAULT_PORT, Discard(), close_sounding=False)
    assert scheduler.sounding() == frozenset({(DEFAULT_PORT, 0, 60), (DEFAULT_PORT, 0, 64)})
    new = RecordingOutput(clock)
    scheduler.replace_output(DEFAULT_PORT, new)
    assert [m for m in new.sent if m.type == "note_off"] == [off(60), off(64)]


def test_a_note_whose_note_off_falls_due_while_the_port_is_away_is_closed_on_the_port_that_comes_back(
        clock: FakeClock) -> None:
    scheduler = Scheduler({DEFAULT_PORT: RecordingOutput(clock)}, clock=clock)
    scheduler.schedule(clock(), on(60))
    scheduler.pump()
    clock.advance(LOSS_MARGIN_S + 1.0)
    scheduler.replace_output(DEFAULT_PORT, Discard(), close_sounding=False)
    scheduler.schedule(clock() + 0.5, off(60))  # the band's note ends while the port is away
    clock.advance(1.0)
    scheduler.pump()
    assert scheduler.sounding() == frozenset({(DEFAULT_PORT, 0, 60)}), "a note-off into the discard closes nothing"
    new = RecordingOutput(clock)
    scheduler.replace_output(DEFAULT_PORT, new)
    assert new.sent[0] == off(60)
