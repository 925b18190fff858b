"""Antiphon's Link clock in a real Ableton Link session with a second peer in another process.

Both peers run LinkPython-extern on this machine and find each other by Link's own discovery
(UDP multicast on the machine's interfaces). The peer founds the session at 97 bpm; Antiphon joins
at 120 and must take the session's tempo, put its bar lines where the peer's are on the shared
timeline (host microseconds, ``CLOCK_MONOTONIC_RAW``, the clock Link uses on Linux), and follow
start/stop and tempo jumps. Antiphon's times are read on the daemon's own clock (``perf_counter``)
and carried to host microseconds by the test's own tie of the two clocks, not the clock's.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from benchmarks.link_peer import PeerProcess
from daemon.io.link_session import LinkSession
from daemon.live.link_clock import LinkClock
from daemon.live.transport import Transport, TransportEvent, pulse_grid

if not os.environ.get("CI"):
    pytest.importorskip("link")  # in CI the [test] extra installs it: a missing package fails there

PEER_BPM = 97.0
JOIN_TIMEOUT_S = 15.0  # Link discovers a peer within a second, then measures it for a few before joining
FOUNDING_S = 1.0  # Link founds its session on its own thread after enabling: on a busy machine, later
FOLLOW_TIMEOUT_S = 2.0
TEMPO_TOLERANCE_BPM = 0.1
BAR_TOLERANCE_MS = 1.0
BAR_TICKS = 96  # 4/4 at 24 ticks a beat


def host_micros_of(daemon_s: float) -> float:
    """A daemon-clock time (``perf_counter``) in host microseconds, tied by the test itself."""
    best = (math.inf, 0.0)
    for _ in range(5):
        before = time.perf_counter()
        raw = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW) / 1e3
        after = time.perf_counter()
        best = min(best, (after - before, raw - (before + after) / 2 * 1e6))
    return daemon_s * 1e6 + best[1]


def wait_until(condition: Callable[[], bool], timeout_s: float) -> float | None:
    """Seconds until ``condition`` held, or None after ``timeout_s``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if condition():
            return time.monotonic() - start
        time.sleep(0.01)
    return None


def interfaces() -> str:
    return ", ".join(name for _, name in socket.if_nameindex())


@pytest.fixture(scope="module")
def session() -> Iterator[tuple[PeerProcess, LinkSession, Transport]]:
    peer = PeerProcess(PEER_BPM)
    time.sleep(FOUNDING_S)  # when two sessions meet, the older one's timeline wins: the peer's must be older
    ours = LinkSession(120.0, start_stop_sync=True)
    transport = Transport(120.0, time.perf_counter(), link=LinkClock(ours, pulse_grid(), time.perf_counter))
    try:
        joined = wait_until(lambda: ours.state().peers >= 1, JOIN_TIMEOUT_S)
        assert joined is not None, (
            f"no Link peer found in {JOIN_TIMEOUT_S:g} s: Link discovers peers by UDP multicast "
            f"(224.76.78.75:20808) on each interface ({interfaces()}); a machine with no multicast-capable "
            "interface cannot run this test")
        yield peer, ours, transport
    finally:
        ours.close()
        peer.close()


def bar_errors_ms(peer: PeerProcess, transport: Transport, bars: int = 8) -> list[float]:
    """Antiphon's bar line times minus the peer's, for the peer's next ``bars`` bar lines (ms)."""
    errors = []
    for peer_micros in peer.ask(f"bars {bars}"):  # type: ignore[union-attr]
        guess_s = time.perf_counter() + (peer_micros - host_micros_of(time.perf_counter())) / 1e6
        tick = round(transport.tick_at(guess_s) / BAR_TICKS) * BAR_TICKS
        errors.append((host_micros_of(transport.time_of_tick(tick)) - peer_micros) / 1e3)
    return errors


def test_antiphon_takes_the_sessions_tempo_and_its_bar_lines(session: tuple[PeerProcess, LinkSession, Transport],
                                                             report: Callable[[str], None]) -> None:
    peer, _ours, transport = session
    took = wait_until(lambda: abs(transport.bpm - PEER_BPM) <= TEMPO_TOLERANCE_BPM, JOIN_TIMEOUT_S)
    assert took is not None, f"Antiphon at {transport.bpm:.3f} bpm, the peer: {peer.ask('state')}"
    errors = bar_errors_ms(peer, transport)
    report(f"Link: Antiphon at {transport.bpm:.3f} bpm against the peer's {PEER_BPM:g} ({took:.1f} s after it "
           f"saw the peer, measuring the session before adopting its timeline); bar lines against the "
           f"peer's: max |error| {max(map(abs, errors)):.4f} ms over {len(errors)} bars")
    assert max(map(abs, errors)) <= BAR_TOLERANCE_MS


def test_start_and_stop_follow_the_session(session: tuple[PeerProcess, LinkSession, Transport],
                                           report: Callable[[str], None]) -> None:
    peer, _, transport = session
    transport.check_timeout(time.perf_counter())
    events: list[TransportEvent] = []

    def saw(event: TransportEvent) -> Callable[[], bool]:
        def check() -> bool:
            happened = transport.check_timeout(time.perf_counter())
            if happened is not None:
                events.append(happened)
            return event in events
        return check

    peer.ask("play")
    started = wait_until(saw(TransportEvent.LINK_STARTED), FOLLOW_TIMEOUT_S)
    assert started is not None and transport.running
    peer.ask("stop")
    stopped = wait_until(saw(TransportEvent.LINK_STOPPED), FOLLOW_TIMEOUT_S)
    assert stopped is not None and not transport.running
    report(f"Link start/stop: Antiphon heard the peer's start after {started * 1e3:.0f} ms, its stop after "
           f"{stopped * 1e3:.0f} ms")


def test_a_tempo_jump_from_60_to_240_is_followed_on_the_bar_lines(
        session: tuple[PeerProcess, LinkSession, Transport], report: Callable[[str], None]) -> None:
    peer, ours, transport = session
    worst = {}
    for bpm in (60.0, 240.0):
        peer.ask(f"tempo {bpm}")
        took = wait_until(lambda bpm=bpm: abs(transport.bpm - bpm) <= TEMPO_TOLERANCE_BPM, FOLLOW_TIMEOUT_S)
        assert took is not None, f"Antiphon at {transport.bpm:.3f} bpm after the peer's jump to {bpm:g}"
        worst[bpm] = max(map(abs, bar_errors_ms(peer, transport)))
    ours.propose_tempo(PEER_BPM)  # and Antiphon's own tempo reaches the peer
    heard = wait_until(lambda: abs(peer.ask("state")["tempo"] - PEER_BPM) <= TEMPO_TOLERANCE_BPM,  # type: ignore[index]
                       FOLLOW_TIMEOUT_S)
    assert heard is not None, f"the peer stayed at {peer.ask('state')} after Antiphon proposed {PEER_BPM:g} bpm"
    report("Link tempo jumps: bar lines against the peer's at 60 bpm max |error| "
           f"{worst[60.0]:.4f} ms, at 240 bpm {worst[240.0]:.4f} ms; Antiphon's proposal reached the peer")
    assert max(worst.values()) <= BAR_TOLERANCE_MS
