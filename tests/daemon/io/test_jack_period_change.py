"""A JACK period size change mid-set (``jack_bufsize``): Antiphon's own JACK client keeps every
note-on on its grid frame, drops nothing and leaves nothing sounding.

The daemon accompanies on the bundled groove band on its internal clock (JACK's frame counter),
on the tests' JACK server (dummy driver, 256-frame periods); a JACK-Client listener in another
process (:mod:`benchmarks.link_peer`) keeps the frame of every event it sends (JACK's
``last_frame_time`` + offset, as Antiphon's client counts). JACK's frame counter itself jumps at a
period change (by the difference of the periods); the grid is judged in the counter's frames on
each side of the changes. The period goes 256 -> 128 -> 512 -> 256 frames while it plays.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from benchmarks.jack_rig import TEST_JACK_PERIOD_FRAMES, Daemon, jack_connect
from benchmarks.link_peer import PeerProcess
from benchmarks.timing import grid_residuals

pytestmark = pytest.mark.jack

PERIODS = (128, 512)  # frames; the server starts at TEST_JACK_PERIOD_FRAMES and goes back to it
SPELL_S = 6.0
SAMPLE_RATE_HZ = 48000
GROOVES_BPM = 100.0  # presets/grooves.toml [clock] bpm
STEP_FRAMES = SAMPLE_RATE_HZ * 60.0 / GROOVES_BPM / 4  # a sixteenth
MAX_GRID_ERROR_FRAMES = 5  # 0.1 ms at 48 kHz
WARMUP_NOTES = 8


def bufsize(frames: int) -> None:
    subprocess.run(["jack_bufsize", str(frames)], check=True, capture_output=True, timeout=10)


@pytest.fixture
def period_restored() -> Iterator[None]:
    try:
        yield
    finally:
        bufsize(TEST_JACK_PERIOD_FRAMES)  # the session's server serves the other tests after this one


def test_a_period_size_change_keeps_every_note_on_its_frame(period_restored: None,
                                                            report: Callable[[str], None]) -> None:
    daemon = Daemon("--preset", "grooves", "--mode", "accompany", "--seed", "2")
    listener = PeerProcess(120.0, listen="periodlistener")
    try:
        daemon.wait_for("ready")
        assert listener.port is not None
        jack_connect(daemon.port("Antiphon Out"), listener.port)
        time.sleep(SPELL_S)
        for frames in PERIODS:
            bufsize(frames)
            time.sleep(SPELL_S)
        bufsize(TEST_JACK_PERIOD_FRAMES)
        time.sleep(SPELL_S / 2)
        counts = daemon.status()
    finally:
        daemon.stop()  # its last note-offs and CC 123 reach the listener before it is asked
        try:
            heard = [(int(e[0]), [int(b) for b in e[1:]]) for e in listener.ask("frames")]
        finally:
            listener.close()
    ons = np.unique([f for f, data in heard if data[0] & 0xF0 == 0x90 and len(data) > 2 and data[2] > 0])
    assert ons.size > WARMUP_NOTES + 40, f"too few note-ons heard: {ons.size}"
    residuals = grid_residuals(ons[WARMUP_NOTES:].astype(np.float64), STEP_FRAMES)
    down: dict[tuple[int, int], int] = {}
    for _, data in heard:
        if len(data) > 2 and data[0] & 0xE0 == 0x80:
            key = (data[0] & 0x0F, data[1])
            down[key] = down.get(key, 0) + 1 if data[0] & 0xF0 == 0x90 and data[2] > 0 else 0
    stuck = sum(down.values())
    report(f"period 256 -> 128 -> 512 -> 256 frames while playing: {ons.size} note-on frames, |off the grid| max "
           f"{np.abs(residuals).max():.2f} frames, {counts.get('late_dropped')} late drops, {stuck} left sounding")
    assert np.abs(residuals).max() <= MAX_GRID_ERROR_FRAMES
    assert counts.get("late_dropped") == 0 and counts.get("errors") == 0
    assert stuck == 0
