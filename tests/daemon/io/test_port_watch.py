"""Lost and found ports: the watch's state machine with a fake link and clock, the MIDI link with fake
ports, the scheduler's side of a reconnection, and (marked ``jack``) the JACK watcher on a real server.

The daemon-level tests (a JACK server killed and started again, a named port that goes and comes)
are in ``tests/daemon/live/test_daemon_jack_restart.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import ClassVar

import mido
import pytest

from benchmarks.jack_rig import Peer, jack_port
from daemon.control.events import ControlQueue, Trigger
from daemon.errors import PortError
from daemon.io import jack_watch, port_watch
from daemon.io.jack_watch import JackWatch
from daemon.io.midi import InputQueue, PortLister
from daemon.io.port_watch import FIRST_RETRY_S, MAX_RETRY_S, MidiLink, PortWatch, WatchState
from daemon.live.app import MidiRecovery
from daemon.live.outputs import Discard
from daemon.live.scheduler import ALL_NOTES_OFF, DEFAULT_PORT, SUSTAIN_PEDAL, Scheduler


class FakeClock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


class FakeLink:
    """A link whose check says what the test sets, and whose reopening fails ``failures`` times."""

    def __init__(self) -> None:
        self.gone: str | None = None
        self.failures = 0
        self.calls: list[str] = []

    def check(self) -> str | None:
        self.calls.append("check")
        return self.gone

    def release(self) -> None:
        self.calls.append("release")

    def reopen(self) -> None:
        self.calls.append("reopen")
        if self.failures:
            self.failures -= 1
            raise PortError("no JACK server answers")
        self.gone = None

    def describe(self) -> str:
        return "reading 'In', sending on 'Out'"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def link() -> FakeLink:
    return FakeLink()


def run_for(watch: PortWatch, clock: FakeClock, seconds: float, step_s: float = 0.25) -> None:
    """Poll as the daemon's main thread does, every ``step_s``, for ``seconds``."""
    for _ in range(round(seconds / step_s)):
        clock.advance(step_s)
        watch.poll()


# ------------------------------------------------------------------ the state machine


def test_a_loss_is_noticed_at_the_next_check_and_said_once(clock: FakeClock, link: FakeLink,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    lost: list[str] = []
    watch = PortWatch(link, clock=clock, on_lost=lost.append)
    run_for(watch, clock, 2.0)
    assert watch.state is WatchState.CONNECTED and link.calls.count("check") == 4  # every 0.5 s
    link.gone, link.failures = "the JACK server went away", 100
    with caplog.at_level(logging.DEBUG, logger="daemon.io.port_watch"):
        run_for(watch, clock, 0.5)
        assert watch.state is WatchState.LOST
        run_for(watch, clock, 20.0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "MIDI: the JACK server went away; retrying every 0.5-5 s (OSC and parameters stay live)"]
    assert lost == ["the JACK server went away; retrying every 0.5-5 s (OSC and parameters stay live)"]
    assert watch.state is WatchState.RETRYING and watch.losses == 1
    assert "check" not in link.calls[link.calls.index("release"):], "a lost link is retried, not checked"


def test_retries_back_off_from_half_a_second_doubling_to_five(clock: FakeClock, link: FakeLink) -> None:
    watch = PortWatch(link, clock=clock)
    link.gone, link.failures = "the JACK server went away", 100
    run_for(watch, clock, 0.5)
    lost_at = clock()
    tries: list[float] = []
    original = link.reopen

    def timed_reopen() -> None:
        tries.append(round(clock() - lost_at, 2))
        original()
    link.reopen = timed_reopen  # type: ignore[method-assign]
    run_for(watch, clock, 30.0)
    gaps = [round(b - a, 2) for a, b in zip([0.0, *tries], tries)]
    assert gaps[:6] == [FIRST_RETRY_S, 1.0, 2.0, 4.0, MAX_RETRY_S, MAX_RETRY_S]


def test_whoever_sends_lets_go_of_the_old_ports_before_they_are_released(clock: FakeClock, link: FakeLink) -> None:
    watch = PortWatch(link, clock=clock, on_lost=lambda message: link.calls.append("on_lost"))
    link.gone = "the port 'Keys:Out' went away"
    run_for(watch, clock, 0.5)
    assert link.calls == ["check", "on_lost", "release"]


def test_a_reconnection_is_logged_and_reported_with_the_time_since_the_loss(
        clock: FakeClock, link: FakeLink, caplog: pytest.LogCaptureFixture) -> None:
    found: list[float] = []
    watch = PortWatch(link, clock=clock, on_found=found.append)
    link.gone, link.failures = "the JACK server went away", 2
    with caplog.at_level(logging.INFO, logger="daemon.io.port_watch"):
        run_for(watch, clock, 5.0)
    assert watch.state is WatchState.CONNECTED
    assert found == [3.5]  # tries at 0.5 (fails), 1.5 (fails), 3.5 s after the loss
    assert "MIDI: reconnected after 3.5 s (3 tries): reading 'In', sending on 'Out'" in caplog.text
    assert watch.reason is None and watch.last_error is None


def test_it_watches_again_after_reconnecting_and_backs_off_afresh(clock: FakeClock, link: FakeLink) -> None:
    watch = PortWatch(link, clock=clock)
    for _ in range(3):
        link.gone, link.failures = "the port 'Keys:Out' went away", 3
        run_for(watch, clock, 0.5)
        assert watch.state is WatchState.LOST
        run_for(watch, clock, 8.0)  # 0.5 + 1 + 2 + 4 = 7.5 s: the fourth try works
        assert watch.state is WatchState.CONNECTED
    assert watch.losses == 3


def test_a_poll_between_checks_costs_nothing(clock: FakeClock, link: FakeLink) -> None:
    watch = PortWatch(link, clock=clock, check_interval_s=1.0)
    for _ in range(9):
        clock.advance(0.1)
        watch.poll()
    assert link.calls == []
    clock.advance(0.1)
    watch.poll()
    assert link.calls == ["check"]


# ------------------------------------------------------------------ the MIDI link, with fake ports


class FakePort:
    """A mido-like port; its close may hang (until released) or raise."""

    def __init__(self, name: str, close_hangs: bool = False, close_raises: bool = False) -> None:
        self.name = name
        self.closed = False
        self.release_close = threading.Event()
        self._hangs, self._raises = close_hangs, close_raises

    def close(self) -> None:
        if self._hangs:
            self.release_close.wait(10.0)
        if self._raises:
            raise OSError("JACK server is gone")
        self.closed = True

    def send(self, msg: mido.Message) -> None:
        pass


class FakeJackWatch:
    ports: ClassVar[set[str]] = set()
    running = True

    def __init__(self, client_name: str) -> None:
        if not FakeJackWatch.running:
            raise PortError("no JACK server answers")
        self.gone = False
        self.closed = False

    def has_port(self, name: str) -> bool:
        return name in FakeJackWatch.ports

    def midi_ports(self, outputs: bool) -> tuple[str, ...]:
        return tuple(sorted(FakeJackWatch.ports))

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_midi(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list]]:
    """Replace port opening in :mod:`daemon.io.port_watch` by fakes; yield what was opened."""
    opened: dict[str, list] = {"inputs": [], "outputs": [], "sinks": []}
    FakeJackWatch.ports = {"Synth:Synth In", "Keys:Keys Out"}
    FakeJackWatch.running = True

    def fake_input(api: str, sink: InputQueue, name: str | None, client_name: str) -> FakePort:
        opened["sinks"].append(sink)
        port = FakePort(name or "Antiphon In", close_hangs=bool(opened.get("hang")))
        opened["inputs"].append(port)
        return port

    def fake_output(api: str, name: str | None, client_name: str) -> FakePort:
        if name is not None and not any(name in p for p in FakeJackWatch.ports):
            raise PortError(f"no MIDI output port matches {name!r}")
        port = FakePort("Synth:Synth In" if name else "Antiphon Out", close_raises=bool(opened.get("raise")))
        opened["outputs"].append(port)
        return port

    monkeypatch.setattr(port_watch, "open_input", fake_input)
    monkeypatch.setattr(port_watch, "open_output", fake_output)
    monkeypatch.setattr(port_watch, "JackWatch", FakeJackWatch)
    monkeypatch.setattr(jack_watch, "library", lambda: object())
    yield opened


def test_a_named_port_that_went_away_alone_is_closed_and_reopened(fake_midi: dict[str, list]) -> None:
    link = MidiLink("jack", InputQueue(), None, "Synth In", "Antiphon")
    link.open()
    assert link.check() is None
    FakeJackWatch.ports.discard("Synth:Synth In")
    assert link.check() == "the port 'Synth:Synth In' went away"
    link.release()
    with pytest.raises(PortError, match="no MIDI output port matches 'Synth In'"):
        link.reopen()  # found missing through the watcher's port list: no port opened to learn it
    assert len(fake_midi["outputs"]) == 1
    FakeJackWatch.ports.add("Synth:Synth In")
    link.reopen()
    assert link.check() is None and len(fake_midi["outputs"]) == 2
    assert len(fake_midi["inputs"]) == 1 and not fake_midi["inputs"][0].closed, "the input lost its connections"


def test_the_reopened_input_feeds_the_same_queue(fake_midi: dict[str, list]) -> None:
    sink = InputQueue()
    link = MidiLink("jack", sink, None, None, "Antiphon")
    link.open()
    link._jack.gone = True  # type: ignore[union-attr]  # what libjack's shutdown callback does
    assert link.check() == "the JACK server went away"
    link.release()
    assert fake_midi["inputs"][0].closed and fake_midi["outputs"][0].closed
    FakeJackWatch.running = False
    with pytest.raises(PortError, match="no JACK server answers.*Start one"):
        link.reopen()
    FakeJackWatch.running = True
    link.reopen()
    assert fake_midi["sinks"] == [sink, sink]


def test_dead_ports_that_hang_or_raise_on_close_do_not_stop_the_daemon(
        fake_midi: dict[str, list], caplog: pytest.LogCaptureFixture) -> None:
    fake_midi["hang"], fake_midi["raise"] = [True], [True]
    link = MidiLink("jack", InputQueue(), None, None, "Antiphon", close_timeout_s=0.2)
    link.open()
    link._jack.gone = True  # type: ignore[union-attr]
    began = time.perf_counter()
    with caplog.at_level(logging.DEBUG, logger="daemon.io.port_watch"):
        link.release()
    assert time.perf_counter() - began < 1.0, "a hanging close held the main thread"
    assert "took over 0.2 s; left behind" in caplog.text and "JACK server is gone" in caplog.text
    assert all(r.levelno == logging.DEBUG for r in caplog.records)
    with pytest.raises(PortError, match="still closing"):
        link.reopen()  # no new client while an old one is half closed (libjack would free it under us)
    fake_midi["inputs"][0].release_close.set()
    time.sleep(0.1)
    link.reopen()
    assert link.input is not None and link.output is not None


# ------------------------------------------------------------------ the scheduler's side


class Recording:
    def __init__(self) -> None:
        self.sent: list[mido.Message] = []

    def send(self, msg: mido.Message) -> None:
        self.sent.append(msg)


def on(pitch: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", channel=channel, note=pitch, velocity=100)


def off(pitch: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", channel=channel, note=pitch, velocity=0)


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", channel=channel, control=control, value=value)


def test_a_reopened_output_first_gets_what_closes_every_note_sounding_when_the_port_went(
        clock: FakeClock) -> None:
    old, new = Recording(), Recording()
    scheduler = Scheduler({DEFAULT_PORT: old}, clock=clock)
    for msg in (on(60), on(64, channel=3), cc(SUSTAIN_PEDAL, 127, channel=3)):
        scheduler.schedule(clock(), msg)
    scheduler.schedule(clock() + 4.0, off(60))  # planned for the old connection
    scheduler.pump()
    assert scheduler.replace_output(DEFAULT_PORT, Discard(), close_sounding=False) == 0
    scheduler.schedule(clock(), on(67, channel=5))  # while the port is away: into the discard, ledger kept
    scheduler.pump()
    assert scheduler.sounding() == frozenset({(DEFAULT_PORT, 0, 60), (DEFAULT_PORT, 3, 64), (DEFAULT_PORT, 5, 67)})

    closed = scheduler.replace_output(DEFAULT_PORT, new)

    assert new.sent == [off(60), off(64, channel=3), off(67, channel=5), cc(ALL_NOTES_OFF, 0),
                        cc(SUSTAIN_PEDAL, 0, channel=3), cc(ALL_NOTES_OFF, 0, channel=3),
                        cc(ALL_NOTES_OFF, 0, channel=5)]
    assert closed == len(new.sent)
    assert old.sent == [on(60), on(64, channel=3), cc(SUSTAIN_PEDAL, 127, channel=3)], "the old port was used after"
    assert scheduler.sounding() == frozenset() and scheduler.pending() == 0
    clock.advance(5.0)
    scheduler.pump()
    assert len(new.sent) == closed, "a message planned for the old connection came out on the new one"
    scheduler.schedule(clock(), on(70))
    scheduler.pump()
    assert new.sent[-1] == on(70)


def test_replacing_an_unknown_output_is_refused(clock: FakeClock) -> None:
    scheduler = Scheduler({DEFAULT_PORT: Recording()}, clock=clock)
    with pytest.raises(ValueError, match="no output named 'drums'"):
        scheduler.replace_output("drums", Recording())


# ------------------------------------------------------------------ the daemon's reaction (live.app)


class LinkSurface:
    """What :class:`MidiRecovery` reads of a :class:`MidiLink`."""

    def __init__(self, output: Recording) -> None:
        self.output: Recording | None = output
        self.output_lost = False


class RecordingFeedback:
    def __init__(self) -> None:
        self.sent: list[tuple[object, ...]] = []

    def error(self, address: str, message: str) -> bool:
        self.sent.append(("/antiphon/error", address, message))
        return True

    def send(self, address: str, *args: object) -> bool:
        self.sent.append((address, *args))
        return True


def recovery_rig(clock: FakeClock) -> tuple[Recording, Scheduler, ControlQueue, RecordingFeedback, LinkSurface,
                                            MidiRecovery]:
    old = Recording()
    scheduler = Scheduler({DEFAULT_PORT: old}, clock=clock)
    controls, feedback, link = ControlQueue(), RecordingFeedback(), LinkSurface(old)
    recovery = MidiRecovery(link, scheduler, controls, feedback)  # type: ignore[arg-type]
    return old, scheduler, controls, feedback, link, recovery


def test_a_lost_output_waits_in_a_discard_and_is_closed_on_the_new_one_before_the_engine_panics(
        clock: FakeClock) -> None:
    old, scheduler, controls, feedback, link, recovery = recovery_rig(clock)
    scheduler.schedule(clock(), on(60))
    scheduler.pump()
    link.output_lost = True
    recovery.lost("the JACK server went away; retrying every 0.5-5 s (OSC and parameters stay live)")
    scheduler.schedule(clock(), on(62))
    scheduler.pump()
    assert old.sent == [on(60)], "the dead port was sent to after the loss"
    assert controls.drain() == [], "a panic now would close the notes into the discard, not on the new port"
    new = Recording()
    link.output = new
    recovery.found(1.5)
    assert new.sent == [off(60), off(62), cc(ALL_NOTES_OFF, 0)]
    assert controls.drain() == [Trigger("panic")]
    assert feedback.sent == [
        ("/antiphon/error", "/antiphon/midi",
         "MIDI: the JACK server went away; retrying every 0.5-5 s (OSC and parameters stay live)"),
        ("/antiphon/state/midi", "lost"), ("/antiphon/state/midi", "connected")]


def test_a_lost_input_alone_silences_at_once_and_keeps_the_output(clock: FakeClock) -> None:
    old, scheduler, controls, feedback, _, recovery = recovery_rig(clock)
    recovery.lost("the port 'Keys:Out' went away; retrying every 0.5-5 s (OSC and parameters stay live)")
    assert controls.drain() == [Trigger("panic")]  # what the player held will never be released
    recovery.found(2.0)
    assert controls.drain() == []
    scheduler.schedule(clock(), on(64))
    scheduler.pump()
    assert old.sent == [on(64)]
    assert feedback.sent[-1] == ("/antiphon/state/midi", "connected")


# ------------------------------------------------------------------ the JACK watcher, on a real server


def rss_anon_kb(pid: int | str = "self") -> int:
    """RssAnon of a process (kB): its private memory, which a leak grows."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssAnon:"))


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def observer() -> Iterator[JackWatch]:
    """A JACK watcher of the test's own, to wait until JACK shows a port change."""
    watch = JackWatch("AntiphonTestObserver")
    try:
        yield watch
    finally:
        watch.close()


def settle(observer: JackWatch, port: str, present: bool, timeout_s: float = 2.0) -> None:
    """Wait until JACK's port table shows ``port`` (or its absence): it changes in the next cycle or so."""
    deadline = time.monotonic() + timeout_s
    while observer.has_port(port) != present:
        assert time.monotonic() < deadline, f"JACK never showed {port!r} {'back' if present else 'gone'}"
        time.sleep(0.005)


@pytest.mark.jack
def test_the_jack_watcher_sees_ports_come_and_go(peer: Peer, observer: JackWatch) -> None:
    monitor = jack_port(f":{peer.monitor_name} In")
    assert observer.has_port(monitor) and not observer.gone
    assert monitor in observer.midi_ports(outputs=False) and peer.keys_port in observer.midi_ports(outputs=True)
    assert monitor not in observer.midi_ports(outputs=True)
    peer.close_monitor()
    settle(observer, monitor, present=False)
    peer.reopen_monitor()
    settle(observer, monitor, present=True)


@pytest.mark.jack
def test_the_port_lister_lists_through_clients_it_holds(peer: Peer) -> None:
    lister = PortLister("jack-rtmidi", "AntiphonTestLister")
    try:
        for _ in range(3):
            seen = lister.names()
            assert peer.keys_port in seen.inputs and jack_port(f":{peer.monitor_name} In") in seen.outputs
    finally:
        lister.close()


@pytest.mark.jack
def test_thousands_of_checks_cost_microseconds_and_no_memory(peer: Peer, report: Callable[[str], None]) -> None:
    # in this process beside the rtmidi peer: rtmidi's libjack (one libjack a process)
    link = MidiLink("jack-rtmidi", InputQueue(), f"{peer.keys_name} Out", f"{peer.monitor_name} In", "AntiphonTestLink")
    link.open()
    try:
        for _ in range(1000):  # warm up: first-use allocations are not a leak
            assert link.check() is None
        before_kb = rss_anon_kb()
        checks = 20_000
        began = time.perf_counter()
        for _ in range(checks):
            link.check()
        per_check_us = (time.perf_counter() - began) / checks * 1e6
        grown_kb = rss_anon_kb() - before_kb
    finally:
        link.close()
    report(f"JACK port watch: {checks} checks (server alive + 2 named ports) at {per_check_us:.1f} us each; "
           f"RssAnon grew {grown_kb} kB (a 30-minute set is 3,600 checks)")
    assert per_check_us < 200
    assert grown_kb < 256


@pytest.mark.jack
def test_a_named_port_lost_and_found_twenty_times_leaks_no_port_or_memory(
        peer: Peer, observer: JackWatch, report: Callable[[str], None]) -> None:
    monitor = jack_port(f":{peer.monitor_name} In")
    ports_before = len(observer.midi_ports(outputs=True)) + len(observer.midi_ports(outputs=False))
    clock = FakeClock()
    link = MidiLink("jack-rtmidi", InputQueue(), None, f"{peer.monitor_name} In", "AntiphonTestCycle")
    link.open()
    watch = PortWatch(link, clock=clock)
    sizes = []
    try:
        for _ in range(20):
            peer.close_monitor()
            settle(observer, monitor, present=False)
            run_for(watch, clock, 0.5)
            assert watch.state is WatchState.LOST
            peer.reopen_monitor()
            settle(observer, monitor, present=True)
            run_for(watch, clock, 0.5)
            assert watch.state is WatchState.CONNECTED
            sizes.append(rss_anon_kb())
    finally:
        link.close()
    time.sleep(0.1)
    ports_after = len(observer.midi_ports(outputs=True)) + len(observer.midi_ports(outputs=False))
    report(f"a named JACK port lost and found 20 times in-process: RssAnon {sizes[1]} -> {sizes[-1]} kB "
           "from the 2nd cycle on; no JACK port left behind")
    assert sizes[-1] - sizes[1] < 512
    assert ports_after == ports_before
