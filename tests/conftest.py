"""Shared test fixtures: a JACK server for the real-MIDI tests, and a report of measurements.

* ``jack_server`` (session): starts ``jackd -S --no-realtime -d dummy -r 48000 -p 256`` under a
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
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from benchmarks.jack_rig import TEST_JACK_PERIOD_FRAMES, RigError
from benchmarks.jack_server import jack_server as rig_jack_server

_MEASUREMENTS = pytest.StashKey[list[str]]()


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _missing(reason: str) -> None:
    """Skip a test for a missing tool on a developer's machine; fail it in CI."""
    if _in_ci():
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running JACK server (dummy driver, the benchmarks' rig); yields its name, also set as
    ``JACK_DEFAULT_SERVER``."""
    if shutil.which("jackd") is None or shutil.which("jack_lsp") is None:
        _missing("jackd is not installed (apt-get install jackd2)")
    log_path: Path = tmp_path_factory.mktemp("jack") / "jackd.log"
    try:
        with rig_jack_server(log_path, prefix="antiphon-test", period_frames=TEST_JACK_PERIOD_FRAMES) as name:
            yield name
    except RigError as exc:  # jackd did not start (tests never raise into a fixture)
        pytest.fail(str(exc), pytrace=False)


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
