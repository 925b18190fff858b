"""A set on stage: 30 minutes of phrases, the band, knob turns, preset switches and a JACK restart.

Everything is real (:mod:`benchmarks.jack_rig`): a JACK server (dummy driver, 48 kHz, 256-frame
periods, synchronous), ``jack_midi_clock`` as the DAW's clock at :data:`BPM`, the daemon as a
subprocess in ``both`` mode (the bundled folk LSTM answers, the bundled groove GAN plays along),
OSC over UDP, and a player stand-in on a second JACK client (in a process of its own, as a DAW is:
:mod:`benchmarks.peer_process`) that plays, one after another:

* phrases of 4-8 notes, melodic (one note at a time, some legato with overlaps) or chordal
  (triads), in a key that changes now and then;
* with the stream's faults mixed in: a zero-length note (its note-off just before its note-on),
  a phrase whose last note-off never comes, note-offs for notes never played;
* between phrases an OSC change of ``temperature``, ``density`` or ``key``, and every few
  phrases a switch between two presets;
* half way through, the JACK server is stopped and started again (same name): the player, the
  synth and the clock come back as a DAW would, and the daemon must find its ports again. The
  daemon plays into the synth by name (``--out``), so it connects to it itself when it is back,
  and must first close there the notes that were sounding when the server stopped.

A phrase is *answered* when a note-on comes on the answer channel after the phrase's last
message and before the next phrase begins. At the end the clock stops (MIDI Stop), and every
note-on the daemon sent must have had its note-off: *stuck notes* counts the keys still down on
the monitor. Also reported: late note-ons the daemon dropped, its errors and warnings, and its
anonymous resident memory (RssAnon) at the start and at the end.

Length: :data:`RUN_S_FULL` (30 minutes) or ``--quick`` :data:`RUN_S_QUICK`; ``--soak-s`` sets it.
This module must not import torch.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mido
import numpy as np

import presets
from benchmarks import Section
from benchmarks.jack_rig import (
    TEST_JACK_PERIOD_FRAMES,
    Daemon,
    RigError,
    jack_connect,
    note_off,
    note_on,
)
from benchmarks.jack_server import JackServer
from benchmarks.midi_clock import MidiClockMaster
from benchmarks.peer_process import PeerProcess
from daemon.errors import AntiphonError
from daemon.live.scheduler import ALL_NOTES_OFF

log = logging.getLogger(__name__)

NAME = "soak"
TITLE = "A set: phrases with stream faults, the band, OSC changes, preset switches and a JACK restart"
BPM = 120.0
BEAT_S = 60.0 / BPM
RUN_S_FULL = 1800.0  # the 30-minute set
RUN_S_QUICK = 100.0
ANSWER_CHANNEL = 1  # 0-15: channel 2
HOLD_LIMIT_BEATS = 4.0  # a dropped note-off costs one bar
ANSWER_BARS = 1
RECONNECT_TIMEOUT_S = 30.0
DRAIN_S = 1.5  # after the clock's Stop: what is still in flight arrives
SCALE = (0, 2, 4, 5, 7, 9, 11)
KEYS = ("C", "G", "D", "F", "A", "Eb")
FAULTS = ("none", "none", "none", "zero-length", "dropped-off", "orphan-offs")

PRESET = """
description = "soak benchmark, {name}"
mode = "both"
[model]
file = "{lstm}"
[accompany]
model = "{gan}"
channels = [10, 3, 4]
[sampling]
key_root = "C"
scale = "major"
pitch_low = 48
pitch_high = 84
temperature = {temperature}
[midi]
channel = 2
channel_in = 1
ignore_output_channels = true
[respond]
answer_bars = {answer_bars}
phrase_end_beats = 1.0
hold_limit_beats = {hold}
[clock]
bpm = {bpm}
"""


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--soak-s", type=float,
                       help=f"seconds the set lasts (default {RUN_S_FULL:g}, --quick {RUN_S_QUICK:g})")


@dataclass
class SetLog:
    """What happened during the set."""

    played: int = 0
    answered: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [played, answered]
    osc_changes: int = 0
    preset_switches: int = 0
    restarts: int = 0
    reconnect_s: list[float] = field(default_factory=list)
    rss_kb: list[tuple[float, int]] = field(default_factory=list)  # (elapsed s, RssAnon kB)

    def count(self, kind: str, answered: bool) -> None:
        self.played += 1
        self.answered += int(answered)
        row = self.by_kind.setdefault(kind, [0, 0])
        row[0] += 1
        row[1] += int(answered)


def make_phrase(rng: np.random.Generator, root: int) -> tuple[str, str, list[tuple[float, mido.Message]]]:
    """A phrase of the player stand-in: (kind, fault, [(offset_s, message)]) on MIDI channel 1."""
    kind = str(rng.choice(["melodic", "melodic", "legato", "chordal"]))
    fault = str(rng.choice(FAULTS))
    events: list[tuple[float, mido.Message]] = []
    t = 0.0
    degree = int(rng.integers(0, 7))
    for _ in range(int(rng.integers(4, 9))):
        length = float(rng.choice([0.5, 0.5, 1.0, 0.25])) * BEAT_S
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, 13))
        pitch = 60 + root + 12 * (degree // 7) + SCALE[degree % 7]
        pitches = [pitch, pitch + 4, pitch + 7] if kind == "chordal" else [pitch]
        release = t + (length * 1.15 if kind == "legato" else length * 0.85)
        for p in pitches:
            events.append((t, note_on(min(p, 96), velocity=int(rng.integers(60, 110)))))
            events.append((release, note_off(min(p, 96))))
        t += length
    events.sort(key=lambda e: (e[0], e[1].type == "note_on"))
    if fault == "zero-length":
        at = events[len(events) // 2][0]
        events += [(at, note_off(72 + root)), (at, note_on(72 + root, velocity=80))]
        events.sort(key=lambda e: (e[0], e[1].type == "note_on"))
    elif fault == "dropped-off":
        last_off = max(i for i, (_, m) in enumerate(events) if m.type == "note_off")
        events.pop(last_off)
    elif fault == "orphan-offs":
        events += [(0.0, note_off(40 + i)) for i in range(4)]
        events.sort(key=lambda e: (e[0], e[1].type == "note_on"))
    return kind, fault, events


class Stage:
    """The daemon with its player, its synth and its clock, which a JACK restart takes away and brings back.

    The synth ("Monitor") is the port the daemon plays into by name (``--out``), as on stage: the
    daemon connects to it itself, also when it comes back after a restart, and what closes the
    notes that were sounding goes to it first.
    """

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.peer: PeerProcess | None = PeerProcess(self.tag)
        self.master: MidiClockMaster | None = None
        self.heard: list[tuple[float, mido.Message]] = []  # the monitor's messages, across restarts
        self.restart_at = 0  # len(heard) when the server stopped

    @property
    def out_name(self) -> str:
        """The synth's port as ``--out`` names it."""
        return f"Monitor{self.tag} In"

    def comes_back(self) -> None:
        """After a restart: the player's and the synth's clients are there again, under their names."""
        self.peer = PeerProcess(self.tag)

    def connect(self, daemon: Daemon) -> None:
        """Player and clock on: Keys and the clock -> Antiphon In (the daemon connects to the synth); transport rolls."""
        assert self.peer is not None
        jack_connect(self.peer.keys_port, daemon.port("Antiphon In"))
        self.master = MidiClockMaster(BPM)
        jack_connect(self.master.port, daemon.port("Antiphon In"))
        self.master.transport("locate 0")
        self.master.transport("play")

    def lose(self) -> None:
        """The server went away: keep what the monitor heard, let go of the dead clients (their
        process may have died with the server; what it heard before is kept)."""
        if self.peer is not None:
            code = self.peer.close()
            if code:
                log.info("the player's process ended with %s after the server stopped", code)
            self.heard += self.peer.timed()
            self.restart_at = len(self.heard)
        if self.master is not None:
            self.master.proc.kill()
            self.master.proc.wait()
        self.peer = self.master = None

    def finish(self) -> None:
        """MIDI Stop, then let what is in flight arrive."""
        if self.master is not None:
            try:
                self.master.close()
            except (RigError, OSError) as exc:
                log.warning("stopping the clock: %s", exc)
        time.sleep(DRAIN_S)
        if self.peer is not None:
            self.peer.close()
            self.heard += self.peer.timed()
        self.peer = self.master = None


def down_keys(timed: list[tuple[float, mido.Message]]) -> dict[tuple[int, int], int]:
    """Keys left down: (channel, pitch) -> note-ons with no later note-off of the same key."""
    down: dict[tuple[int, int], int] = {}
    for _, msg in timed:
        if msg.type == "note_on" and msg.velocity > 0:
            down[(msg.channel, msg.note)] = down.get((msg.channel, msg.note), 0) + 1
        elif msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
            down.pop((msg.channel, msg.note), None)
    return down


def stuck_notes(timed: list[tuple[float, mido.Message]]) -> int:
    """Keys the daemon left down: note-ons with no later note-off of the same channel and pitch."""
    return sum(down_keys(timed).values())


def closed_on_return(cut: dict[tuple[int, int], int], after: list[tuple[float, mido.Message]]) -> tuple[int, int]:
    """Of the notes a server's stop cut, how many the daemon closed when it came back, before playing
    that key again: (by a note-off of the key, by CC 123 on its channel).

    A dying server may not deliver what it was given last, so the daemon cannot know which of its
    last note-offs arrived: it sends the ones it may owe, and CC 123 (all notes off) on every channel
    it used, which a synth honours. At the end of the set, by contrast, only note-offs count.
    """
    by_off = by_all_off = 0
    for (channel, pitch), count in cut.items():
        for _, msg in after:
            if msg.type == "note_on" and msg.velocity > 0 and (msg.channel, msg.note) == (channel, pitch):
                break
            if (msg.type == "note_off" or msg.type == "note_on") and (msg.channel, msg.note) == (channel, pitch):
                by_off += count
                break
            if msg.type == "control_change" and msg.control == ALL_NOTES_OFF and msg.channel == channel:
                by_all_off += count
                break
    return by_off, by_all_off


def _wait_ports(daemon: Daemon, timeout_s: float) -> float:
    """Seconds until the daemon's ports are back after a restart."""
    begin = time.perf_counter()
    while time.perf_counter() - begin < timeout_s:
        try:
            daemon.port("Antiphon In")
            daemon.port("Antiphon Out")
            return time.perf_counter() - begin
        except RigError:
            time.sleep(0.2)
    raise RigError(f"the daemon's ports did not come back within {timeout_s:g} s of the JACK restart:\n"
                   + "\n".join(daemon.lines[-30:]))


def _play_phrase(stage: Stage, rng: np.random.Generator, root: int, set_log: SetLog) -> None:
    peer = stage.peer
    assert peer is not None
    kind, fault, events = make_phrase(rng, root)
    origin = peer.play(events, origin_s=time.perf_counter() + 0.05)
    last = origin + max(offset for offset, _ in events)
    wait_s = (HOLD_LIMIT_BEATS + 2 + ANSWER_BARS * 4) * BEAT_S if fault == "dropped-off" else 6 * BEAT_S
    answered = True
    try:
        peer.wait_until(lambda got: any(t > last and m.type == "note_on" and m.velocity > 0
                                        and m.channel == ANSWER_CHANNEL for t, m in got),
                        timeout_s=last - time.perf_counter() + wait_s, what="an answer")
    except RigError:
        answered = False
        log.info("phrase %d (%s, %s) not answered", set_log.played + 1, kind, fault)
    set_log.count(f"{kind}/{fault}", answered)
    time.sleep(ANSWER_BARS * 4 * BEAT_S + 0.2)  # let the answer play out


def _turn_a_knob(daemon: Daemon, rng: np.random.Generator, set_log: SetLog) -> int | None:
    """One OSC change; returns a new key root when the key changed."""
    choice = int(rng.integers(0, 3))
    set_log.osc_changes += 1
    if choice == 0:
        daemon.osc("/antiphon/set/temperature", float(rng.uniform(0.8, 1.2)))
    elif choice == 1:
        daemon.osc("/antiphon/set/density", float(rng.uniform(0.3, 0.7)))
    else:
        name = str(rng.choice(KEYS))
        daemon.osc("/antiphon/set/key", name)
        return {"C": 0, "G": 7, "D": 2, "F": 5, "A": 9, "Eb": 3}[name]
    return None


def measure(run_s: float) -> dict[str, Any]:
    """Play the set; return the log, the monitor's messages and the daemon's counts.

    Raises:
        AntiphonError: JACK or its tools are missing, or the bundled models are not there.
    """
    lstm, gan = presets.PRESETS_DIR / "folk-events.onnx", presets.PRESETS_DIR / "gan-grooves.onnx"
    if not (lstm.is_file() and gan.is_file()):
        raise AntiphonError("soak benchmark: the bundled folk-events.onnx and gan-grooves.onnx are needed")
    rng = np.random.default_rng(20261203)
    set_log = SetLog()
    with tempfile.TemporaryDirectory(prefix="antiphon-soak-") as tmp:
        workdir = Path(tmp)
        folder = workdir / "presets"
        folder.mkdir()
        for name, temperature in (("soak-a", 1.0), ("soak-b", 0.9)):
            (folder / f"{name}.toml").write_text(PRESET.format(name=name, lstm=lstm, gan=gan, bpm=BPM, hold=HOLD_LIMIT_BEATS,
                                                               answer_bars=ANSWER_BARS, temperature=temperature))
        server = JackServer(workdir / "jackd.log", prefix="antiphon-soak", period_frames=TEST_JACK_PERIOD_FRAMES)
        previous_server = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = server.name
        server.start()
        stage = Stage()
        daemon = Daemon("--preset", "soak-a", "--seed", "7", "--out", stage.out_name,
                        env={"ANTIPHON_PRESETS_DIR": str(folder)})
        try:
            daemon.wait_for("ready")
            stage.connect(daemon)
            daemon.wait_for("MIDI clock tempo", timeout_s=15.0)
            begin = time.perf_counter()
            set_log.rss_kb.append((0.0, daemon.rss_anon_kb()))
            root, restarted, phrase_index = 0, False, 0
            while time.perf_counter() - begin < run_s:
                if not restarted and time.perf_counter() - begin >= run_s / 2:
                    server.stop()
                    stage.lose()
                    time.sleep(1.0)
                    server.start()
                    stage.comes_back()
                    set_log.reconnect_s.append(_wait_ports(daemon, RECONNECT_TIMEOUT_S))
                    stage.connect(daemon)
                    set_log.restarts += 1
                    restarted = True
                    time.sleep(2 * BEAT_S)
                _play_phrase(stage, rng, root, set_log)
                phrase_index += 1
                new_root = _turn_a_knob(daemon, rng, set_log)
                root = root if new_root is None else new_root
                if phrase_index % 5 == 0:
                    daemon.osc("/antiphon/preset", "soak-b" if set_log.preset_switches % 2 == 0 else "soak-a")
                    set_log.preset_switches += 1
                    time.sleep(BEAT_S)
                if phrase_index % 10 == 0:
                    set_log.rss_kb.append((time.perf_counter() - begin, daemon.rss_anon_kb()))
            set_log.rss_kb.append((time.perf_counter() - begin, daemon.rss_anon_kb()))
            counts = daemon.status()
            stage.finish()
        except RigError as exc:
            raise AntiphonError(f"soak benchmark: {exc}") from exc
        finally:
            stage.lose()
            daemon.stop()
            server.stop()
            if previous_server is None:
                os.environ.pop("JACK_DEFAULT_SERVER", None)
            else:
                os.environ["JACK_DEFAULT_SERVER"] = previous_server
        lines = daemon.lines
    cut = down_keys(stage.heard[:stage.restart_at])
    after = stage.heard[stage.restart_at:]
    by_off, by_all_off = closed_on_return(cut, after)
    stuck = stuck_notes(after) + sum(cut.values()) - by_off - by_all_off
    return {"log": set_log, "stuck": stuck, "cut": (sum(cut.values()), by_off, by_all_off), "counts": counts,
            "errors": [line for line in lines if " ERROR " in line or "Traceback" in line],
            "warnings": [line for line in lines if " WARNING " in line], "run_s": run_s}


def run(args: argparse.Namespace, quick: bool) -> Section:
    """The benchmark section (see the module docstring)."""
    run_s = getattr(args, "soak_s", None) or (RUN_S_QUICK if quick else RUN_S_FULL)
    result = measure(run_s)
    set_log: SetLog = result["log"]
    counts = result["counts"]
    section = Section(NAME, TITLE)
    ratio = set_log.answered / set_log.played if set_log.played else float("nan")
    section.derived["phrases answered / played"] = ratio
    section.derived["phrases answered, played"] = f"{set_log.answered}, {set_log.played}"
    section.derived["stuck notes at the end"] = result["stuck"]
    section.derived["JACK server restarts survived"] = set_log.restarts if result["stuck"] == 0 else 0
    section.derived["notes sounding when the server stopped; closed on its return by note-off, by CC 123"] = (
        "{}; {}, {}".format(*result["cut"]))
    if set_log.reconnect_s:
        section.derived["ports back after the restart, s"] = round(set_log.reconnect_s[0], 2)
    start_kb, end_kb = set_log.rss_kb[0][1], set_log.rss_kb[-1][1]
    section.derived["daemon RssAnon at start / end, MB"] = f"{start_kb / 1024:.1f} / {end_kb / 1024:.1f}"
    section.derived["late note-ons dropped by the daemon"] = counts.get("late_dropped", 0)
    section.derived["errors logged (daemon count; ERROR lines)"] = f"{counts.get('errors', 0)}; {len(result['errors'])}"
    section.derived["warnings logged"] = len(result["warnings"])
    section.derived["stream faults repaired (zero-length; held released; orphan offs)"] = (
        f"{counts.get('zero_length_notes', 0)}; {counts.get('held_released', 0)}; {counts.get('orphan_offs', 0)}")
    section.derived["OSC changes, preset switches"] = f"{set_log.osc_changes}, {set_log.preset_switches}"
    section.derived["accompaniment bars made"] = counts.get("bars", 0)
    for kind, (played, answered) in sorted(set_log.by_kind.items()):
        section.derived[f"answered, {kind}"] = f"{answered} of {played}"
    section.notes.append(f"{run_s / 60:g} minutes at {BPM:g} BPM under jack_midi_clock; both mode (bundled folk-events "
                         f"answers, bundled gan-grooves plays along); hold limit {HOLD_LIMIT_BEATS:g} beats")
    if result["errors"]:
        section.notes.append("first error lines: " + " | ".join(result["errors"][:3]))
    if result["warnings"]:
        section.notes.append("first warnings: " + " | ".join(result["warnings"][:3]))
    section.data = {"rss_anon_kb": set_log.rss_kb, "by_kind": set_log.by_kind}
    return section
