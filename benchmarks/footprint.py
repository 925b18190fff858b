"""Footprint of the daemon: start-up time, resident memory, CPU use idle and while playing; torch never loaded.

The daemon is started as the user starts it, ``python -m daemon run --midi-api jack`` (a
subprocess, on a JACK dummy-driver server: :mod:`benchmarks.jack_rig`), on a ``respond`` preset
with the LSTM (and the GAN named under ``[accompany]``, loaded only when the mode needs it).

Start-up, :data:`STARTS_FULL` times (``--quick``: :data:`STARTS_QUICK`): from just before the
process is spawned to

* the "ready" line on its stderr (logged once the ports, the engine, the scheduler and the OSC
  server are all up), and
* the first reply to ``/antiphon/status``, sent over UDP every :data:`PROBE_INTERVAL_S` from
  the moment of spawning (the OSC port answering).

Then, on the last start, three phases of :data:`WINDOW_S_FULL` seconds each (``--quick``:
:data:`WINDOW_S_QUICK`), sampling once a second the resident memory (``VmRSS`` in
``/proc/PID/status``) and the CPU used (``utime + stime`` from ``/proc/PID/stat``, as a
percentage of one core over that second):

1. *idle*: respond mode, the internal clock running, nothing played;
2. *answering*: a peer plays a four-note phrase every other bar and the LSTM answers each;
3. *accompanying + answering*: ``/antiphon/set/mode both`` (the GAN loads) and the same phrases.

"torch never imported" is read from ``/proc/PID/maps`` at every sample: no mapped file of a
torch installation (``libtorch*``, ``.../torch/...``). ``onnxruntime`` must be mapped: that is
the check's positive control.

Memory is reported as ``VmRSS`` (what the README's target is about) and split into the daemon's
own (``RssAnon + RssFile``) and shared memory (``RssShmem``): on JACK, libjack maps and locks
the server's ``/dev/shm/jack-*`` segment (about 100 MB with the dummy driver's defaults) into
every client, and it counts in each client's ``VmRSS``. A fresh interpreter's memory after each
thing the daemon loads (numpy, the MIDI and OSC libraries, onnxruntime, the daemon's modules,
the LSTM session) is measured too, to show where the daemon's own memory goes.

MB here are 10^6 bytes. CPU % is of one core (100 % = one core busy).

This module must not import torch.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import Quantity, Section
from benchmarks.jack_rig import REPO_ROOT, Daemon, Peer, RigError, note_off, note_on
from benchmarks.jack_server import jack_for
from benchmarks.models import accompany_threshold, gan_model, lstm_model
from daemon.errors import AntiphonError

log = logging.getLogger(__name__)

NAME = "footprint"
TITLE = "Daemon footprint: start-up, resident memory, CPU (python -m daemon run --midi-api jack)"
STARTS_FULL, STARTS_QUICK = 10, 3
WINDOW_S_FULL, WINDOW_S_QUICK = 10.0, 5.0
SAMPLE_S = 1.0  # one memory and CPU sample per second
PROBE_INTERVAL_S = 0.005  # /antiphon/status is sent this often until the daemon answers
PROBE_TIMEOUT_S = 45.0
BPM = 120.0
BEATS_PER_BAR = 4
PHRASE = (60, 64, 67, 72)  # four eighth notes from the bar line, then silence
PHRASE_NOTE_S = 60.0 / BPM / 2
CLK_TCK = os.sysconf("SC_CLK_TCK")  # /proc/PID/stat time unit, ticks per second
BYTES_PER_KB = 1024  # /proc's "kB" are KiB
TORCH_MARKERS = ("libtorch", "/torch/", "libc10")
ORT_MARKER = "onnxruntime"

READY = "spawn -> 'ready' logged"
OSC_OPEN = "spawn -> OSC /antiphon/status answered"
RSS_READY = "resident memory (VmRSS) just after ready"
RSS_ALL = "resident memory (VmRSS), all phases"
RSS_OWN = "own resident memory (RssAnon + RssFile), all phases"
RSS_SHMEM = "shared memory in it (RssShmem: JACK's /dev/shm segment), all phases"
PHASES = ("idle", "answering", "accompanying + answering")

PRESET = """
description = "footprint benchmark"
mode = "respond"
[model]
file = "{lstm}"
{accompany}
[sampling]
temperature = 0.9
[midi]
channel = 2
channel_in = 1
prompt = "top"
ignore_output_channels = true
[respond]
answer_bars = 1
phrase_end_beats = 0.5
phrase_end = "silence"
start = "beat"
[clock]
bpm = {bpm}
numerator = {beats}
denominator = 4
"""


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--footprint-starts", type=int,
                       help=f"daemon start-ups to time (default {STARTS_FULL}, --quick {STARTS_QUICK})")
    group.add_argument("--footprint-window-s", type=float,
                       help=f"seconds of each phase (default {WINDOW_S_FULL:g}, --quick {WINDOW_S_QUICK:g})")


@dataclass
class ProcSample:
    """One look at /proc/PID: resident memory (MB: all of it; its own, ``RssAnon + RssFile``; shared memory,
    ``RssShmem``), CPU seconds used so far, threads, whether torch and onnxruntime are mapped."""

    at_s: float
    rss_mb: float
    own_mb: float
    shmem_mb: float
    hwm_mb: float
    cpu_s: float
    threads: int
    torch_mapped: bool
    ort_mapped: bool


def read_proc(pid: int) -> ProcSample:
    """Memory, CPU time and mapped files of process ``pid`` (Linux ``/proc``).

    Raises:
        AntiphonError: no /proc entry (the process ended, or not Linux).
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError as exc:
        raise AntiphonError(f"cannot read /proc/{pid} (the daemon ended, or this is not Linux): {exc}") from exc
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)

    def kb(name: str) -> float:
        return float(fields[name].split()[0]) * BYTES_PER_KB / 1e6

    # /proc/PID/stat: "pid (comm) state ..."; utime and stime are fields 14 and 15 (1-based)
    after_comm = stat.rsplit(")", 1)[1].split()
    utime, stime = int(after_comm[11]), int(after_comm[12])
    return ProcSample(time.perf_counter(), kb("VmRSS"), kb("RssAnon") + kb("RssFile"), kb("RssShmem"), kb("VmHWM"),
                      (utime + stime) / CLK_TCK,
                      int(fields["Threads"]), any(m in maps for m in TORCH_MARKERS), ORT_MARKER in maps)


@dataclass
class Phase:
    """Samples of one phase: memory (MB: VmRSS, own, shared) at each sample, CPU % of one core between samples."""

    name: str
    rss_mb: list[float] = field(default_factory=list)
    own_mb: list[float] = field(default_factory=list)
    shmem_mb: list[float] = field(default_factory=list)
    cpu_percent: list[float] = field(default_factory=list)


class _Probe:
    """Sends ``/antiphon/status`` every :data:`PROBE_INTERVAL_S` until the daemon's first OSC reply."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.answered_s: float | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        replies = self.daemon.replies
        assert replies is not None
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        while time.monotonic() < deadline and self.daemon.proc.poll() is None:
            try:
                self.daemon.osc("/antiphon/status")
            except OSError:
                pass  # the daemon's socket is not bound yet; UDP may say so
            time.sleep(PROBE_INTERVAL_S)
            stamped = replies.stamped_since(0)
            if stamped:
                self.answered_s = stamped[0][0]
                return

    def join(self) -> float | None:
        """When the first reply arrived (perf_counter seconds), or None."""
        self._thread.join(PROBE_TIMEOUT_S + 1.0)
        return self.answered_s


def _start(folder: Path) -> tuple[Daemon, float, float | None]:
    """Start one daemon; (daemon, seconds to 'ready', seconds to the first OSC reply)."""
    daemon = Daemon("--preset", "footprint", "--seed", "1", env={"ANTIPHON_PRESETS_DIR": str(folder)})
    probe = _Probe(daemon)
    daemon.wait_for("ready: ")
    ready = daemon.stamp_of("ready: ")
    answered = probe.join()
    assert ready is not None
    return daemon, ready - daemon.started_s, None if answered is None else answered - daemon.started_s


def _play_phrases(peer: Peer, stop: threading.Event) -> None:
    """Play :data:`PHRASE` from every other bar line (by this process's clock) until ``stop``."""
    bar_s = BEATS_PER_BAR * 60.0 / BPM
    while not stop.is_set():
        for pitch in PHRASE:
            peer.send(note_on(pitch, 0, 90))
            if stop.wait(PHRASE_NOTE_S * 0.9):
                peer.send(note_off(pitch, 0))
                return
            peer.send(note_off(pitch, 0))
            stop.wait(PHRASE_NOTE_S * 0.1)
        stop.wait(2 * bar_s - len(PHRASE) * PHRASE_NOTE_S)


def _sample_phase(pid: int, name: str, window_s: float, seen: dict[str, Any]) -> Phase:
    """Sample ``pid`` once a second for ``window_s`` seconds."""
    phase = Phase(name)
    previous = read_proc(pid)
    deadline = previous.at_s + window_s
    while True:
        time.sleep(max(0.0, min(SAMPLE_S, deadline - time.perf_counter())))
        sample = read_proc(pid)
        phase.rss_mb.append(sample.rss_mb)
        phase.own_mb.append(sample.own_mb)
        phase.shmem_mb.append(sample.shmem_mb)
        phase.cpu_percent.append(100.0 * (sample.cpu_s - previous.cpu_s) / (sample.at_s - previous.at_s))
        _remember(seen, sample)
        previous = sample
        if sample.at_s >= deadline - 1e-3:
            return phase


def _remember(seen: dict[str, Any], sample: ProcSample) -> None:
    seen["torch_mapped"] = seen.get("torch_mapped", False) or sample.torch_mapped
    seen["ort_mapped"] = seen.get("ort_mapped", False) or sample.ort_mapped
    seen["hwm_mb"] = max(seen.get("hwm_mb", 0.0), sample.hwm_mb)
    seen["threads"] = max(seen.get("threads", 0), sample.threads)
    seen["samples"] = seen.get("samples", 0) + 1


def measure(starts: int, window_s: float, lstm: Path | None = None, gan: Path | None = None,
            jack_running: bool = False) -> dict[str, Any]:
    """Start the daemon ``starts`` times, then sample the last one through the three phases.

    Returns:
        ``ready_s``, ``osc_s`` (per start), ``rss_ready_mb`` (per start), ``phases``
        (name -> :class:`Phase`), ``torch_mapped``, ``ort_mapped``, ``hwm_mb``, ``threads``,
        ``models`` (notes), ``daemon_counts``, ``lstm_path``.

    Raises:
        AntiphonError: JACK or a model is not available, or the daemon did not start.
    """
    lstm_path, lstm_note = lstm_model(lstm)
    notes = [lstm_note]
    try:
        gan_path, gan_note = gan_model(gan)
        notes.append(gan_note)
    except AntiphonError as exc:
        gan_path = None
        notes.append(f"no GAN ({exc}): the third phase is left out")
    accompany = ""
    if gan_path is not None:
        threshold, threshold_note = accompany_threshold(gan_path)
        notes[-1] += f"; {threshold_note}"
        accompany = f'[accompany]\nmodel = "{gan_path}"\nchannels = [10, 3, 4]\nthreshold = {threshold}\n'

    ready_s: list[float] = []
    osc_s: list[float] = []
    rss_ready: list[float] = []
    own_ready: list[float] = []
    shmem_ready: list[float] = []
    seen: dict[str, Any] = {}
    phases: dict[str, Phase] = {}
    counts: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="antiphon-footprint-") as tmp:
        workdir = Path(tmp)
        folder = workdir / "presets"
        folder.mkdir()
        (folder / "footprint.toml").write_text(PRESET.format(lstm=lstm_path, accompany=accompany, bpm=BPM,
                                                             beats=BEATS_PER_BAR))
        with jack_for(jack_running, workdir / "jackd.log"):
            for index in range(starts):
                daemon, ready, answered = _start(folder)
                try:
                    sample = read_proc(daemon.proc.pid)
                    _remember(seen, sample)
                    ready_s.append(ready)
                    if answered is not None:
                        osc_s.append(answered)
                    rss_ready.append(sample.rss_mb)
                    own_ready.append(sample.own_mb)
                    shmem_ready.append(sample.shmem_mb)
                    if index == starts - 1:
                        phases, counts = _phases(daemon, window_s, seen, gan_path is not None)
                except RigError as exc:
                    raise AntiphonError(f"footprint benchmark: {exc}") from exc
                finally:
                    daemon.stop()
    return {"ready_s": ready_s, "osc_s": osc_s, "rss_ready_mb": rss_ready, "own_ready_mb": own_ready,
            "shmem_ready_mb": shmem_ready, "phases": phases, **seen,
            "models": notes, "daemon_counts": counts, "lstm_path": lstm_path}


def _phases(daemon: Daemon, window_s: float, seen: dict[str, Any], with_gan: bool) -> tuple[dict[str, Phase],
                                                                                             dict[str, Any]]:
    pid = daemon.proc.pid
    phases = {"idle": _sample_phase(pid, "idle", window_s, seen)}
    peer = Peer()
    stop = threading.Event()
    player = threading.Thread(target=_play_phrases, args=(peer, stop), daemon=True)
    try:
        peer.wire(daemon)
        player.start()
        phases["answering"] = _sample_phase(pid, "answering", window_s, seen)
        if with_gan:
            daemon.osc("/antiphon/set/mode", "both")
            phases["accompanying + answering"] = _sample_phase(pid, "accompanying + answering", window_s, seen)
        counts = daemon.status()
    finally:
        stop.set()
        player.join(5.0)
        peer.close()
    return phases, {k: v for k, v in counts.items() if k not in ("clock", "preset", "clock_received_s",
                                                                 "status_sent_s")}


# Run in a fresh interpreter: import what ``antiphon run`` imports (its command line, the app, the
# engine), stopping short of running, and print the chain of repository files through which torch
# was first imported (nothing if it was not).
_WHO_IMPORTS_TORCH = r"""
import builtins, sys, traceback
root = sys.argv[1]
original = builtins.__import__
def hook(name, *args, **kwargs):
    if (name == "torch" or name.startswith("torch.")) and "torch" not in sys.modules:
        builtins.__import__ = original
        frames = [f"{f.filename[len(root) + 1:]}:{f.lineno}" for f in traceback.extract_stack()[:-1]
                  if f.filename.startswith(root)]
        print(" <- ".join(reversed(frames)))
    return original(name, *args, **kwargs)
builtins.__import__ = hook
import daemon.live.app, daemon.live.engine
daemon.live.app.main = lambda args: 0  # everything `antiphon run` imports, up to running
from daemon.cli import main
main(["run"])
"""


def who_imports_torch() -> str:
    """The chain of repository files (``file:line <- ...``) through which starting the daemon first
    imports torch; "" if it does not."""
    done = subprocess.run([sys.executable, "-c", _WHO_IMPORTS_TORCH, str(REPO_ROOT)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    return done.stdout.strip()


# Run in a fresh interpreter: resident memory (MB) after each step of what the daemon loads.
_IMPORT_STEPS = r"""
import sys
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) * 1024 / 1e6
steps = [("python", rss())]
import numpy
steps.append(("+ numpy", rss()))
import mido, rtmidi, pythonosc.osc_server
steps.append(("+ mido, rtmidi, python-osc", rss()))
import onnxruntime
steps.append(("+ onnxruntime", rss()))
import daemon.live.app, daemon.live.engine
steps.append(("+ the daemon's modules", rss()))
from daemon.models import load_model
load_model(sys.argv[1], intra_op_num_threads=1, inter_op_num_threads=1)
steps.append(("+ the LSTM session", rss()))
print("; ".join(f"{name} {mb:.0f}" for name, mb in steps))
"""


def import_footprint(model: Path) -> str:
    """Resident memory (MB) of a fresh interpreter after each thing the daemon loads, as one line."""
    done = subprocess.run([sys.executable, "-c", _IMPORT_STEPS, str(model)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    return done.stdout.strip() or f"(could not measure: {done.stderr.strip()[-200:]})"


def run(args: argparse.Namespace, quick: bool) -> Section:
    """The benchmark section (see the module docstring)."""
    starts = getattr(args, "footprint_starts", None) or (STARTS_QUICK if quick else STARTS_FULL)
    window_s = getattr(args, "footprint_window_s", None) or (WINDOW_S_QUICK if quick else WINDOW_S_FULL)
    result = measure(starts, window_s, getattr(args, "lstm_model", None), getattr(args, "gan_model", None),
                     bool(getattr(args, "jack_running", False)))
    section = Section(NAME, TITLE)
    section.quantities = [
        Quantity(READY, np.array(result["ready_s"]), "s", "ports, engine, scheduler and OSC all up"),
        Quantity(OSC_OPEN, np.array(result["osc_s"]), "s", f"probed every {PROBE_INTERVAL_S * 1e3:g} ms"),
        Quantity(RSS_READY, np.array(result["rss_ready_mb"]), "MB"),
    ]
    phases: dict[str, Phase] = result["phases"]
    for name, phase in phases.items():
        section.quantities.append(Quantity(f"resident memory (VmRSS), {name}", np.array(phase.rss_mb), "MB"))
    all_rss = np.array([*result["rss_ready_mb"], *(x for p in phases.values() for x in p.rss_mb)])
    all_own = np.array([*result["own_ready_mb"], *(x for p in phases.values() for x in p.own_mb)])
    all_shmem = np.array([*result["shmem_ready_mb"], *(x for p in phases.values() for x in p.shmem_mb)])
    section.quantities.append(Quantity(RSS_ALL, all_rss, "MB"))
    section.quantities.append(Quantity(RSS_OWN, all_own, "MB", "RssAnon + RssFile: memory that is the daemon's"))
    section.quantities.append(Quantity(RSS_SHMEM, all_shmem, "MB", "RssShmem: JACK's shared segment, shared with "
                                                                    "jackd and every other JACK client"))
    for name, phase in phases.items():
        section.quantities.append(Quantity(f"CPU, {name} (% of one core, per second)", np.array(phase.cpu_percent),
                                           "%"))
    section.derived["torch never imported"] = not result.get("torch_mapped", True)
    section.derived["onnxruntime mapped (the torch check's positive control)"] = bool(result.get("ort_mapped"))
    section.derived["looks at /proc/PID/maps"] = result.get("samples", 0)
    section.derived["peak resident memory (VmHWM), MB"] = float(result.get("hwm_mb", float("nan")))
    section.derived["threads (most seen)"] = result.get("threads", 0)
    counts = result["daemon_counts"]
    section.derived["while sampled: phrases answered / accompaniment bars / late note-ons dropped"] = (
        f"{counts.get('phrases', '?')} / {counts.get('bars', '?')} / {counts.get('late_dropped', '?')}")
    section.notes += result["models"]
    section.notes.append(f"{starts} start-ups; phases of {window_s:g} s each on the last one; MB = 10^6 bytes; "
                         f"CPU % of one core, in steps of one clock tick per {SAMPLE_S:g} s sample "
                         f"({100 / (CLK_TCK * SAMPLE_S):g} %)")
    steps = import_footprint(result["lstm_path"])
    section.derived["resident memory of a fresh interpreter, step by step, MB"] = steps
    section.reasons[READY] = ("a cold interpreter importing numpy, mido and onnxruntime and loading the model "
                              "waits for a CPU on a busy 2-core machine")
    if result.get("torch_mapped", False):
        chain = who_imports_torch()
        where = f" (first imported: {chain})" if chain else ""
        section.derived["torch imported through"] = chain or "not found by the import probe (imported later?)"
        section.reasons["torch never imported"] = f"torch is mapped into the daemon's process{where}"
        section.reasons[RSS_ALL] = section.reasons[READY] = (
            f"torch is loaded into the daemon{where}: its libraries are most of this")
    else:
        shared = float(np.median(all_shmem))
        section.reasons[RSS_ALL] = (
            f"{shared:.0f} MB of it is JACK's /dev/shm segment (RssShmem), mapped and locked into every JACK "
            f"client; the daemon's own (RssAnon + RssFile) is at most {all_own.max():.0f} MB"
            if shared > 0.2 * float(np.median(all_rss)) else
            f"a fresh interpreter already holds this much (MB) after loading what the daemon loads: {steps}")
    section.data = {"ready_s": result["ready_s"], "osc_s": result["osc_s"], "rss_ready_mb": result["rss_ready_mb"],
                    "phases": {n: {"rss_mb": p.rss_mb, "own_mb": p.own_mb, "shmem_mb": p.shmem_mb,
                                   "cpu_percent": p.cpu_percent} for n, p in phases.items()}}
    return section
