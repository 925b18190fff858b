"""The Link clock and the transport under Link, on a fake session (the logic; the real session is
``test_link_session.py`` and ``test_daemon_link.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from daemon.errors import AntiphonError
from daemon.io.link_session import LinkSession, LinkState, LinkUnavailableError
from daemon.live.link_clock import LinkClock
from daemon.live.transport import LINK, Transport, TransportEvent, pulse_grid

HOST_OFFSET_US = 5_000_000.0  # the fake host clock runs 5 s ahead of the daemon's


@dataclass
class FakeSession:
    """A Link session on a hand-advanced clock: a piecewise timeline of (host micros, beat, tempo)."""

    now_s: float = 0.0
    playing: bool = True
    peers: int = 1
    segments: list[tuple[float, float, float]] = field(default_factory=lambda: [(0.0, 0.0, 97.0)])
    proposed: list[float] = field(default_factory=list)
    host_offset_us: float = HOST_OFFSET_US

    def clock(self) -> float:
        return self.now_s

    def micros(self) -> int:
        return round(self.now_s * 1e6 + self.host_offset_us)

    def state(self) -> LinkState:
        return LinkState(self.segments[-1][2], self.playing, self.peers)

    def beat_at(self, micros: int, quantum: float) -> float:
        start, beat, tempo = next(s for s in reversed(self.segments) if s[0] <= micros or s is self.segments[0])
        return beat + (micros - start) / 1e6 * tempo / 60.0

    def time_at_beat(self, beat: float, quantum: float) -> int:
        start, first, tempo = next(s for s in reversed(self.segments) if s[1] <= beat or s is self.segments[0])
        return round(start + (beat - first) * 60.0 / tempo * 1e6)

    def set_tempo(self, bpm: float) -> None:
        """The session's tempo changes now, keeping the beat (what a peer's tempo change does)."""
        micros = self.micros()
        self.segments.append((float(micros), self.beat_at(micros, 4.0), bpm))

    def propose_tempo(self, bpm: float) -> None:
        self.proposed.append(bpm)
        self.set_tempo(bpm)


def link_transport(session: FakeSession, start_stop: bool = True, numerator: int = 4,
                   denominator: int = 4) -> Transport:
    clock = LinkClock(session, pulse_grid(), session.clock, start_stop)
    return Transport(120.0, session.now_s, numerator, denominator, link=clock)


def test_ticks_are_the_sessions_beats_and_its_tempo_wins_over_the_presets() -> None:
    session = FakeSession(now_s=1.0)
    transport = link_transport(session)
    assert transport.source == LINK and transport.bpm == 97.0
    beat_s = 60.0 / 97.0
    host_s = (session.micros()) / 1e6  # the session counts beats from host time 0
    assert transport.tick_at(1.0) == pytest.approx(host_s / beat_s * 24, abs=1e-6)
    bar_tick = 24 * 4 * 100.0
    assert transport.tick_at(transport.time_of_tick(bar_tick)) == pytest.approx(bar_tick, abs=1e-3)  # a microsecond


def test_the_quantum_is_one_bar_of_the_meter_in_quarter_notes() -> None:
    session = FakeSession()
    assert link_transport(session).link.quantum == 4.0  # type: ignore[union-attr]
    assert link_transport(session, numerator=6, denominator=8).link.quantum == 3.0  # type: ignore[union-attr]
    transport = link_transport(session)
    transport.set_meter(7, 8)
    assert transport.link is not None and transport.link.quantum == 3.5


def test_midi_clock_is_not_followed_under_link() -> None:
    session = FakeSession()
    transport = link_transport(session)
    assert transport.handle("clock", 0.1) is None and transport.handle("start", 0.2) is None
    assert transport.source == LINK


def test_the_sessions_start_and_stop_reach_the_engine_once_each() -> None:
    session = FakeSession(playing=False)
    transport = link_transport(session)
    assert transport.check_timeout(0.0) is None and not transport.running
    session.playing = True
    assert transport.check_timeout(0.02) is TransportEvent.LINK_STARTED and transport.running
    assert transport.check_timeout(0.04) is None
    session.playing = False
    assert transport.check_timeout(0.06) is TransportEvent.LINK_STOPPED and not transport.running


def test_without_start_stop_sync_antiphon_plays_whatever_the_session_does() -> None:
    session = FakeSession(playing=False)
    transport = link_transport(session, start_stop=False)
    transport.check_timeout(0.0)
    session.playing = True
    assert transport.check_timeout(0.02) is None and transport.running


def test_the_engine_is_woken_to_look_at_the_session_often() -> None:
    transport = link_transport(FakeSession())
    transport.check_timeout(3.0)
    deadline = transport.deadline_s()
    assert deadline is not None and 3.0 < deadline <= 3.02


def test_a_tempo_jump_from_60_to_240_keeps_the_position_and_bar_lines_follow_the_new_tempo() -> None:
    session = FakeSession(segments=[(0.0, 0.0, 60.0)], now_s=2.0)
    transport = link_transport(session)
    before = transport.tick_at(2.0)
    session.set_tempo(240.0)
    assert transport.tick_at(2.0) == pytest.approx(before, abs=1e-6)  # no jump in position
    assert transport.bpm == 240.0
    next_bar = (before // 96 + 1) * 96
    assert transport.time_of_tick(next_bar) - 2.0 == pytest.approx((next_bar - before) / 24 * 0.25, abs=1e-6)


def test_the_osc_tempo_is_proposed_to_the_session_but_a_preset_change_keeps_the_sessions() -> None:
    session = FakeSession()
    transport = link_transport(session)
    transport.set_bpm(132.0, 0.0)
    transport.set_bpm(90.0, 0.0, propose=False)
    assert session.proposed == [132.0] and transport.bpm == 132.0


def test_the_host_clock_is_tied_to_the_daemons_again_as_they_drift() -> None:
    session = FakeSession()
    clock = LinkClock(session, pulse_grid(), session.clock)
    tick = clock.tick_at(0.0)
    session.host_offset_us += 1e6  # the daemon's clock slipped a second behind the host's
    assert clock.tick_at(0.0) == pytest.approx(tick)  # the tie is kept within a refresh
    session.now_s = 0.1
    moved = clock.tick_at(0.1) - tick
    assert moved == pytest.approx((1.0 + 0.1) * 97 / 60 * 24, abs=1e-6)


class _NoLink:
    """A ``link`` module whose Link cannot start (a binding or network failure)."""

    class Link:
        def __init__(self, bpm: float) -> None:
            raise RuntimeError("no network interface")


def test_a_link_that_cannot_start_is_a_clear_error_not_a_traceback() -> None:
    with pytest.raises(LinkUnavailableError, match="could not start: no network interface") as caught:
        LinkSession(120.0, module=_NoLink)
    assert isinstance(caught.value, AntiphonError)


def test_no_link_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_link(name: str, *args: object, **kwargs: object) -> object:
        if name == "link":
            raise ImportError("No module named 'link'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_link)
    with pytest.raises(LinkUnavailableError, match=r"antiphon\[link\]"):
        LinkSession(120.0)
