"""Shared test fixtures: a JACK server for the real-MIDI tests, and a report of measurements.

* ``jack_server`` (session): starts ``jackd -S --no-realtime -d dummy -r 48000 -p 64`` under a
  unique server name, sets ``JACK_DEFAULT_SERVER`` for this process and the subprocesses it
  starts, waits until ``jack_lsp`` answers, and stops the server at the end. Tests marked
  ``@pytest.mark.jack`` get it without asking. Without ``jackd`` such tests are skipped on a
  developer's machine and FAIL when the ``CI`` environment variable is set.
* ``report``: ``report("loopback latency ...")`` adds a line to the "Antiphon measurements"
  section of pytest's terminal summary, which is printed whatever the output capturing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

JACK_SAMPLE_RATE_HZ = 48000
JACK_PERIOD_FRAMES = 64  # 1.33 ms at 48 kHz: the smallest period a musician would use
# -S (synchronous): the dummy driver waits for every client to finish its cycle. In the default
# asynchronous mode a client that misses a 1.33 ms cycle on a busy non-realtime 2-core machine
# makes JACK itself lose or repeat MIDI events ("ProcessGraphAsyncMaster: Process error"), even
# between two ports with no Antiphon in the path; with -S none were lost or repeated.
JACK_SYNC_FLAG = "-S"
JACK_START_TIMEOUT_S = 15.0
JACK_STOP_TIMEOUT_S = 5.0
JACK_POLL_INTERVAL_S = 0.1

_MEASUREMENTS = pytest.StashKey[list[str]]()


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _missing(reason: str) -> None:
    """Skip a test for a missing tool on a developer's machine; fail it in CI."""
    if _in_ci():
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def _jack_answers(env: dict[str, str]) -> bool:
    try:
        done = subprocess.run(["jack_lsp"], env=env, capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running JACK server (dummy driver); yields its name, also set as ``JACK_DEFAULT_SERVER``."""
    jackd = shutil.which("jackd")
    if jackd is None or shutil.which("jack_lsp") is None:
        _missing("jackd is not installed (apt-get install jackd2)")
    name = f"antiphon-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    log_path: Path = tmp_path_factory.mktemp("jack") / "jackd.log"
    previous = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name  # read by libjack in this process and its children
    env = dict(os.environ)
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [jackd, JACK_SYNC_FLAG, "--no-realtime", "-n", name, "-d", "dummy",
             "-r", str(JACK_SAMPLE_RATE_HZ), "-p", str(JACK_PERIOD_FRAMES)],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env,
        )
    try:
        deadline = time.monotonic() + JACK_START_TIMEOUT_S
        while not _jack_answers(env):
            if proc.poll() is not None or time.monotonic() > deadline:
                output = log_path.read_text(errors="replace")
                pytest.fail(f"jackd did not start (exit {proc.poll()}): {output}", pytrace=False)
            time.sleep(JACK_POLL_INTERVAL_S)
        yield name
    finally:
        proc.terminate()
        try:
            proc.wait(JACK_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if previous is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = previous


@pytest.fixture(autouse=True)
def _jack_for_marked_tests(request: pytest.FixtureRequest) -> None:
    """Give every ``@pytest.mark.jack`` test the session's JACK server."""
    if request.node.get_closest_marker("jack") is not None:
        request.getfixturevalue("jack_server")


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """A function that adds one line to the measurements printed at the end of the run."""
    lines = request.config.stash.setdefault(_MEASUREMENTS, [])

    def add(line: str) -> None:
        lines.append(f"{request.node.nodeid}: {line}")
    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    """Print the measurements tests reported, captured output or not."""
    lines = config.stash.get(_MEASUREMENTS, [])
    if lines:
        terminalreporter.section("Antiphon measurements")
        for line in lines:
            terminalreporter.write_line(line)
