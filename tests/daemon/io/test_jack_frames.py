"""Antiphon's own JACK client (``--midi-api jack``): note-ons land on their frame.

The timing benchmark's --quick form, shorter (``python -m benchmarks --only timing``, in its own
process): the daemon accompanying on the bundled groove band, a JACK server (dummy driver, 48 kHz,
64-frame periods), ``jack_midi_clock`` as the DAW's clock, and ``jack_midi_dump`` (a C client)
printing the frame of every event; then the rtmidi path under the same clock, and the daemon on
its internal clock with no clock master.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.benchmark_section import run_section

pytestmark = pytest.mark.jack

RUN_S = "20"
TIMEOUT_S = 600


def test_own_jack_client_writes_every_note_on_at_its_grid_frame(tmp_path: Path, report: Callable[[str], None]) -> None:
    timing = run_section(tmp_path / "timing", "timing", "--timing-s", RUN_S, timeout_s=TIMEOUT_S)
    rows = {t["name"]: t for t in timing["timings"]}
    clock = rows["note-on |error| vs grid, JACK frames"]
    internal = rows["note-on |error| vs grid, JACK frames, internal clock"]
    rtmidi = rows["note-on jitter, JACK frames, through rtmidi (|error - median error|)"]
    report(f"own JACK client, |note-on - grid frame|: under jack_midi_clock median {clock['median_ms']:.4f} ms, p99 "
           f"{clock['p99_ms']:.4f} ms (n={clock['n']}); internal clock median {internal['median_ms']:.4f} ms, p99 "
           f"{internal['p99_ms']:.4f} ms (n={internal['n']}); rtmidi path jitter p99 {rtmidi['p99_ms']:.2f} ms")
    assert clock["n"] >= 50 and internal["n"] >= 30
    assert clock["p99_ms"] <= 0.1 and clock["median_ms"] <= 0.02
    assert internal["p99_ms"] <= 0.1 and internal["median_ms"] <= 0.02
    assert timing["derived"]["note-ons off the model's grid (nearest pulse not a step)"] == 0
