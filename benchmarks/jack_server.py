"""JACK servers for the tests and benchmarks: one under a fixed name that can be killed and started again.

:class:`JackServer` runs ``jackd -S --no-realtime -d dummy`` (synchronous: the dummy driver waits
for every client to finish its cycle; in the default asynchronous mode a client that misses a
cycle on a busy non-realtime 2-core machine makes JACK lose or repeat MIDI events) under a name of
its own, which survives a restart, so the daemon and its peers can find the server again.
:func:`jack_server` is the context a benchmark or the test session starts one in; :func:`jack_for`
takes the one ``JACK_DEFAULT_SERVER`` names instead when asked to.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.jack_rig import (
    JACK_PERIOD_FRAMES,
    JACK_SAMPLE_RATE_HZ,
    JACK_START_TIMEOUT_S,
    RigError,
    jack_answers,
)


class JackServer:
    """``jackd -S --no-realtime -d dummy -p period_frames`` under one name, started, stopped, killed at will.

    Args:
        log_path: where jackd writes (appended to across restarts).
        prefix: the start of the server's name (a process id and a random tag follow).
        period_frames: frames per period at 48 kHz.

    Raises:
        RigError: jackd is not installed.
    """

    def __init__(self, log_path: Path, prefix: str = "antiphon-bench", period_frames: int = JACK_PERIOD_FRAMES) -> None:
        self.jackd = shutil.which("jackd")
        if self.jackd is None or shutil.which("jack_lsp") is None:
            raise RigError("jackd is not installed (apt-get install jackd2)")
        self.name = f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.log_path = log_path
        self.period_frames = period_frames
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start it (``JACK_DEFAULT_SERVER`` must name it); return when it first answered (perf_counter s).

        Raises:
            RigError: it did not answer within :data:`JACK_START_TIMEOUT_S`.
        """
        assert self.jackd is not None
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(
                [self.jackd, "-S", "--no-realtime", "-n", self.name, "-d", "dummy", "-r", str(JACK_SAMPLE_RATE_HZ),
                 "-p", str(self.period_frames)],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + JACK_START_TIMEOUT_S
        while not jack_answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RigError(f"jackd did not start (exit {self.proc.poll()}): "
                               f"{self.log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.02)
        return time.perf_counter()

    def kill(self, signum: int = signal.SIGKILL) -> float:
        """Kill it (SIGKILL: no goodbye to its clients); return when (perf_counter seconds)."""
        assert self.proc is not None
        killed_s = time.perf_counter()
        self.proc.send_signal(signum)
        self.proc.wait(5.0)
        return killed_s

    def stop(self) -> None:
        """Stop it if it runs (SIGTERM, then SIGKILL after 5 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def jack_server(log_path: Path, prefix: str = "antiphon-bench",
                period_frames: int = JACK_PERIOD_FRAMES) -> Iterator[str]:
    """A fresh :class:`JackServer`, its name in ``JACK_DEFAULT_SERVER`` (read by libjack in this process
    and its children) while the context lasts, stopped after.

    Raises:
        RigError: jackd is missing or did not answer within :data:`JACK_START_TIMEOUT_S`.
    """
    server = JackServer(log_path, prefix, period_frames)
    previous = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    try:
        server.start()
        yield server.name
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = previous


@contextmanager
def jack_for(running: bool, log_path: Path, period_frames: int = JACK_PERIOD_FRAMES) -> Iterator[str]:
    """The JACK server a benchmark uses: the one ``JACK_DEFAULT_SERVER`` names when ``running``
    (a test's session server), else a fresh one from :func:`jack_server` with ``period_frames``;
    yields its name.

    Raises:
        RigError: ``running`` and no server answers.
    """
    if not running:
        with jack_server(log_path, period_frames=period_frames) as name:
            yield name
        return
    name = os.environ.get("JACK_DEFAULT_SERVER", "default")
    if not jack_answers():
        raise RigError(f"no JACK server {name!r} answers (start one, or leave out --jack-running)")
    yield name
