"""Output timing under MIDI clock: jitter of every note-on against its grid time, and drift over a long run.

The set-up (all real: :mod:`benchmarks.jack_rig`):

* ``jackd -S --no-realtime -d dummy -r 48000 -p 64`` (1.33 ms periods);
* ``jack_midi_clock`` at :data:`BPM` as the clock master (JACK transport rolled with
  ``jack_transport``), wired to "Antiphon In";
* the daemon as a subprocess in ``accompany`` mode on a GAN (drums, bass, chords in 4/4): it
  plays a bar of notes on the grid every bar, for as long as the clock runs;
* two listeners on both the clock and the daemon's output: ``jack_midi_dump -a`` (a C client
  that prints every event with its JACK frame time: the master's pulses are sample-accurate,
  the daemon's notes land where JACK put them), and the Python peer of the other benchmarks
  (``time.perf_counter()`` in the rtmidi callback).

For each listener, pulse ``k`` after Start is grid position ``k``; each note-on's position is
interpolated between the pulses around it and rounded to the nearest grid step (of the model's
grid: a sixteenth, 6 pulses, for the groove GAN), and its *error* is its arrival minus the
arrival of that step's pulse at the same listener: the intended time, as derived from the
clock the daemon follows. *Jitter* is ``|error - median error|`` (the constant part is
latency, not jitter); *drift* is the slope of a straight line fitted through the errors
against time, in ms per minute (a tempo estimate that creeps would show), with its standard
error. In JACK frames the master's pulses are sample-accurate; in perf_counter time they show
how irregularly the dummy driver runs on this machine (reported as the largest distance of a
pulse from a straight line, and the tempo of that line).
The first :data:`WARMUP_BARS` bars, while the daemon's tempo estimate settles, are left out.

The daemon's output goes through python-rtmidi, which writes each JACK MIDI event at the start
of the next period: in JACK frames every output is quantised to 64 frames (1.33 ms), so the
frame-time jitter cannot be below about half a period.

Length: :data:`RUN_S_FULL` (10 minutes) or ``--quick`` :data:`RUN_S_QUICK`; ``--timing-s``
sets it. Drift is judged against its target only over at least :data:`MIN_DRIFT_MINUTES`
(a shorter run's slope is reported, not judged: its standard error exceeds the threshold). Which model: ``--gan-model``, else as :mod:`benchmarks.models` finds one.

This module must not import torch at module level.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import Section, Timing
from benchmarks.jack_rig import (
    JACK_SAMPLE_RATE_HZ,
    ConsoleBeside,
    Daemon,
    Peer,
    RigError,
    jack_connect,
    jack_port,
)
from benchmarks.jack_server import jack_for
from benchmarks.midi_clock import MidiClockMaster, interrupt
from benchmarks.models import accompany_threshold, gan_model
from daemon.errors import AntiphonError
from daemon.music.grid import MIDI_CLOCK_PPQN

log = logging.getLogger(__name__)

NAME = "timing"
TITLE = "Output timing under jack_midi_clock: jitter and drift (accompany mode, JACK dummy 48 kHz / 64 frames)"
BPM = 120.0
BEATS_PER_BAR = 4
RUN_S_FULL = 600.0  # the ten minutes
RUN_S_QUICK = 45.0
WARMUP_BARS = 2  # left out: the daemon's tempo fit needs two beats, and the first bar is made before it knows
NO_DRIFT_MS_PER_MIN = 0.1  # "no drift": under a tenth of a millisecond per minute (1 ms over ten minutes)
MIN_DRIFT_MINUTES = 5.0  # a shorter run's slope is noise (its standard error is above the threshold): not judged
DUMP_START_TIMEOUT_S = 10.0
STATUS_BYTE_CLOCK, STATUS_BYTE_START = 0xF8, 0xFA
NOTE_ON_STATUS = 0x90
# "  144704: 99 2e 50 note on  (channel  9): pitch  46, velocity  80": frame, bytes in hex, a description
DUMP_LINE = re.compile(r"^\s*(\d+):((?:\s+[0-9a-fA-F]{2}\b)+)")

PRESET = """
description = "timing benchmark: the GAN accompanies under MIDI clock"
mode = "accompany"
[model]
file = "{model}"
[accompany]
channels = [10, 2, 3]
threshold = {threshold}
[midi]
channel = 1
channel_in = 0
ignore_output_channels = true
[clock]
bpm = {bpm}
numerator = {beats}
denominator = 4
"""

JITTER_FRAMES = "note-on jitter, JACK frames (|error - median error|)"
ERROR_FRAMES = "note-on error vs grid, JACK frames (signed)"
DRIFT_FRAMES = "drift, JACK frames (ms per minute)"
JITTER_WALL = "note-on jitter, perf_counter in the rtmidi callback (|error - median error|)"
ERROR_WALL = "note-on error vs grid, perf_counter in the rtmidi callback (signed)"
DRIFT_WALL = "drift, perf_counter (ms per minute)"
DRIFT_SHORT = "drift of a run too short to judge, ms per minute (JACK frames; perf_counter)"


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--timing-s", type=float,
                       help=f"seconds the clock runs (default {RUN_S_FULL:g}, --quick {RUN_S_QUICK:g})")


@dataclass
class Analysis:
    """Errors of the note-ons heard by one listener.

    Attributes:
        times_s: arrival of each note-on counted, seconds from the first pulse.
        errors_ms: each note-on's arrival minus the arrival of its grid step's pulse (signed).
        drift_ms_per_min: slope of ``errors_ms`` against time.
        drift_se_ms_per_min: the slope's standard error.
        drift_halves_ms: median error of the last half of the run minus that of the first half.
        pulse_residual_ms: largest distance of a pulse from a straight line through all of them
            (the clock's own irregularity as this listener sees it).
        measured_bpm: the tempo of that line.
        off_grid: note-ons whose nearest pulse is not a grid step (none expected).
    """

    times_s: np.ndarray
    errors_ms: np.ndarray
    drift_ms_per_min: float
    drift_se_ms_per_min: float
    drift_halves_ms: float
    pulse_residual_ms: float
    measured_bpm: float
    off_grid: int

    @property
    def jitter_ms(self) -> np.ndarray:
        """``|error - median error|`` per note-on (ms): the constant part is latency, not jitter."""
        if self.errors_ms.size == 0:
            return self.errors_ms
        return np.abs(self.errors_ms - np.median(self.errors_ms))


def analyse(pulses_s: np.ndarray, notes_s: np.ndarray, step_pulses: int, warmup_pulses: int) -> Analysis:
    """Errors of note-ons against the grid steps the pulses mark (both in seconds on one clock).

    Each note-on's position in pulses is interpolated between the pulses around it and rounded
    to the nearest grid step; its error is its arrival minus the arrival of that step's pulse.

    Args:
        pulses_s: arrival of clock pulse k at index k (k = 0: the first after Start).
        notes_s: arrival of every note-on.
        step_pulses: pulses per grid step of the notes (6: sixteenths).
        warmup_pulses: notes before this pulse are left out.

    Raises:
        AntiphonError: too few pulses, or no note after the warm-up.
    """
    if pulses_s.size <= warmup_pulses + 2 * MIDI_CLOCK_PPQN:
        raise AntiphonError(f"only {pulses_s.size} clock pulses arrived: the clock master did not run long enough")
    index = np.arange(pulses_s.size, dtype=np.float64)
    slope, intercept = np.polyfit(index, pulses_s, 1)
    residual = pulses_s - (intercept + slope * index)
    notes = np.sort(notes_s[(notes_s >= pulses_s[warmup_pulses]) & (notes_s <= pulses_s[-1 - step_pulses])])
    if notes.size == 0:
        raise AntiphonError("the daemon played no note after the warm-up (is the GAN silent at this threshold?)")
    ticks = np.interp(notes, pulses_s, index)
    steps = (np.round(ticks / step_pulses) * step_pulses).astype(np.int64)
    errors = (notes - pulses_s[steps]) * 1e3
    off_grid = int(np.count_nonzero(np.round(ticks).astype(np.int64) % step_pulses))
    minutes = (notes - pulses_s[0]) / 60.0
    drift, drift_se = float("nan"), float("nan")
    if notes.size >= 3 and np.ptp(minutes) > 0:
        coef, cov = np.polyfit(minutes, errors, 1, cov=True)
        drift, drift_se = float(coef[0]), float(np.sqrt(cov[0, 0]))
    half = minutes < (minutes[0] + minutes[-1]) / 2
    halves = float(np.median(errors[~half]) - np.median(errors[half])) if half.any() and (~half).any() else float("nan")
    return Analysis(notes - pulses_s[0], errors, drift, drift_se, halves, float(np.abs(residual).max() * 1e3),
                    60.0 / (slope * MIDI_CLOCK_PPQN), off_grid)


def parse_dump(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(pulse frames since the last Start, note-on frames) from ``jack_midi_dump -a`` output."""
    pulses: list[int] = []
    notes: list[int] = []
    for line in text.splitlines():
        match = DUMP_LINE.match(line)
        if match is None:
            continue
        frame = int(match.group(1))
        data = [int(b, 16) for b in match.group(2).split()]
        status = data[0]
        if status == STATUS_BYTE_START:
            pulses = []
            notes = []
        elif status == STATUS_BYTE_CLOCK:
            pulses.append(frame)
        elif status & 0xF0 == NOTE_ON_STATUS and len(data) >= 3 and data[2] > 0:
            notes.append(frame)
    return np.array(pulses, np.float64), np.array(notes, np.float64)


class FrameDump:
    """``jack_midi_dump -a``: a JACK client printing every MIDI event it gets with its frame time."""

    def __init__(self, path: Path) -> None:
        program = shutil.which("jack_midi_dump")
        if program is None:
            raise RigError("jack_midi_dump is not installed (apt-get install jackd2)")
        self.name = f"framedump{uuid.uuid4().hex[:6]}"
        command = [program, "-a", self.name]
        stdbuf = shutil.which("stdbuf")
        if stdbuf is not None:
            command = [stdbuf, "-oL", *command]  # line-buffered, so nothing is lost at the end
        self.path = path
        with open(path, "wb") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + DUMP_START_TIMEOUT_S
        while True:
            try:
                self.port = jack_port(":input", self.name)
                break
            except RigError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RigError(f"jack_midi_dump did not start: {path.read_text(errors='replace')[-500:]}") from None
                time.sleep(0.05)

    def close(self) -> str:
        """Stop the client; return everything it printed."""
        interrupt(self.proc)
        return self.path.read_text(errors="replace")


def _step_pulses(model: Path) -> int:
    """Pulses per step of the GAN's bars (6 for sixteenths in 4/4)."""
    from daemon.models.gan import open_gan

    spec = open_gan(model).spec
    bar_pulses = MIDI_CLOCK_PPQN * spec.grid.numerator * 4 // spec.grid.denominator
    return max(1, bar_pulses // spec.steps_per_bar)


def _timing_daemon(workdir: Path, model_path: Path, threshold: float, midi_api: str) -> Daemon:
    """The daemon on the timing preset (written into ``workdir``), accompanying on ``midi_api``."""
    folder = workdir / "presets"
    folder.mkdir()
    (folder / "timing.toml").write_text(PRESET.format(model=model_path, bpm=BPM, beats=BEATS_PER_BAR,
                                                      threshold=threshold))
    return Daemon("--preset", "timing", "--seed", "1", env={"ANTIPHON_PRESETS_DIR": str(folder)}, midi_api=midi_api)


def measure(run_s: float, model: Path | None = None, jack_running: bool = False, midi_api: str = "jack",
            console: bool = False) -> dict[str, Any]:
    """Run the daemon (on ``midi_api``: ``jack``, its own JACK client, or ``jack-rtmidi``) under
    ``jack_midi_clock`` for ``run_s`` seconds and analyse both listeners; ``console``: with
    ``antiphon console`` attached (headless) all along.

    Returns:
        ``frames`` and ``wall``: :class:`Analysis` of the JACK-frame and perf_counter listeners;
        ``notes``, ``run_s``, ``model``, ``step_pulses``, ``daemon_counts``.

    Raises:
        AntiphonError: JACK, its tools or a GAN model are not available, or nothing was played.
    """
    model_path, model_note = gan_model(model)
    threshold, threshold_note = accompany_threshold(model_path)
    step = _step_pulses(model_path)
    with tempfile.TemporaryDirectory(prefix="antiphon-timing-") as tmp:
        workdir = Path(tmp)
        with jack_for(jack_running, workdir / "jackd.log"):
            peer = Peer()
            daemon = _timing_daemon(workdir, model_path, threshold, midi_api)
            master: MidiClockMaster | None = None
            dump: FrameDump | None = None
            watching: ConsoleBeside | None = None
            dumped = ""
            try:
                daemon.wait_for("ready")
                if console:
                    watching = ConsoleBeside(daemon)
                    watching.wait_attached()
                dump = FrameDump(workdir / "dump.txt")
                out_port = daemon.port("Antiphon Out")
                master = MidiClockMaster(BPM)
                for listener in (dump.port, peer.monitor_port):
                    jack_connect(master.port, listener)
                    jack_connect(out_port, listener)
                jack_connect(master.port, daemon.port("Antiphon In"))
                master.transport("locate 0")
                master.transport("play")
                daemon.wait_for("MIDI clock tempo", timeout_s=15.0)
                time.sleep(run_s)
                counts = daemon.status()
            except RigError as exc:
                raise AntiphonError(f"timing benchmark: {exc}") from exc
            finally:
                if watching is not None:
                    watching.close()
                if master is not None:
                    master.close()
                if dump is not None:
                    dumped = dump.close()
                daemon.stop()
                peer.close()
    warmup = WARMUP_BARS * BEATS_PER_BAR * MIDI_CLOCK_PPQN
    pulse_frames, note_frames = parse_dump(dumped)
    frames = analyse(pulse_frames / JACK_SAMPLE_RATE_HZ, note_frames / JACK_SAMPLE_RATE_HZ, step, warmup)
    timed = peer.timed()
    wall_notes = np.array([t for t, m in timed if m.type == "note_on" and m.velocity > 0], np.float64)
    wall = analyse(np.array(peer.pulses, np.float64), wall_notes, step, warmup)
    return {"frames": frames, "wall": wall, "run_s": run_s, "model": f"{model_note}; {threshold_note}",
            "step_pulses": step, "midi_api": midi_api,
            "daemon_counts": {k: v for k, v in counts.items() if k not in ("clock", "preset", "clock_received_s",
                                                                           "status_sent_s")}}


def grid_residuals(note_frames: np.ndarray, step_frames: float) -> np.ndarray:
    """Signed distance (frames) of each note-on from a straight grid of ``step_frames`` fitted
    through them all (phase and step by least squares): how far each lands from where a grid at
    the notes' own tempo puts it, when no clock pulse marks the grid."""
    frames = np.sort(np.asarray(note_frames, np.float64))
    index = np.round((frames - frames[0]) / step_frames)
    slope, intercept = np.polyfit(index, frames, 1)
    return frames - (intercept + slope * index)


def measure_internal(run_s: float, model: Path | None = None, jack_running: bool = False,
                     midi_api: str = "jack", console: bool = False) -> dict[str, Any]:
    """The daemon accompanying on its internal clock (no clock master) for ``run_s`` seconds; every
    note-on's JACK frame against a straight sixteenth grid fitted through them (:func:`grid_residuals`).

    Raises:
        AntiphonError: JACK, its tools or a GAN model are not available, or nothing was played.
    """
    model_path, model_note = gan_model(model)
    threshold, _ = accompany_threshold(model_path)
    step = _step_pulses(model_path)
    with tempfile.TemporaryDirectory(prefix="antiphon-timing-") as tmp:
        workdir = Path(tmp)
        with jack_for(jack_running, workdir / "jackd.log"):
            daemon = _timing_daemon(workdir, model_path, threshold, midi_api)
            dump: FrameDump | None = None
            watching: ConsoleBeside | None = None
            dumped = ""
            try:
                daemon.wait_for("ready")
                if console:
                    watching = ConsoleBeside(daemon)
                    watching.wait_attached()
                dump = FrameDump(workdir / "dump.txt")
                jack_connect(daemon.port("Antiphon Out"), dump.port)
                time.sleep(run_s)
            except RigError as exc:
                raise AntiphonError(f"timing benchmark: {exc}") from exc
            finally:
                if watching is not None:
                    watching.close()
                if dump is not None:
                    dumped = dump.close()
                daemon.stop()
    _, note_frames = parse_dump(dumped)
    notes = np.unique(note_frames)  # chords: one onset per step
    warmup = WARMUP_BARS * BEATS_PER_BAR * MIDI_CLOCK_PPQN // step
    step_frames = JACK_SAMPLE_RATE_HZ * 60.0 / BPM / (MIDI_CLOCK_PPQN / step)
    if notes.size <= warmup + 2:
        raise AntiphonError("the daemon played too few notes on its internal clock")
    residuals = grid_residuals(notes[warmup:], step_frames)
    return {"errors_ms": residuals / JACK_SAMPLE_RATE_HZ * 1e3, "notes": int(notes.size - warmup), "model": model_note,
            "midi_api": midi_api}


RTMIDI = "jack-rtmidi"
JITTER_RTMIDI = "note-on jitter, JACK frames, through rtmidi (|error - median error|)"
ERROR_RTMIDI = "note-on error vs grid, JACK frames, through rtmidi (signed)"
ABS_ERROR_FRAMES = "note-on |error| vs grid, JACK frames"
ABS_ERROR_INTERNAL = "note-on |error| vs grid, JACK frames, internal clock"
INTERNAL_RUN_S = 120.0  # the internal-clock run (no drift to judge: the grid is the daemon's own)


def run(args: argparse.Namespace, quick: bool) -> Section:
    """The benchmark section (see the module docstring): Antiphon's own JACK client, then the rtmidi
    path under the same clock for the same length, in one run."""
    run_s = getattr(args, "timing_s", None) or (RUN_S_QUICK if quick else RUN_S_FULL)
    model, running = getattr(args, "gan_model", None), bool(getattr(args, "jack_running", False))
    result = measure(run_s, model, running)
    rtmidi = measure(run_s, model, running, midi_api=RTMIDI)
    internal = measure_internal(min(run_s, INTERNAL_RUN_S), model, running)
    frames: Analysis = result["frames"]
    wall: Analysis = result["wall"]
    section = Section(NAME, TITLE)
    section.timings = [
        Timing(JITTER_FRAMES, frames.jitter_ms / 1e3, "JACK frame time of each note-on vs its step's pulse",
               rate=False),
        Timing(ERROR_FRAMES, frames.errors_ms / 1e3, "the constant part is output latency", rate=False),
        Timing(ABS_ERROR_FRAMES, np.abs(frames.errors_ms) / 1e3, "how far from its pulse each note-on lands",
               rate=False),
        Timing(JITTER_WALL, wall.jitter_ms / 1e3, "the same notes, stamped in Python", rate=False),
        Timing(ERROR_WALL, wall.errors_ms / 1e3, "", rate=False),
        Timing(JITTER_RTMIDI, rtmidi["frames"].jitter_ms / 1e3, "the daemon on --midi-api jack-rtmidi, same clock",
               rate=False),
        Timing(ABS_ERROR_INTERNAL, np.abs(internal["errors_ms"]) / 1e3,
               "own JACK client, no clock master: each note-on vs a straight sixteenth grid fitted through them",
               rate=False),
        Timing(ERROR_RTMIDI, rtmidi["frames"].errors_ms / 1e3, "", rate=False),
    ]
    minutes = float(np.ptp(frames.times_s)) / 60.0 if frames.times_s.size else 0.0
    judged = minutes >= MIN_DRIFT_MINUTES
    section.derived[DRIFT_FRAMES] = frames.drift_ms_per_min if judged else float("nan")
    section.derived[DRIFT_WALL] = wall.drift_ms_per_min if judged else float("nan")
    section.derived["drift, JACK frames, through rtmidi (ms per minute)"] = (
        rtmidi["frames"].drift_ms_per_min if judged else float("nan"))
    if not judged:
        section.derived[DRIFT_SHORT] = f"{frames.drift_ms_per_min:.3g}; {wall.drift_ms_per_min:.3g}"
        section.reasons[DRIFT_FRAMES] = (f"not judged: the notes span {minutes:.1f} min (drift is judged over at least "
                                         f"{MIN_DRIFT_MINUTES:g} min; the full run's 10)")
    section.derived["drift slope standard error, ms per minute (JACK frames; perf_counter)"] = (
        f"{frames.drift_se_ms_per_min:.3g}; {wall.drift_se_ms_per_min:.3g}")
    section.derived["median error, second half minus first half, ms (JACK frames; perf_counter)"] = (
        f"{frames.drift_halves_ms:.3g}; {wall.drift_halves_ms:.3g}")
    section.derived["note-ons timed (JACK frames / perf_counter / rtmidi path)"] = (
        f"{frames.errors_ms.size} / {wall.errors_ms.size} / {rtmidi['frames'].errors_ms.size}")
    section.derived["span of the timed notes, minutes"] = minutes
    section.derived["note-ons off the model's grid (nearest pulse not a step)"] = frames.off_grid
    section.derived["jack_midi_clock: nominal / measured bpm (in JACK frames; in perf_counter time)"] = (
        f"{BPM:g} / {frames.measured_bpm:.3f}; {wall.measured_bpm:.3f}")
    section.derived["jack_midi_clock: largest pulse distance from a straight line, ms (JACK frames; perf_counter)"] = (
        f"{frames.pulse_residual_ms:.3f}; {wall.pulse_residual_ms:.3f}")
    counts = result["daemon_counts"]
    section.derived["late note-ons dropped by the daemon / bars made"] = (
        f"{counts.get('late_dropped', 0)} / {counts.get('bars', '?')}")
    section.notes.append(result["model"])
    section.notes.append(f"{BPM:g} bpm, {BEATS_PER_BAR}/4, clock ran {run_s:g} s for each backend; grid step "
                         f"{result['step_pulses']} pulses; the first {WARMUP_BARS} bars left out; drift 'none' means "
                         f"|slope| <= {NO_DRIFT_MS_PER_MIN:g} ms per minute")
    section.notes.append("--midi-api jack (the rows without 'rtmidi'): Antiphon's own JACK client stamps each pulse "
                         "with its frame and writes each note at its frame; --midi-api jack-rtmidi: python-rtmidi "
                         "stamps pulses on arrival in Python and writes every note at frame 0 of the next period")
    section.reasons[JITTER_FRAMES] = (
        f"the dummy driver's clock is irregular here (in perf_counter time its pulses stray up to "
        f"{wall.pulse_residual_ms:.0f} ms from a straight line, at {wall.measured_bpm:.1f} of {BPM:g} bpm)")
    if judged:
        section.reasons[DRIFT_FRAMES] = (f"the error creeps by {frames.drift_ms_per_min:.2g} +- "
                                         f"{frames.drift_se_ms_per_min:.2g} ms per minute: see the halves and the "
                                         "measured tempo")
    section.data = {"frames": {"times_s": np.round(frames.times_s, 4), "errors_ms": np.round(frames.errors_ms, 4)},
                    "wall": {"times_s": np.round(wall.times_s, 4), "errors_ms": np.round(wall.errors_ms, 4)},
                    "rtmidi_frames": {"times_s": np.round(rtmidi["frames"].times_s, 4),
                                      "errors_ms": np.round(rtmidi["frames"].errors_ms, 4)}}
    return section
