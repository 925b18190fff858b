"""The first real MIDI path: the daemon as a subprocess on a real JACK server, played by a second JACK client.

The test process opens its own virtual JACK ports ("Keys" to play into the daemon, "Monitor"
to hear what it sends), connects them with ``jack_connect``, and checks what comes back. The
daemon and the peer are the benchmarks' rig (``benchmarks/jack_rig.py``), so the tests and the
measurements drive the same parts.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from benchmarks.jack_rig import REPO_ROOT, TEST_JACK_PERIOD_FRAMES, Daemon, Peer, note_off, note_on
from daemon.live.scheduler import ALL_NOTES_OFF, is_note_off

LATENCY_NOTES = 250
NOTE_GAP_S = 0.002  # between notes played in a run, so the peer never sends a burst


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def daemon_thru(peer: Peer) -> Iterator[Daemon]:
    """The daemon in thru mode on its own virtual ports, wired to ``peer``."""
    daemon = Daemon("--mode", "thru", osc=False)
    try:
        daemon.wait_for("ready")
        peer.wire(daemon)
        yield daemon
    finally:
        daemon.stop()


@pytest.mark.jack
def test_thru_returns_every_note_in_order_with_note_offs(daemon_thru: Daemon, peer: Peer) -> None:
    played = []
    for k in range(60):
        pitch, channel = 36 + (k * 7) % 60, k % 3
        played += [note_on(pitch, channel, velocity=1 + k), note_off(pitch, channel)]
    for msg in played:
        peer.send(msg)
        time.sleep(NOTE_GAP_S)
    peer.wait_until(lambda got: len(got) >= len(played), what="every note back")
    assert peer.messages() == played


@pytest.mark.jack
def test_sigterm_mid_note_sends_its_note_off_and_all_notes_off(daemon_thru: Daemon, peer: Peer) -> None:
    peer.send(note_on(67, channel=2))
    peer.wait_until(lambda got: note_on(67, channel=2) in [m for _, m in got])
    assert daemon_thru.signal(signal.SIGTERM) == 0
    got = peer.messages()
    after = got[got.index(note_on(67, channel=2)) + 1:]
    assert any(is_note_off(m) and (m.channel, m.note) == (2, 67) for m in after), got
    assert any(m.type == "control_change" and m.control == ALL_NOTES_OFF and m.channel == 2
               for m in after), got
    closing = next(i for i, m in enumerate(after) if is_note_off(m))
    all_off = next(i for i, m in enumerate(after) if m.type == "control_change")
    assert closing < all_off
    assert "Traceback" not in daemon_thru.stderr()


@pytest.mark.jack
def test_loopback_latency(daemon_thru: Daemon, peer: Peer, report: Callable[[str], None]) -> None:
    """Note-on played -> note-on heard, through JACK, the daemon and JACK again, one note at a time."""
    latencies_s = []
    for k in range(LATENCY_NOTES):
        pitch = 40 + k % 48
        peer.clear()
        sent_s = peer.send(note_on(pitch))
        peer.wait_until(lambda got, p=pitch: note_on(p) in [m for _, m in got], what=f"note {k}: {daemon_thru.stderr()}")
        latencies_s.append(next(stamp for stamp, m in peer.timed() if m == note_on(pitch)) - sent_s)
        peer.send(note_off(pitch))
        peer.wait_until(lambda got, p=pitch: note_off(p) in [m for _, m in got])
    latencies_ms = sorted(s * 1e3 for s in latencies_s)
    median_ms = statistics.median(latencies_ms)
    p99_ms = latencies_ms[min(len(latencies_ms) - 1, round(0.99 * (len(latencies_ms) - 1)))]
    report(f"MIDI loopback latency (thru, JACK dummy 48 kHz / {TEST_JACK_PERIOD_FRAMES} frames) over "
           f"{len(latencies_ms)} notes: "
           f"median {median_ms:.2f} ms, p99 {p99_ms:.2f} ms, max {latencies_ms[-1]:.2f} ms")
    assert daemon_thru.signal(signal.SIGTERM) == 0
    assert median_ms < 20.0, "thru latency regressed far beyond a JACK period or two"


@pytest.mark.jack
def test_ports_lists_the_daemons_ports_while_it_runs(daemon_thru: Daemon) -> None:
    listing = subprocess.run([sys.executable, "-m", "daemon", "ports", "--midi-api", "jack"],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert listing.returncode == 0, listing.stderr
    inputs, _, outputs = listing.stdout.partition("outputs")
    assert daemon_thru.port("Antiphon Out") in inputs  # what Antiphon sends, others read
    assert daemon_thru.port("Antiphon In") in outputs


@pytest.mark.jack
def test_run_connects_to_existing_ports_by_part_of_their_name(peer: Peer) -> None:
    daemon = Daemon("--mode", "thru", "--in", f"{peer.keys_name} out", "--out", f"{peer.monitor_name} in",
                    osc=False)
    try:
        daemon.wait_for("ready")
        peer.send(note_on(60))
        peer.send(note_off(60))
        peer.wait_until(lambda got: len(got) >= 2, what="the note back")
        assert peer.messages() == [note_on(60), note_off(60)]
        assert daemon.signal(signal.SIGTERM) == 0
    finally:
        daemon.stop()


@pytest.mark.jack
def test_run_with_a_missing_port_name_lists_the_candidates(peer: Peer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "daemon", "run", "--mode", "thru", "--no-osc", "--midi-api", "jack",
         "--in", "no such port"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode != 0
    assert "no MIDI input port matches 'no such port'" in done.stderr
    assert f"{peer.keys_name} Out" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(os.path.exists("/dev/snd/seq"), reason="this machine has an ALSA sequencer")
def test_run_on_alsa_without_a_sequencer_fails_with_what_to_do() -> None:
    done = subprocess.run([sys.executable, "-m", "daemon", "run", "--mode", "thru", "--no-osc", "--midi-api", "alsa"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "no ALSA sequencer" in done.stderr
    assert "jackd --no-realtime -d dummy" in done.stderr and "--midi-api jack" in done.stderr


def test_an_unknown_mode_lists_the_modes() -> None:
    done = subprocess.run([sys.executable, "-m", "daemon", "run", "--mode", "lstm"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "invalid choice: 'lstm'" in done.stderr and "respond" in done.stderr and "thru" in done.stderr
    assert "Traceback" not in done.stderr
