"""The first real MIDI path: the daemon as a subprocess on a real JACK server, played by a second JACK client.

The test process opens its own virtual JACK ports ("Keys" to play into the daemon, "Monitor"
to hear what it sends), connects them with ``jack_connect``, and checks what comes back.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import mido
import pytest

from daemon.scheduler import ALL_NOTES_OFF, is_note_off

REPO_ROOT = Path(__file__).resolve().parents[2]
JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
READY_TIMEOUT_S = 30.0  # a cold interpreter on a busy 2-core machine
ECHO_TIMEOUT_S = 5.0
EXIT_TIMEOUT_S = 10.0
LATENCY_NOTES = 250
NOTE_GAP_S = 0.002  # between notes played in a run, so the peer never sends a burst


class Daemon:
    """``python -m daemon run ...`` as a subprocess, with its stderr collected line by line."""

    def __init__(self, *args: str) -> None:
        self.client_name = f"AntiphonT{uuid.uuid4().hex[:6]}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "run", "--client-name", self.client_name, "--no-osc", *args],
            cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, text: str, timeout_s: float = READY_TIMEOUT_S) -> str:
        """Return the first stderr line containing ``text``; fail if the daemon exits or time runs out."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = "\n".join(self.lines)
                    pytest.fail(f"daemon never logged {text!r} (exit {self.proc.poll()}):\n{log}")
                self._changed.wait(0.1)

    def terminate(self) -> int:
        """SIGTERM, then wait for the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(EXIT_TIMEOUT_S)
        self._reader.join(EXIT_TIMEOUT_S)
        return status

    def stop(self) -> None:
        """End the daemon if it still runs: SIGTERM first (a killed JACK client stalls a synchronous
        server until its timeout), SIGKILL if that does not do."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stderr(self) -> str:
        with self._changed:
            return "\n".join(self.lines)


class Peer:
    """A second JACK client: virtual ports that play into the daemon and record what comes out.

    Received messages are stamped with ``time.perf_counter()`` in the callback (seconds).
    """

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.keys_name, self.monitor_name = f"Keys{tag}", f"Monitor{tag}"
        backend = mido.Backend(JACK_BACKEND)
        self.received: list[tuple[float, mido.Message]] = []
        self._changed = threading.Condition()
        self.monitor = backend.open_input(f"{self.monitor_name} In", virtual=True,
                                          client_name=self.monitor_name, callback=self._on_message)
        self.keys = backend.open_output(f"{self.keys_name} Out", virtual=True, client_name=self.keys_name)

    def _on_message(self, msg: mido.Message) -> None:
        stamp = time.perf_counter()
        with self._changed:
            self.received.append((stamp, msg))
            self._changed.notify_all()

    def send(self, msg: mido.Message) -> float:
        """Play one message; return when it was sent (perf_counter seconds)."""
        sent_s = time.perf_counter()
        self.keys.send(msg)
        return sent_s

    def wait_until(self, done: Callable[[list[mido.Message]], bool], timeout_s: float = ECHO_TIMEOUT_S,
                   what: str = "") -> None:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not done([m for _, m in self.received]):
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"timed out waiting for {what}; received: {[m for _, m in self.received]}")
                self._changed.wait(left)

    def received_at(self, msg: mido.Message) -> float:
        """When ``msg`` first arrived (perf_counter seconds)."""
        with self._changed:
            return next(stamp for stamp, m in self.received if m == msg)

    def messages(self) -> list[mido.Message]:
        with self._changed:
            return [m for _, m in self.received]

    def clear(self) -> None:
        with self._changed:
            self.received.clear()

    def close(self) -> None:
        self.keys.close()
        self.monitor.close()


def jack_ports() -> list[str]:
    return subprocess.run(["jack_lsp"], capture_output=True, text=True, check=True).stdout.splitlines()


def jack_port(suffix: str) -> str:
    """The one JACK port whose name ends with ``suffix``."""
    found = [p for p in jack_ports() if p.endswith(suffix)]
    assert len(found) == 1, f"expected one JACK port ending {suffix!r}, found {found}"
    return found[0]


def jack_connect(source: str, destination: str) -> None:
    subprocess.run(["jack_connect", source, destination], check=True, capture_output=True)


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
    daemon = Daemon("--mode", "thru", "--midi-api", "jack")
    try:
        daemon.wait_for("ready")
        jack_connect(jack_port(f":{peer.keys_name} Out"), _daemon_port(daemon, "Antiphon In"))
        jack_connect(_daemon_port(daemon, "Antiphon Out"), jack_port(f":{peer.monitor_name} In"))
        yield daemon
    finally:
        daemon.stop()


def _daemon_port(daemon: Daemon, short: str) -> str:
    """The daemon's virtual port: JACK may have renamed its second client ``NAME-01``."""
    found = [p for p in jack_ports() if p.startswith(daemon.client_name) and p.endswith(f":{short}")]
    assert len(found) == 1, f"daemon port {short!r} not found in {jack_ports()}"
    return found[0]


def note_on(pitch: int, channel: int = 0, velocity: int = 100) -> mido.Message:
    return mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)


def note_off(pitch: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", channel=channel, note=pitch, velocity=0)


@pytest.mark.jack
def test_thru_returns_every_note_in_order_with_note_offs(daemon_thru: Daemon, peer: Peer) -> None:
    played = []
    for k in range(60):
        pitch, channel = 36 + (k * 7) % 60, k % 3
        played += [note_on(pitch, channel, velocity=1 + k), note_off(pitch, channel)]
    for msg in played:
        peer.send(msg)
        time.sleep(NOTE_GAP_S)
    peer.wait_until(lambda got: len(got) >= len(played))
    assert peer.messages() == played


@pytest.mark.jack
def test_sigterm_mid_note_sends_its_note_off_and_all_notes_off(daemon_thru: Daemon, peer: Peer) -> None:
    peer.send(note_on(67, channel=2))
    peer.wait_until(lambda got: note_on(67, channel=2) in got)
    assert daemon_thru.terminate() == 0
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
        peer.wait_until(lambda got, p=pitch: note_on(p) in got, what=f"note {k}: {daemon_thru.stderr()}")
        latencies_s.append(peer.received_at(note_on(pitch)) - sent_s)
        peer.send(note_off(pitch))
        peer.wait_until(lambda got, p=pitch: note_off(p) in got)
    latencies_ms = sorted(s * 1e3 for s in latencies_s)
    median_ms = statistics.median(latencies_ms)
    p99_ms = latencies_ms[min(len(latencies_ms) - 1, round(0.99 * (len(latencies_ms) - 1)))]
    report(f"MIDI loopback latency (thru, JACK dummy 48 kHz / 64 frames) over {len(latencies_ms)} notes: "
           f"median {median_ms:.2f} ms, p99 {p99_ms:.2f} ms, max {latencies_ms[-1]:.2f} ms")
    assert daemon_thru.terminate() == 0
    assert median_ms < 20.0, "thru latency regressed far beyond a JACK period or two"


@pytest.mark.jack
def test_ports_lists_the_daemons_ports_while_it_runs(daemon_thru: Daemon) -> None:
    listing = subprocess.run([sys.executable, "-m", "daemon", "ports", "--midi-api", "jack"],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    inputs, _, outputs = listing.stdout.partition("outputs")
    assert _daemon_port(daemon_thru, "Antiphon Out") in inputs  # what Antiphon sends, others read
    assert _daemon_port(daemon_thru, "Antiphon In") in outputs


@pytest.mark.jack
def test_run_connects_to_existing_ports_by_part_of_their_name(peer: Peer) -> None:
    daemon = Daemon("--mode", "thru", "--midi-api", "jack",
                    "--in", f"{peer.keys_name} out", "--out", f"{peer.monitor_name} in")
    try:
        daemon.wait_for("ready")
        peer.send(note_on(60))
        peer.send(note_off(60))
        peer.wait_until(lambda got: len(got) >= 2)
        assert peer.messages() == [note_on(60), note_off(60)]
        assert daemon.terminate() == 0
    finally:
        daemon.stop()


@pytest.mark.jack
def test_run_with_a_missing_port_name_lists_the_candidates(peer: Peer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "daemon", "run", "--mode", "thru", "--no-osc", "--midi-api", "jack",
         "--in", "no such port"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "no MIDI input port matches 'no such port'" in done.stderr
    assert f"{peer.keys_name} Out" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(os.path.exists("/dev/snd/seq"), reason="this machine has an ALSA sequencer")
def test_run_on_alsa_without_a_sequencer_fails_with_what_to_do() -> None:
    done = subprocess.run([sys.executable, "-m", "daemon", "run", "--mode", "thru", "--no-osc", "--midi-api", "alsa"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "no ALSA sequencer" in done.stderr
    assert "jackd --no-realtime -d dummy" in done.stderr and "--midi-api jack" in done.stderr


def test_an_unknown_mode_lists_the_modes() -> None:
    done = subprocess.run([sys.executable, "-m", "daemon", "run", "--mode", "lstm"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "invalid choice: 'lstm'" in done.stderr and "respond" in done.stderr and "thru" in done.stderr
    assert "Traceback" not in done.stderr
