"""A band that lasts: the bundled groove band plays for 10 minutes under a player's chords.

Everything is real (:mod:`benchmarks.jack_rig`): a JACK server (dummy driver, 48 kHz, 256-frame
periods), ``jack_midi_clock`` as the DAW's clock at :data:`BPM`, the daemon as a subprocess on the
bundled ``grooves`` preset (drums, bass and chords on channels 10, 2 and 3), and a player stand-in
on a second JACK client that hears the clock too and, on each bar line (every 96th pulse), strikes
the next chord of :data:`PROGRESSION` and holds it for most of the bar; every :data:`REST_EVERY`
bars the player rests a bar, and the band plays on alone.

Measured on the monitor's messages:

* each minute, the notes of each track: every track must play in every minute;
* **harmony**: the share of the bass and chord notes whose pitch class is in the player's chord
  of their bar (by onset; bars the player rests are left out), and the same share of note time
  (what a listener hears: a note the band cuts short when it follows a chord change counts for
  the milliseconds it sounded);
* notes left sounding at the end (none), and the daemon's late drops, errors and re-voiced bars.

Length: :data:`RUN_S_FULL` (10 minutes) or ``--quick`` :data:`RUN_S_QUICK`; ``--band-s`` sets it.
This module must not import torch.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import mido
import numpy as np

import presets
from benchmarks import Section
from benchmarks.jack_rig import (
    TEST_JACK_PERIOD_FRAMES,
    Daemon,
    Peer,
    RigError,
    jack_connect,
    note_off,
    note_on,
)
from benchmarks.jack_server import jack_server
from benchmarks.midi_clock import MidiClockMaster
from benchmarks.soak import stuck_notes
from daemon.errors import AntiphonError
from daemon.music.harmony import Chord, parse_progression

log = logging.getLogger(__name__)

NAME = "band"
TITLE = "A band that lasts: the groove band under a player's chords, minute by minute"
BPM = 120.0
PULSES_PER_BAR = 96  # 24 ppqn, 4/4
RUN_S_FULL = 600.0  # the 10 minutes
TAIL_S = 5.0  # a last minute this short is the end of the one before
RUN_S_QUICK = 60.0
PROGRESSION = parse_progression("C F Dm G Am Em F G7 C A7 Dm Bb")  # not the renders' C Am F G7 cycle
REST_EVERY = 16  # the player rests one bar in this many
HOLD_SHARE = 0.92  # of a bar
CHANNELS = {"drums": 9, "bass": 1, "chords": 2}
PRESET = """
description = "band benchmark"
mode = "accompany"
[model]
file = "{gan}"
[accompany]
channels = [10, 2, 3]
threshold = 0.5
[midi]
channel = 1
channel_in = 0
ignore_output_channels = true
[clock]
bpm = {bpm}
"""


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--band-s", type=float,
                       help=f"seconds the band plays (default {RUN_S_FULL:g}, --quick {RUN_S_QUICK:g})")


def voicing(chord: Chord) -> list[int]:
    """The player's voicing: the chord's notes from its root above middle C's octave, and the root below."""
    root = 48 + chord.root
    return [root - 12] + sorted(60 + (p - 60) % 12 for p in chord.pitch_classes)


def harmony_of(timed: list[tuple[float, mido.Message]], bars: list[tuple[float, float, Chord | None]],
               channels: tuple[int, ...]) -> dict[str, float]:
    """Note-in-chord of the band's notes on ``channels`` against the chord of their bar, by onset
    and by sounding time. ``bars``: (start s, end s, chord or None when the player rests)."""
    starts = np.array([b[0] for b in bars])
    open_notes: dict[tuple[int, int], float] = {}
    hits = total = 0
    time_in = time_all = 0.0

    def bar_of(t: float) -> int:
        return int(np.searchsorted(starts, t + 0.002, side="right")) - 1  # a note a hair early is in its bar

    for stamp, msg in timed:
        if msg.type not in ("note_on", "note_off") or msg.channel not in channels:
            continue
        key = (msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes[key] = stamp
            b = bar_of(stamp)
            if 0 <= b < len(bars) and bars[b][2] is not None:
                total += 1
                hits += int(msg.note % 12 in bars[b][2].pitch_classes)  # type: ignore[union-attr]
        elif key in open_notes:
            on = open_notes.pop(key)
            for b in range(max(0, bar_of(on)), min(len(bars), bar_of(stamp) + 1)):
                start, end, chord = bars[b]
                overlap = max(0.0, min(end, stamp) - max(start, on))
                if chord is None or overlap <= 0:
                    continue
                time_all += overlap
                time_in += overlap * (msg.note % 12 in chord.pitch_classes)
    return {"notes": hits / total if total else float("nan"), "time": time_in / time_all if time_all else float("nan"),
            "counted": total}


def _play(daemon: Daemon, run_s: float) -> tuple[list[tuple[float, float, Chord | None]], dict[str, Any],
                                                list[tuple[float, mido.Message]]]:
    """The player strikes the progression on the bar lines for ``run_s``; returns (bars, the daemon's
    counts, what the monitor heard). Raises RigError."""
    peer: Peer | None = None
    master: MidiClockMaster | None = None
    bars: list[tuple[float, float, Chord | None]] = []
    bar_s = 4 * 60.0 / BPM
    try:
        daemon.wait_for("ready")
        peer = Peer()
        peer.wire(daemon)
        master = MidiClockMaster(BPM)
        jack_connect(master.port, daemon.port("Antiphon In"))
        jack_connect(master.port, peer.monitor_port)  # the player hears the clock to find the bar lines
        master.transport("locate 0")
        master.transport("play")
        daemon.wait_for("MIDI clock tempo", timeout_s=15.0)
        first_bar = len(peer.pulses) // PULSES_PER_BAR + 2
        for b in range(int(run_s / bar_s)):
            line = peer.wait_pulse((first_bar + b) * PULSES_PER_BAR, timeout_s=30.0)
            chord = None if b % REST_EVERY == REST_EVERY - 1 else PROGRESSION[b % len(PROGRESSION)]
            if bars:
                bars[-1] = (bars[-1][0], line, bars[-1][2])
            bars.append((line, line + bar_s, chord))
            if chord is not None:
                pitches = voicing(chord)
                for p in pitches:
                    peer.send(note_on(p, 0, 90))
                threading.Timer(HOLD_SHARE * bar_s, lambda ps=pitches: [peer.send(note_off(p, 0)) for p in ps]).start()
        time.sleep(bar_s)
        counts = daemon.status()
        master.close()
        master = None
        time.sleep(1.5)
        return bars, counts, peer.timed()
    finally:
        if master is not None:
            master.proc.kill()
        if peer is not None:
            peer.close()


def measure(run_s: float) -> dict[str, Any]:
    """Play the set; return the minutes' note counts, the harmony figures and the daemon's counts.

    Raises:
        AntiphonError: JACK or its tools are missing, or the bundled groove model is not there.
    """
    gan = presets.PRESETS_DIR / "gan-grooves.onnx"
    if not gan.is_file():
        raise AntiphonError("band benchmark: the bundled gan-grooves.onnx is needed")
    with tempfile.TemporaryDirectory(prefix="antiphon-band-") as tmp:
        workdir = Path(tmp)
        folder = workdir / "presets"
        folder.mkdir()
        (folder / "band.toml").write_text(PRESET.format(gan=gan, bpm=BPM))
        with jack_server(workdir / "jackd.log", prefix="antiphon-band", period_frames=TEST_JACK_PERIOD_FRAMES):
            daemon = Daemon("--preset", "band", "--seed", "11", env={"ANTIPHON_PRESETS_DIR": str(folder)})
            try:
                bars, counts, timed = _play(daemon, run_s)
            except RigError as exc:
                raise AntiphonError(f"band benchmark: {exc}") from exc
            finally:
                daemon.stop()
        lines = daemon.lines
    begin = bars[0][0]
    # whole minutes; the last bar's tail past them (the clock's few ms over 10 minutes) counts in the last
    minutes = max(1, int(np.ceil((bars[-1][1] - begin) / 60.0 - TAIL_S / 60.0)))
    per_minute = {name: [0] * minutes for name in CHANNELS}
    for stamp, msg in timed:
        if msg.type == "note_on" and msg.velocity > 0 and stamp >= begin:
            for name, channel in CHANNELS.items():
                if msg.channel == channel:
                    per_minute[name][min(minutes - 1, int((stamp - begin) // 60.0))] += 1
    return {"per_minute": per_minute, "run_s": run_s, "bars": len(bars),
            "harmony": harmony_of(timed, bars, (CHANNELS["bass"], CHANNELS["chords"])),
            "harmony_bass": harmony_of(timed, bars, (CHANNELS["bass"],)),
            "harmony_chords": harmony_of(timed, bars, (CHANNELS["chords"],)),
            "stuck": stuck_notes([(t, m) for t, m in timed if m.type in ("note_on", "note_off")]),
            "counts": counts, "errors": [line for line in lines if " ERROR " in line or "Traceback" in line]}


def run(args: argparse.Namespace, quick: bool) -> Section:
    """The benchmark section (see the module docstring)."""
    run_s = getattr(args, "band_s", None) or (RUN_S_QUICK if quick else RUN_S_FULL)
    result = measure(run_s)
    section = Section(NAME, TITLE)
    per_minute = result["per_minute"]
    section.derived["minutes in which every track plays / minutes"] = (
        f"{sum(all(per_minute[t][m] > 0 for t in per_minute) for m in range(len(per_minute['drums'])))} / "
        f"{len(per_minute['drums'])}")
    for name, counts in per_minute.items():
        section.derived[f"{name} notes per minute (fewest, most)"] = f"{min(counts)}, {max(counts)}"
    h = result["harmony"]
    section.derived["harmony: bass and chord notes in the player's chord (by onset)"] = round(h["notes"], 3)
    section.derived["harmony: bass and chord note time in the player's chord"] = round(h["time"], 3)
    section.derived["harmony by onset: bass; chords"] = (f"{result['harmony_bass']['notes']:.3f}; "
                                                         f"{result['harmony_chords']['notes']:.3f}")
    section.derived["notes judged for harmony"] = h["counted"]
    counts = result["counts"]
    section.derived["bars made, re-voiced after a chord change"] = f"{counts.get('bars', 0)}, {counts.get('revoiced', 0)}"
    section.derived["stuck notes at the end"] = result["stuck"]
    section.derived["late note-ons dropped by the daemon"] = counts.get("late_dropped", 0)
    section.derived["errors logged"] = len(result["errors"])
    section.notes.append(f"{run_s / 60:g} minutes ({result['bars']} bars) at {BPM:g} BPM under jack_midi_clock; the "
                         f"bundled gan-grooves; the player strikes {' '.join(c.name for c in PROGRESSION)} on the bar "
                         f"lines, one chord a bar, and rests one bar in {REST_EVERY}")
    if result["errors"]:
        section.notes.append("first error lines: " + " | ".join(result["errors"][:3]))
    section.data = {"per_minute": per_minute}
    return section
