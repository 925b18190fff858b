"""Phrase end -> first note-on of the answer, through a real JACK server, when that note is due at once.

The set-up (all real: :mod:`benchmarks.jack_rig`):

* ``jackd -S --no-realtime -d dummy -r 48000 -p 64`` (1.33 ms periods);
* ``jack_midi_clock`` at :data:`BPM` as the clock master (JACK transport rolled with
  ``jack_transport``), wired to "Antiphon In" and to the peer's monitor;
* the daemon as a subprocess on a preset with ``phrase_end = "bar"`` (the phrase ends at the
  first bar line reached in silence), ``start = "step"`` (the answer's first note sounds on
  the first grid step at or after the phrase end: here the bar line itself), 2/4 bars;
* a peer that plays one short note at the start of every other bar and listens.

So the first note of each answer is due exactly at a bar line, the moment the phrase ends.
One trial's latency is the arrival of that note-on at the monitor minus the arrival of the bar
line's clock pulse at the same monitor: both cross JACK the same way, so what is left is the
daemon's own delay (its clock prediction, the scheduler thread's wake-up, the output's JACK
period). Negative means the note came before the pulse (the tempo prediction ran ahead).
The answer is sampled ahead, during the silence before the bar line; a trial whose answer
has no note at its bar line within :data:`MISS_AFTER_S` is counted as a miss.

The second trigger, OSC ``/antiphon/generate`` ("answer now"), is timed in the same daemon
after the phrase trials: with nothing played, the peer sends ``/antiphon/generate`` over UDP at
a varying point of every other bar. The engine starts that answer on the first grid step at
least ``GENERATE_LEAD_S`` (20 ms, :mod:`daemon.live.engine`) ahead, so two numbers are reported:
the raw delay from the OSC message leaving to the first note-on arriving (20 ms plus up to one
grid step plus the model's own first time shift, by design), and that note-on's arrival minus
the arrival of its grid step's clock pulse (MIDI clock) or its grid step on the internal
clock: the daemon's own delay, comparable to the phrase-end rows. The grid step is the one
nearest the arrival (a step is 16.7 ms at 300 bpm on a 12-per-beat grid, so a note later than
half a step would be counted against the next step: the raw row shows such a case).

Which model: ``--latency-model FILE.onnx``, else ``--lstm-model``, else as
:mod:`benchmarks.models` finds one (bundled, else the trained run exported, else a freshly
initialised one of the bundled size), and the results say which.

``run(args, quick)`` is the section for ``python -m benchmarks``; :func:`measure` returns the
plain numbers as a dict (``measure(quick=True)``: ~30 trials, about half a minute).

This module must not import torch at module level.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import Section, Timing
from benchmarks.jack_rig import (
    ConsoleBeside,
    Daemon,
    Peer,
    RigError,
    jack_connect,
    note_off,
    note_on,
)
from benchmarks.jack_server import jack_for
from benchmarks.midi_clock import MidiClockMaster
from benchmarks.models import lstm_model
from daemon.errors import AntiphonError
from daemon.music.grid import MIDI_CLOCK_PPQN

log = logging.getLogger(__name__)

NAME = "response_latency"
TITLE = "Phrase end -> first answer note-on (JACK dummy 48 kHz / 64 frames, MIDI clock)"
TRIALS_QUICK = 30
TRIALS_FULL = 200
FIT_READINGS = 8  # the internal clock's rate: a line through this many status readings (a trial each)
MIN_FIT_SPAN_S = 1.0  # readings closer together than this give no rate of their own (the nominal tempo is used)
MAX_RATE_ERROR = 0.02  # a fitted rate more than 2 % off the tempo is a bad reading, not the clock
BPM = 300.0  # fast, so that 200 trials take under three minutes
BEATS_PER_BAR = 2  # 2/4: a bar is 48 pulses
PULSES_PER_BAR = 24 * BEATS_PER_BAR
NOTE_AT_PULSE = 2  # the phrase's note starts this many pulses after its bar line...
NOTE_S = 0.05  # ...and lasts this long, leaving most of the bar silent
MISS_AFTER_S = 0.050  # a first note later than the scheduler's late tolerance never comes
ANSWER_CHANNEL = 1  # 0-15
CLOCKS = ("internal", "midi")
TARGET_P99_MS = 3.0
GENERATE_AT_PULSES = (4, 30)  # /antiphon/generate is sent between these pulses of its bar (varied per trial)
GENERATE_PULSE_STRIDE = 7  # ...moving by this many pulses each trial, so it meets the step grid at every phase

PRESET = """
description = "response latency benchmark"
mode = "respond"
[model]
file = "{model}"
[sampling]
temperature = 1.0
[midi]
channel = {channel}
prompt = "all"
[respond]
answer_bars = 1
phrase_end_beats = 0.25
phrase_end = "bar"
start = "step"
[clock]
bpm = {bpm}
numerator = {beats}
denominator = 4
"""


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--latency-model", type=Path, help="an LSTM .onnx file to answer with")
    group.add_argument("--trials", type=int, help=f"answers to time (default {TRIALS_FULL}, --quick {TRIALS_QUICK})")


def _ticks_per_step(model: Path) -> int:
    """Pulses (24 per beat) per step of the model's grid."""
    from daemon.models.lstm import load_lstm

    return MIDI_CLOCK_PPQN // load_lstm(model).codec.grid.ticks_per_beat


def measure(quick: bool, model: Path | None = None, trials: int | None = None,
            jack_running: bool = False, console: bool = False) -> dict[str, Any]:
    """Run the benchmark, once per clock; return every latency (ms) and a summary per clock.

    Returns:
        ``{"internal": {...}, "midi": {...}}``, each with ``latencies_ms`` (signed, one per
        answered trial), ``clock_jitter_ms`` (each bar line's arrival minus a line fitted through
        the two bars of pulses before it: the master's own irregularity; 0 for the internal
        clock), ``n``, ``median_ms``, ``p95_ms``, ``p99_ms``, ``max_ms``, ``min_ms``, ``misses``
        (no first note), ``silent_answers`` (the model chose to rest: not a timing fault),
        ``late_misses``, ``trials``, ``bpm_nominal``, ``bpm_measured``, ``model``,
        ``daemon_counts``, ``target_p99_ms``, ``target_met``; and ``generate``: the OSC
        ``/antiphon/generate`` trials, with ``raw_ms`` (OSC sent -> first note-on arrived),
        ``vs_step_ms`` (that note-on minus its grid step, signed), ``trials``, ``misses``.

    Raises:
        AntiphonError: JACK, jack_midi_clock or the model are not available.
    """
    n_trials = trials or (TRIALS_QUICK if quick else TRIALS_FULL)
    with tempfile.TemporaryDirectory(prefix="antiphon-latency-") as tmp:
        workdir = Path(tmp)
        model_path, model_note = lstm_model(model)
        step = _ticks_per_step(model_path)
        folder = workdir / "presets"
        folder.mkdir()
        (folder / "bench.toml").write_text(PRESET.format(model=model_path, channel=ANSWER_CHANNEL + 1, bpm=BPM,
                                                         beats=BEATS_PER_BAR))
        results = {}
        for clock in CLOCKS:
            with jack_for(jack_running, workdir / f"jackd-{clock}.log"):
                results[clock] = _trials(folder, n_trials, model_note, clock, step, console)
        return results


def _trials(folder: Path, n_trials: int, model_note: str, clock: str, step: int,
            console: bool = False) -> dict[str, Any]:
    """Time ``n_trials`` phrase answers, then ``n_trials`` OSC-triggered ones, with the daemon following
    ``clock`` (``"midi"`` or ``"internal"``); ``step`` is the model's grid step in pulses; ``console``:
    with ``antiphon console`` attached (headless) all along."""
    peer = Peer()
    daemon = Daemon("--preset", "bench", "--seed", "1", env={"ANTIPHON_PRESETS_DIR": str(folder)})
    master: MidiClockMaster | None = None
    latencies: list[float] = []
    jitter: list[float] = []
    misses = 0
    watching: ConsoleBeside | None = None
    try:
        daemon.wait_for("ready")
        if console:
            watching = ConsoleBeside(daemon)
            watching.wait_attached()
        peer.wire(daemon)
        bar_time: _MidiBars | _InternalBars
        if clock == "midi":
            master = MidiClockMaster(BPM)
            jack_connect(master.port, daemon.port("Antiphon In"))
            jack_connect(master.port, peer.monitor_port)
            master.transport("locate 0")
            master.transport("play")
            daemon.wait_for("MIDI clock tempo", timeout_s=15.0)
            bar_time = _midi_bar_time(peer)
        else:
            bar_time = _internal_bar_time(daemon)
        bar = bar_time.first_bar()
        for trial in range(n_trials):
            bar_time.refresh()
            bar = max(bar, bar_time.first_bar() - 1)
            bar += (-bar) % 2  # phrases on even bars, answers on odd ones
            bar_time.wait(bar, NOTE_AT_PULSE)
            pitch = 60 + trial % 12
            peer.send(note_on(pitch, 0, 90))
            time.sleep(NOTE_S)
            peer.send(note_off(pitch, 0))
            due = bar_time.wait(bar + 1, 0)
            bar_time.wait(bar + 2, -4)  # the answer's bar is (nearly) over
            heard = [t for t, m in peer.timed()
                     if m.type == "note_on" and m.velocity > 0 and m.channel == ANSWER_CHANNEL
                     and due - 0.5 * 60.0 / BPM < t < due + MISS_AFTER_S]
            jitter.append((due - bar_time.steady(bar + 1)) * 1e3)
            if heard:
                latencies.append((heard[0] - due) * 1e3)
            else:
                misses += 1
            bar += 2
            if len(peer.received) > 20000:
                peer.clear()  # pulses are kept apart; keep the scan short
        generate = _generate_trials(daemon, peer, bar_time, bar, n_trials, step)
        counts = daemon.status()
        measured = bar_time.measured_bpm()
    except RigError as exc:
        raise AntiphonError(f"response latency benchmark: {exc}") from exc
    finally:
        if watching is not None:
            watching.close()
        if master is not None:
            master.close()
        daemon.stop()
        peer.close()
    values = np.array(latencies, np.float64)
    silent = int(counts.get("silent_answers", 0))
    summary: dict[str, Any] = {"clock": clock, "trials": n_trials, "n": int(values.size), "misses": misses,
                               "silent_answers": silent, "late_misses": max(0, misses - silent),
                               "latencies_ms": [round(v, 4) for v in latencies],
                               "clock_jitter_ms": [round(v, 4) for v in jitter], "bpm_nominal": BPM,
                               "bpm_measured": float(measured), "model": model_note,
                               "daemon_counts": {k: v for k, v in counts.items()
                                                 if k not in ("clock", "preset", "clock_received_s")},
                               "target_p99_ms": TARGET_P99_MS, "generate": generate}
    if values.size:
        summary.update({"median_ms": float(np.median(values)), "p95_ms": float(np.percentile(values, 95)),
                        "p99_ms": float(np.percentile(values, 99)), "max_ms": float(values.max()),
                        "min_ms": float(values.min()),
                        "target_met": bool(np.percentile(values, 99) <= TARGET_P99_MS and misses == silent)})
    return summary


def _generate_trials(daemon: Daemon, peer: Peer, bar_time: _MidiBars | _InternalBars, bar: int, n_trials: int,
                     step: int) -> dict[str, Any]:
    """Send ``/antiphon/generate`` at a varying point of every other bar, nothing played; time the first note-on.

    Returns:
        ``raw_ms`` (OSC sent -> first answer note-on arrived), ``vs_step_ms`` (that arrival minus
        its grid step's, signed), ``trials``, ``misses`` (no note-on within the bar after).
    """
    raw: list[float] = []
    vs_step: list[float] = []
    misses = 0
    span = GENERATE_AT_PULSES[1] - GENERATE_AT_PULSES[0]
    bar_s = BEATS_PER_BAR * 60.0 / BPM
    peer.clear()
    for trial in range(n_trials):
        bar_time.refresh()
        bar = max(bar, bar_time.first_bar() - 1)
        bar += (-bar) % 2
        bar_time.wait(bar, GENERATE_AT_PULSES[0] + (trial * GENERATE_PULSE_STRIDE) % span)
        sent = time.perf_counter()
        daemon.osc("/antiphon/generate")
        bar_time.wait(bar + 2, -4)  # the one-bar answer, started within a step of the trigger, is over
        heard = [t for t, m in peer.timed()
                 if m.type == "note_on" and m.velocity > 0 and m.channel == ANSWER_CHANNEL and sent < t < sent + bar_s]
        if heard:
            raw.append((heard[0] - sent) * 1e3)
            vs_step.append((heard[0] - bar_time.nearest_step(heard[0], step)) * 1e3)
        else:
            misses += 1
        bar += 2
        if len(peer.received) > 20000:
            peer.clear()
    return {"trials": n_trials, "misses": misses, "raw_ms": [round(v, 4) for v in raw],
            "vs_step_ms": [round(v, 4) for v in vs_step], "step_pulses": step}


class _MidiBars:
    """Bar lines as the clock master's pulses arrive at the peer."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer

    def first_bar(self) -> int:
        return len(self.peer.pulses) // PULSES_PER_BAR + 2

    def refresh(self) -> None:
        """Nothing to read again: the pulses are the bar lines."""

    def wait(self, bar: int, pulses: int) -> float:
        return self.peer.wait_pulse(bar * PULSES_PER_BAR + pulses, timeout_s=10.0)

    def steady(self, bar: int) -> float:
        """The bar line on a straight line fitted through the pulses of the two bars before it."""
        index = bar * PULSES_PER_BAR
        first = max(0, index - 2 * PULSES_PER_BAR)
        times = np.array(self.peer.pulses[first:index])
        slope, intercept = np.polyfit(np.arange(first, first + len(times)), times, 1)
        return float(intercept + slope * index)

    def nearest_step(self, t: float, step: int) -> float:
        """Arrival of the clock pulse of the grid step (every ``step`` pulses) nearest ``t``."""
        pulses = np.array(self.peer.pulses)
        index = int(np.searchsorted(pulses, t))
        candidates = [i for i in range(max(0, index - 2 * step), min(len(pulses), index + 2 * step))
                      if i % step == 0]
        if not candidates:
            raise RigError(f"no clock pulse near {t:.3f} s")
        return float(min((pulses[i] for i in candidates), key=lambda p: abs(p - t)))

    def measured_bpm(self) -> float:
        pulses = np.array(self.peer.pulses[-PULSES_PER_BAR * 8:])
        return 60.0 / (np.polyfit(np.arange(len(pulses)), pulses, 1)[0] * 24) if len(pulses) > 2 else float("nan")


class _InternalBars:
    """Bar lines of the daemon's internal clock, from its ``/antiphon/clock`` replies (same monotonic clock).

    The daemon's clock is JACK's frame counter under ``--midi-api jack``, and a dummy driver's
    frames run a little slower or faster than the system's clock (0.25 % here: 2.5 ms a second), so
    one reading does not place a bar line seconds later: the daemon is asked again before each bar
    waited for (:meth:`refresh`), and the bar lines come from a straight line through the last
    :data:`FIT_READINGS` readings (position against time: its slope is the clock's own rate).
    """

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon
        self._readings: list[tuple[float, float]] = []  # (perf_counter s, position beats)
        self.refresh()

    def refresh(self) -> None:
        status = self._daemon.status()
        source, _, _, position = status["clock"]
        if source != "internal":
            raise RigError(f"the daemon follows {source} clock, not its internal one")
        # the position was read between the request leaving and the reply arriving (~0.1-0.5 ms apart)
        self._readings = [*self._readings[-(FIT_READINGS - 1):],
                          ((status["status_sent_s"] + status["clock_received_s"]) / 2, float(position))]
        times = np.array([t for t, _ in self._readings])
        beats_read = np.array([b for _, b in self._readings])
        at_s, beats = float(times[-1]), float(beats_read[-1])
        self._beat_s = 60.0 / BPM
        if times[-1] - times[0] >= MIN_FIT_SPAN_S:
            x, y = beats_read - beats_read.mean(), times - times.mean()  # centred: the numbers are large
            slope = float((x * y).sum() / (x * x).sum())
            if np.isfinite(slope) and abs(slope * BPM / 60.0 - 1.0) < MAX_RATE_ERROR:
                self._beat_s = slope
                at_s = float(times.mean() + slope * (beats - beats_read.mean()))
        self.origin_s = at_s - beats * self._beat_s

    def time(self, bar: int, pulses: int = 0) -> float:
        return self.origin_s + (bar * PULSES_PER_BAR + pulses) * self._beat_s / 24

    def first_bar(self) -> int:
        return int((time.perf_counter() - self.origin_s) / (BEATS_PER_BAR * self._beat_s)) + 2

    def wait(self, bar: int, pulses: int) -> float:
        when = self.time(bar, pulses)
        while time.perf_counter() < when:
            time.sleep(min(0.005, max(0.0, when - time.perf_counter())))
        return when

    def steady(self, bar: int) -> float:
        return self.time(bar)

    def nearest_step(self, t: float, step: int) -> float:
        """The internal clock's grid step (every ``step`` pulses) nearest ``t``."""
        step_s = step * self._beat_s / MIDI_CLOCK_PPQN
        return self.origin_s + round((t - self.origin_s) / step_s) * step_s

    def measured_bpm(self) -> float:
        return 60.0 / self._beat_s


def _midi_bar_time(peer: Peer) -> _MidiBars:
    return _MidiBars(peer)


def _internal_bar_time(daemon: Daemon) -> _InternalBars:
    return _InternalBars(daemon)


def run(args: argparse.Namespace, quick: bool) -> Section:
    """The benchmark section (see the module docstring)."""
    model = getattr(args, "latency_model", None) or getattr(args, "lstm_model", None)
    results = measure(quick, model, getattr(args, "trials", None), bool(getattr(args, "jack_running", False)))
    section = Section(NAME, TITLE)
    for clock, result in results.items():
        label = "internal clock, bar line" if clock == "internal" else "jack_midi_clock, bar line pulse"
        section.timings.append(Timing(f"{label} -> first answer note-on (signed)",
                                      np.array(result["latencies_ms"], np.float64) / 1e3,
                                      "stamped on arrival at the same JACK client", rate=False))
    for clock, result in results.items():
        label = "internal clock" if clock == "internal" else "jack_midi_clock"
        generate = result["generate"]
        section.timings.append(Timing(f"{label}, OSC generate: first answer note-on vs its grid step (signed)",
                                      np.array(generate["vs_step_ms"], np.float64) / 1e3,
                                      "the note-on's arrival minus its grid step's (clock pulse arrival, or the "
                                      "internal clock's step)", rate=False))
        section.timings.append(Timing(f"{label}, OSC generate sent -> first answer note-on (raw)",
                                      np.array(generate["raw_ms"], np.float64) / 1e3,
                                      "includes the 20 ms lead and the wait for the next grid step, by design",
                                      rate=False))
        section.derived[f"{clock}: OSC generate trials / misses (no note-on within a bar)"] = (
            f"{generate['trials']} / {generate['misses']}")
        section.derived.update({
            f"{clock}: trials": result["trials"],
            f"{clock}: misses (no first note within 50 ms) / of which silent answers": (
                f"{result['misses']} / {result['silent_answers']}"),
            f"{clock}: min / max ms": f"{result.get('min_ms', float('nan')):.2f} / {result.get('max_ms', float('nan')):.2f}",
            f"{clock}: p99 <= {TARGET_P99_MS:g} ms target met": result.get("target_met", False),
            f"{clock}: late note-ons dropped by the daemon": result["daemon_counts"].get("late_dropped", 0),
        })
    midi = results.get("midi", {})
    jitter = np.abs(np.array(midi.get("clock_jitter_ms", [0.0]), np.float64))
    section.derived["jack_midi_clock: nominal / measured bpm"] = (f"{BPM:g} / {midi.get('bpm_measured', float('nan')):.2f}"
                                                                   " (dummy driver)")
    section.derived["jack_midi_clock: bar line pulse vs a line through the 2 bars before, |median| / p99 ms"] = (
        f"{np.median(jitter):.2f} / {np.percentile(jitter, 99):.2f}")
    section.notes.append(next(iter(results.values()))["model"])
    section.notes.append("phrase_end = \"bar\", start = \"step\": the first note is due at the bar line that ends "
                         "the phrase; the answer was sampled during the silence before it")
    section.notes.append("OSC /antiphon/generate: sent over UDP with nothing played; the engine answers from the "
                         "first grid step at least 20 ms ahead (GENERATE_LEAD_S), so the raw row's floor is 20 ms by "
                         "design; the 'vs its grid step' row is the daemon's own delay, like the phrase-end rows")
    midi_reason = (f"the clock's pulses arrive irregularly here (bar-line pulse {np.percentile(jitter, 99):.1f} ms "
                   "p99 off the line through the 2 bars before it) and the daemon places the bar line from the "
                   "pulses before it; " + _reason())
    internal_reason = ("the internal clock's bar lines are placed by the peer in perf_counter time, from the daemon's "
                       "status replies, and its note-ons stamped in rtmidi's Python callback (delivery jitter, p99 "
                       "12-31 ms here: see the timing section), while the daemon times notes in JACK frames, whose "
                       "rate against the system clock wanders on the dummy driver; in frames the same notes land on "
                       "their grid frame (timing: internal clock row); " + _reason())
    for clock in results:
        reason = midi_reason if clock == "midi" else internal_reason
        section.reasons[f"{'internal clock, bar line' if clock == 'internal' else 'jack_midi_clock, bar line pulse'}"
                        f" -> first answer note-on (signed)"] = reason
        section.reasons[f"{'internal clock' if clock == 'internal' else 'jack_midi_clock'}, OSC generate: first "
                        f"answer note-on vs its grid step (signed)"] = reason
    section.data = {clock: {"latencies_ms": r["latencies_ms"], "generate": r["generate"]}
                    for clock, r in results.items()}
    return section


def _reason() -> str:
    """Why a latency target is missed on this rig, as far as is known."""
    return "2 shared non-realtime cores (scheduler, JACK thread, dummy driver); JACK moves MIDI at 1.33 ms periods"
