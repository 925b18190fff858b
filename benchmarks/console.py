"""The console must never make a note late: response and jitter with ``antiphon console`` off and on.

The same runs as the response and timing sections (:mod:`benchmarks.response_latency`,
:mod:`benchmarks.timing`), each twice in this one run: without a console, then with ``antiphon
console --headless`` attached to the daemon (its own process, drawing the roll ten times a second,
asking to watch every second, so the daemon sends it everything and the roll). Response: phrase end
-> first answer note-on and OSC generate -> note-on vs its step, on the internal clock and under
``jack_midi_clock``; jitter: every note-on's JACK frame against its pulse, through Antiphon's own
JACK client and through rtmidi, and on the internal clock against its grid in frames. The
internal-clock response rows are the peer's (rtmidi stamps against bar lines placed from status
replies): a third busy process moves them; the frame rows are the daemon's own timing.

Length: ``--quick``: 30 trials and 45 s runs; else 100 trials and 120 s runs. This module must not
import torch.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from benchmarks import Section, Timing, response_latency, timing

NAME = "console"
TITLE = "The console beside the daemon: response and jitter with it off and on"
TRIALS_QUICK, TRIALS_FULL = 30, 100
RUN_S_QUICK, RUN_S_FULL = 45.0, 120.0
APIS = (("jack", "own JACK client"), ("jack-rtmidi", "rtmidi"))


def run(args: argparse.Namespace, quick: bool) -> Section:
    trials = TRIALS_QUICK if quick else TRIALS_FULL
    run_s = RUN_S_QUICK if quick else RUN_S_FULL
    running = bool(getattr(args, "jack_running", False))
    model = getattr(args, "lstm_model", None)
    gan = getattr(args, "gan_model", None)
    section = Section(NAME, TITLE)
    late: dict[str, Any] = {}
    for console in (False, True):
        label = "console on" if console else "console off"
        response = response_latency.measure(quick, model, trials, running, console=console)
        for clock, result in ((c, response[c]) for c in ("internal", "midi")):
            shown = "internal clock" if clock == "internal" else "jack_midi_clock"
            section.timings.append(Timing(f"response, {shown}, {label}",
                                          np.asarray(result["latencies_ms"]) / 1e3,
                                          "phrase end -> first answer note-on (signed)", rate=False))
            section.timings.append(Timing(f"OSC generate vs its step, {shown}, {label}",
                                          np.asarray(result["generate"]["vs_step_ms"]) / 1e3, "signed", rate=False))
            late[f"{shown}, {label}"] = result["daemon_counts"].get("late_dropped", 0)
        for api, shown in APIS:
            measured = timing.measure(run_s, gan, running, midi_api=api, console=console)
            section.timings.append(Timing(f"note-on jitter, JACK frames, {shown}, {label}",
                                          measured["frames"].jitter_ms / 1e3, "|error - median error|", rate=False))
            late[f"{shown} timing run, {label}"] = measured["daemon_counts"].get("late_dropped", 0)
        internal = timing.measure_internal(run_s, gan, running, console=console)
        section.timings.append(Timing(f"note-on |error| vs grid, JACK frames, internal clock, {label}",
                                      np.abs(internal["errors_ms"]) / 1e3, "own JACK client", rate=False))
    section.derived["late note-ons dropped by the daemon, per run"] = "; ".join(f"{k}: {v}" for k, v in late.items())
    section.notes.append(f"{trials} trials per clock and {run_s:g} s per MIDI path, each with the console off and "
                         "then on, in this one run; the console is `antiphon console --headless` attached over OSC")
    return section
