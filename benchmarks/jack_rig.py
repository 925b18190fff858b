"""A real-MIDI rig on JACK: a dummy-driver server, the daemon as a subprocess, a peer that plays and listens.

Shared by ``benchmarks/response_latency.py`` and the daemon's JACK tests
(``tests/daemon/live/test_daemon_jack.py``), so that what the benchmark measures is what the tests
check. Everything is real: ``jackd`` (dummy driver, synchronous mode), the daemon started as
``python -m daemon run``, JACK MIDI ports opened through python-rtmidi, ``jack_connect``,
``jack_midi_clock``/``jack_transport``, and OSC over UDP on 127.0.0.1.

Times are ``time.perf_counter()`` readings (seconds); on Linux that is ``CLOCK_MONOTONIC``,
the same clock in every process, so the peer's stamps and the daemon's compare.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import mido
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg

from daemon.errors import AntiphonError
from daemon.io.osc_packet import parse_packet

REPO_ROOT = Path(__file__).resolve().parents[1]
JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
JACK_SAMPLE_RATE_HZ = 48000
JACK_PERIOD_FRAMES = 64  # 1.33 ms at 48 kHz: the benchmarks' period
# The tests' period (5.33 ms). On 2 shared non-realtime cores the synchronous dummy driver at 64
# frames stalled the whole graph often (pulse gaps of 40-190 ms, the clock at 82-116 of 120 bpm
# with no daemon attached); at 256 frames it kept 119-120 bpm with gaps under 34 ms. The tests
# judge the daemon, not how many wake-ups a second the machine can keep.
TEST_JACK_PERIOD_FRAMES = 256
JACK_START_TIMEOUT_S = 15.0
READY_TIMEOUT_S = 45.0  # a cold interpreter loading onnxruntime on a busy 2-core machine
EXIT_TIMEOUT_S = 10.0
WAIT_S = 5.0
CONSOLE_START_S = 4.0  # Textual's start on a busy 2-core machine, and its first ask to watch


class RigError(AntiphonError):
    """The rig could not be set up (no jackd, a port missing)."""


def jack_ports() -> list[str]:
    """Every JACK port name of the server ``JACK_DEFAULT_SERVER`` names."""
    return subprocess.run(["jack_lsp"], capture_output=True, text=True, check=True).stdout.splitlines()


def jack_port(suffix: str, prefix: str = "") -> str:
    """The one JACK port whose name starts with ``prefix`` and ends with ``suffix``."""
    found = [p for p in jack_ports() if p.endswith(suffix) and p.startswith(prefix)]
    if len(found) != 1:
        raise RigError(f"expected one JACK port {prefix}...{suffix}, found {found}")
    return found[0]


def jack_connect(source: str, destination: str) -> None:
    subprocess.run(["jack_connect", source, destination], check=True, capture_output=True)


def jack_disconnect(source: str, destination: str) -> None:
    subprocess.run(["jack_disconnect", source, destination], check=False, capture_output=True)


def jack_answers() -> bool:
    """Whether ``jack_lsp`` reaches the server ``JACK_DEFAULT_SERVER`` names."""
    try:
        done = subprocess.run(["jack_lsp"], capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Daemon:
    """``python -m daemon run ...`` as a subprocess with its own client name and OSC ports; stderr collected.

    Args:
        *args: extra ``antiphon run`` arguments.
        env: extra environment (e.g. ``ANTIPHON_PRESETS_DIR``).
        osc: open OSC on free ports (see :attr:`osc_port`, :attr:`reply_port`) or run with ``--no-osc``.
        midi_api: ``jack`` (Antiphon's own JACK client, frame-accurate) or ``jack-rtmidi``.
    """

    def __init__(self, *args: str, env: dict[str, str] | None = None, osc: bool = True,
                 midi_api: str = "jack") -> None:
        self.client_name = f"AntiphonT{uuid.uuid4().hex[:6]}"
        self.midi_api = midi_api
        self.osc_port = free_udp_port() if osc else 0
        self.replies = OscListener() if osc else None
        osc_args = (["--osc-port", str(self.osc_port), "--osc-reply-port", str(self.replies.port)]
                    if self.replies is not None else ["--no-osc"])
        spawned_s = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "run", "--midi-api", midi_api, "--client-name", self.client_name,
             *osc_args, *args],
            cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})},
        )
        self.started_s = spawned_s  # just before the process was spawned (perf_counter seconds)
        self.lines: list[str] = []
        self.line_stamps: list[float] = []  # perf_counter seconds each stderr line was read
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._osc_out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            stamp = time.perf_counter()
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self.line_stamps.append(stamp)
                self._changed.notify_all()

    def wait_for(self, text: str, timeout_s: float = READY_TIMEOUT_S, start: int = 0) -> str:
        """The first stderr line (from index ``start``) containing ``text``.

        Raises:
            RigError: the daemon exited or ``timeout_s`` passed first (with its log).
        """
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    if text in line:
                        return line
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RigError(f"daemon never logged {text!r} (exit {self.proc.poll()}):\n" + "\n".join(self.lines))
                self._changed.wait(0.1)

    def stamp_of(self, text: str) -> float | None:
        """When the first stderr line containing ``text`` was read (perf_counter seconds), or None."""
        with self._changed:
            for line, stamp in zip(self.lines, self.line_stamps):
                if text in line:
                    return stamp
        return None

    def mark(self) -> int:
        """An index for :meth:`wait_for` so that only later lines count."""
        with self._changed:
            return len(self.lines)

    def port(self, short: str) -> str:
        """The daemon's JACK port ``short`` ("Antiphon In" / "Antiphon Out"), whatever JACK renamed its client."""
        return jack_port(f":{short}", self.client_name)

    def osc(self, address: str, *args: object) -> None:
        """Send one OSC message to the daemon."""
        self._osc_out.sendto(build_msg(address, list(args)).dgram, ("127.0.0.1", self.osc_port))

    def status(self, timeout_s: float = WAIT_S) -> dict[str, Any]:
        """Ask ``/antiphon/status``.

        Returns:
            ``clock``: (source, bpm, running, position_beats), ``clock_received_s``: when that
            reply arrived and ``status_sent_s`` when the request left (perf_counter seconds; the
            position was read in between), ``preset``: the preset playing, and every count by name.
        """
        assert self.replies is not None
        start = self.replies.mark()
        sent_s = time.perf_counter()
        self.osc("/antiphon/status")
        self.replies.wait_for(lambda m: m.address == "/antiphon/count" and m.params[0] == "late_dropped",
                              timeout_s, start)
        out: dict[str, Any] = {"status_sent_s": sent_s}
        for stamp, msg in self.replies.stamped_since(start):
            if msg.address == "/antiphon/clock":
                out["clock"] = tuple(msg.params)
                out["clock_received_s"] = stamp
            elif msg.address == "/antiphon/preset/current":
                out["preset"] = msg.params[0]
            elif msg.address == "/antiphon/count":
                out[str(msg.params[0])] = msg.params[1]
        return out

    def signal(self, signum: int) -> int:
        """Send ``signum``; wait for the exit status."""
        self.proc.send_signal(signum)
        status = self.proc.wait(EXIT_TIMEOUT_S)
        self._reader.join(EXIT_TIMEOUT_S)
        return status

    def stop(self) -> None:
        """End the daemon if it still runs (SIGTERM: a killed JACK client stalls a synchronous server)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._osc_out.close()
        if self.replies is not None:
            self.replies.close()

    def rss_anon_kb(self) -> int:
        """The daemon's anonymous resident memory (RssAnon, kB; 0 where /proc has no such line)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
        return 0

    def stderr(self) -> str:
        with self._changed:
            return "\n".join(self.lines)


class ConsoleBeside:
    """``antiphon console --headless`` attached to ``daemon`` (its own process, drawing 10 times a
    second), for the benchmarks that measure the daemon with a console watching it."""

    def __init__(self, daemon: Daemon) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "console", "--osc-port", str(daemon.osc_port), "--headless",
             "--seconds", "86400"], cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        self._daemon = daemon

    def wait_attached(self, settle_s: float = CONSOLE_START_S) -> None:
        """Give the console ``settle_s`` to start and ask to watch; a console that ended is an error."""
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RigError(f"the console ended: {self.proc.stderr.read()[-1000:] if self.proc.stderr else ''}")
            time.sleep(0.1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class OscListener:
    """Collects OSC messages sent to its UDP port on 127.0.0.1, on a thread of its own."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = int(self.sock.getsockname()[1])
        self.messages: list[OscMessage] = []
        self.stamps: list[float] = []  # perf_counter seconds each message arrived
        self.datagram_sizes: list[int] = []  # bytes of each datagram received
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            stamp = time.perf_counter()
            if not data:
                continue
            with self._cond:
                parsed = parse_packet(data)
                self.datagram_sizes.append(len(data))
                self.messages.extend(parsed)
                self.stamps.extend([stamp] * len(parsed))
                self._cond.notify_all()

    def mark(self) -> int:
        with self._cond:
            return len(self.messages)

    def since(self, start: int) -> list[OscMessage]:
        with self._cond:
            return list(self.messages[start:])

    def stamped_since(self, start: int) -> list[tuple[float, OscMessage]]:
        with self._cond:
            return list(zip(self.stamps[start:], self.messages[start:]))

    def wait_for(self, predicate: Callable[[OscMessage], bool], timeout_s: float = WAIT_S,
                 start: int = 0) -> OscMessage:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for msg in self.messages[start:]:
                    if predicate(msg):
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RigError(f"no matching OSC message in {timeout_s} s; got {self.messages[start:]}")
                self._cond.wait(left)

    def wait_address(self, address: str, timeout_s: float = WAIT_S, start: int = 0) -> OscMessage:
        """The first message to ``address`` (from index ``start``)."""
        return self.wait_for(lambda m: m.address == address, timeout_s, start)

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(1.0)


class PeerBase:
    """A player's "Keys" and a synth's "Monitor" by name, and what the monitor heard, stamped
    ``(perf_counter seconds, message)``, with waiting on it; thread-safe."""

    def __init__(self, tag: str | None = None) -> None:
        """``tag`` names the clients (``Keys<tag>``, ``Monitor<tag>``): the same after a JACK restart, a
        new random one by default."""
        tag = tag or uuid.uuid4().hex[:6]
        self.keys_name, self.monitor_name = f"Keys{tag}", f"Monitor{tag}"
        self.received: list[tuple[float, mido.Message]] = []
        self._changed = threading.Condition()

    @property
    def keys_port(self) -> str:
        return jack_port(f":{self.keys_name} Out")

    @property
    def monitor_port(self) -> str:
        return jack_port(f":{self.monitor_name} In")

    def wait_until(self, done: Callable[[list[tuple[float, mido.Message]]], bool], timeout_s: float = WAIT_S,
                   what: str = "") -> None:
        """Wait until ``done(received)`` holds.

        Raises:
            RigError: ``timeout_s`` passed first.
        """
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not done(list(self.received)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RigError(f"timed out waiting for {what}; received {len(self.received)} messages: "
                                   f"{[m for _, m in self.received][-20:]}")
                self._changed.wait(left)

    def timed(self) -> list[tuple[float, mido.Message]]:
        with self._changed:
            return list(self.received)

    def messages(self) -> list[mido.Message]:
        with self._changed:
            return [m for _, m in self.received]

    def clear(self) -> None:
        with self._changed:
            self.received.clear()


class Peer(PeerBase):
    """A second JACK client: "Keys" plays into the daemon, "Monitor" records what comes back.

    Received messages are stamped with ``time.perf_counter()`` in the JACK callback.
    """

    def __init__(self, tag: str | None = None,
                 on_received: Callable[[float, mido.Message], None] | None = None) -> None:
        """``tag``: see :class:`PeerBase`. ``on_received`` is also told of each message the monitor receives."""
        super().__init__(tag)
        backend = mido.Backend(JACK_BACKEND)
        self.pulses: list[float] = []  # arrival of each MIDI clock pulse since the last Start/Continue
        self._on_received = on_received
        self.monitor = backend.open_input(f"{self.monitor_name} In", virtual=True,
                                          client_name=self.monitor_name, callback=self._on_message)
        self.keys = backend.open_output(f"{self.keys_name} Out", virtual=True, client_name=self.keys_name)

    def wire(self, daemon: Daemon) -> None:
        """Keys -> Antiphon In, Antiphon Out -> Monitor."""
        jack_connect(self.keys_port, daemon.port("Antiphon In"))
        jack_connect(daemon.port("Antiphon Out"), self.monitor_port)

    def _on_message(self, msg: mido.Message) -> None:
        stamp = time.perf_counter()
        with self._changed:
            self.received.append((stamp, msg))
            if msg.type == "clock":
                self.pulses.append(stamp)
            elif msg.type in ("start", "continue"):
                self.pulses = []
            self._changed.notify_all()
        if self._on_received is not None:
            self._on_received(stamp, msg)

    def wait_pulse(self, index: int, timeout_s: float = WAIT_S) -> float:
        """Wait for MIDI clock pulse ``index`` (0 = the first after Start/Continue); return its arrival time.

        Raises:
            RigError: ``timeout_s`` passed first.
        """
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while len(self.pulses) <= index:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RigError(f"MIDI clock pulse {index} never came ({len(self.pulses)} so far)")
                self._changed.wait(left)
            return self.pulses[index]

    def send(self, msg: mido.Message) -> float:
        """Play one message; return when it was sent (perf_counter seconds)."""
        sent_s = time.perf_counter()
        self.keys.send(msg)
        return sent_s

    def play(self, events: Sequence[tuple[float, mido.Message]], origin_s: float | None = None) -> float:
        """Play ``(offset_s, message)`` pairs at ``origin_s + offset_s`` (default: now); return the origin."""
        origin = time.perf_counter() if origin_s is None else origin_s
        for offset, msg in events:
            _sleep_until(origin + offset)
            self.keys.send(msg)
        return origin

    def close_monitor(self) -> None:
        """Close "Monitor" (its JACK port goes away, as a DAW's port does when the DAW quits)."""
        self.monitor.close()

    def reopen_monitor(self) -> None:
        """Open "Monitor" again under the same names after :meth:`close_monitor`."""
        self.monitor = mido.Backend(JACK_BACKEND).open_input(f"{self.monitor_name} In", virtual=True,
                                                             client_name=self.monitor_name,
                                                             callback=self._on_message)

    def close(self) -> None:
        self.keys.close()
        self.monitor.close()


def _sleep_until(when_s: float) -> None:
    """Sleep until ``time.perf_counter()`` reaches ``when_s``; the last 2 ms are spun for precision."""
    while True:
        left = when_s - time.perf_counter()
        if left <= 0:
            return
        time.sleep(left - 0.002 if left > 0.003 else 0)


def note_on(pitch: int, channel: int = 0, velocity: int = 100) -> mido.Message:
    return mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)


def note_off(pitch: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", channel=channel, note=pitch, velocity=0)
