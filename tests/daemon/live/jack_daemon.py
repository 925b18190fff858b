"""What the tests of the whole daemon through JACK share: the rig, the presets they play, and how they listen.

The daemon runs as a subprocess (``python -m daemon run``) on the session's JACK server (dummy
driver, synchronous mode; see ``tests/conftest.py``); a second JACK client plays into
"Antiphon In" and records "Antiphon Out" (:mod:`benchmarks.jack_rig`). Models are tiny
random-weight exports (``tests/export/tiny_lstm.py``, ``tiny_gan.py``) until the bundled
``presets/folk-events.onnx`` exists. The fixtures live in this folder's ``conftest.py``.
"""


from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import mido

import presets
from benchmarks.jack_rig import (
    Daemon,
    Peer,
    note_off,
    note_on,
)
from daemon.live.scheduler import is_note_on
from daemon.music.keys import Key
from daemon.music.notes import Note
from tests.daemon.corpus_phrase import Phrase

BUNDLED_LSTM = presets.PRESETS_DIR / "folk-events.onnx"
TINY_BPM = 180.0
ANSWER_CHANNEL = 1  # 0-15: channel 2, the live preset's [midi] channel
ONSET_TOLERANCE_S = 0.015  # median onset error allowed
MAX_ONSET_ERROR_S = 0.050  # any onset: the scheduler's late tolerance (a later note-on is dropped, not played)
FRAME_TEMPO_TOLERANCE_BPM = 0.1  # the daemon's estimate from pulse frames against the master's own tempo
CLOCK_TAKES = 4  # takes under jack_midi_clock at most, until enough onsets the clock kept time around
MIN_JUDGED_ONSETS = 6
CLOCK_STALL_S = 0.015  # a pulse later than this beyond its period: the clock stalled there
SEED = "3"
ACCOMPANY_KEEP_QUANTILE = 0.993  # a random GAN's steps above this quantile sound: ~20 notes a bar

LIVE_PRESET = """
description = "tiny models, for the JACK tests"
mode = "respond"
[model]
file = "{lstm}"
[accompany]
model = "{gan}"
channels = [10, 3, 4]
threshold = {threshold}
[sampling]
key_root = "F"
scale = "major"
pitch_low = 48
pitch_high = 96
[midi]
channel = 2
prompt = "top"
echo_window_ms = 30
[respond]
answer_bars = 1
phrase_end_beats = 1.0
phrase_end = "silence"
start = "beat"
[clock]
bpm = {bpm}
"""


@dataclass(frozen=True)
class Setup:
    """Which preset the live daemon plays and what it means for the checks."""

    presets_dir: Path
    preset: str
    bundled: bool
    bpm: float
    answer_channel: int
    answer_bars: int
    beats_per_bar: int
    key: Key | None  # the preset's key mask (tiny models), None for the bundled model

    @property
    def beat_s(self) -> float:
        return 60.0 / self.bpm

    def env(self) -> dict[str, str]:
        return {"ANTIPHON_PRESETS_DIR": str(self.presets_dir)}


def _sparse_threshold(gan: Path) -> float:
    """A threshold that keeps ~1% of a random-weight GAN's steps (its outputs all sit near one value)."""
    import numpy as np

    from daemon.models.loader import load_model

    model = load_model(gan)
    rolls = np.concatenate([model.roll(None, np.random.default_rng(seed)) for seed in range(4)])
    return float(np.quantile(rolls, ACCOMPANY_KEEP_QUANTILE))


# ------------------------------------------------------------------ helpers


def phrase_events(notes: tuple[Note, ...] | list[Note], beat_s: float, channel: int = 0,
                  articulation: float = 0.9) -> list[tuple[float, mido.Message]]:
    """(offset_s, message) for notes on a 12-ticks-per-beat grid, each released at ``articulation`` of its length."""
    tick_s = beat_s / 12
    events = []
    for n in notes:
        events.append((n.start * tick_s, note_on(n.pitch, channel, n.velocity)))
        events.append(((n.start + n.duration * articulation) * tick_s, note_off(n.pitch, channel)))
    return sorted(events, key=lambda e: (e[0], e[1].type == "note_on"))


@dataclass(frozen=True)
class Heard:
    """A note that came out: when its note-on and note-off arrived (None if never)."""

    on_s: float
    off_s: float | None
    pitch: int
    velocity: int
    channel: int


def heard_notes(timed: list[tuple[float, mido.Message]], channels: set[int] | None = None) -> list[Heard]:
    """Pair the note-ons and note-offs that came out (first in, first out per key)."""
    open_: dict[tuple[int, int], list[tuple[float, int]]] = {}
    out: list[Heard] = []
    for stamp, msg in timed:
        if msg.type not in ("note_on", "note_off") or (channels is not None and msg.channel not in channels):
            continue
        key = (msg.channel, msg.note)
        if is_note_on(msg):
            open_.setdefault(key, []).append((stamp, msg.velocity))
        elif open_.get(key):
            on_s, velocity = open_[key].pop(0)
            out.append(Heard(on_s, stamp, msg.note, velocity, msg.channel))
    for (channel, pitch), left in open_.items():
        out.extend(Heard(on_s, None, pitch, velocity, channel) for on_s, velocity in left)
    return sorted(out, key=lambda h: h.on_s)


READINGS = 5  # status round trips per grid reading


class GridPhase:
    """Beat position (beats, fractional) of the daemon's clock at a perf_counter time: from one
    status reply at the nominal tempo, or through two (``since`` an earlier one) at the rate the
    daemon's clock really ran against perf_counter. With Antiphon's own JACK client the daemon's
    clock is JACK's frame counter, which the dummy driver does not run at exactly the wall
    clock's rate on a busy machine; two readings around what is measured take that out."""

    def __init__(self, daemon: Daemon, bpm: float, since: GridPhase | None = None) -> None:
        # the reading with the shortest round trip of a few: on a busy machine one reply can be held
        # up for tens of milliseconds, and the position was read somewhere in that round trip
        status = min((daemon.status() for _ in range(READINGS)),
                     key=lambda s: s["clock_received_s"] - s["status_sent_s"])
        self.position = float(status["clock"][3])
        self.received = (status["status_sent_s"] + status["clock_received_s"]) / 2  # read in between
        self.round_trip_s = status["clock_received_s"] - status["status_sent_s"]
        self.beats_per_s = bpm / 60.0
        if since is not None and self.received - since.received > 0.5:
            self.beats_per_s = (self.position - since.position) / (self.received - since.received)

    def __call__(self, when: float) -> float:
        return self.position + (when - self.received) * self.beats_per_s


def grid_phase(daemon: Daemon, bpm: float, since: GridPhase | None = None) -> GridPhase:
    """:class:`GridPhase` now (through ``since`` too, when given)."""
    return GridPhase(daemon, bpm, since)


def grid_error_s(beats: float, unit_beats: float, beat_s: float) -> float:
    """Signed distance (seconds) from a position to the nearest multiple of ``unit_beats``."""
    return (beats - round(beats / unit_beats) * unit_beats) * beat_s


def _assert_on_grid(errors_s: list[float], what: str) -> None:
    """The median onset error within :data:`ONSET_TOLERANCE_S`, and none beyond :data:`MAX_ONSET_ERROR_S`."""
    shown = [round(e * 1e3, 1) for e in errors_s]
    assert statistics.median(abs(e) for e in errors_s) <= ONSET_TOLERANCE_S, f"{what}: {shown} ms"
    assert max(abs(e) for e in errors_s) <= MAX_ONSET_ERROR_S, f"{what}: {shown} ms"


def all_closed(timed: list[tuple[float, mido.Message]]) -> bool:
    """Every note-on that came out was followed by a note-off of its key."""
    return all(h.off_s is not None for h in heard_notes(timed))


def ms(values: list[float]) -> str:
    values = sorted(abs(v) * 1e3 for v in values)
    return f"median {statistics.median(values):.2f} ms, max {values[-1]:.2f} ms (n={len(values)})"


def short(phrase: Phrase) -> list[Note]:
    """The phrase's first two beats: enough for an answer, quick to play."""
    return [n for n in phrase.notes if n.start < 24]


def reset(daemon: Daemon, peer: Peer) -> None:
    """Silence, forget the phrase, forget what was heard."""
    daemon.osc("/antiphon/panic")
    daemon.osc("/antiphon/reset")
    time.sleep(0.2)
    peer.clear()


def play_and_hear_answer(daemon: Daemon, peer: Peer, setup: Setup, notes: list[Note] | tuple[Note, ...],
                         channel: int = 0, phases: list[GridPhase] | None = None) -> tuple[float, list[Heard]]:
    """Play ``notes`` starting on a beat of the daemon's clock; wait for the whole answer; return (start, answer).

    ``phases``, when given, receives the daemon's grid read just after the answer's first note came
    and again after the answer: readings beside the notes they judge."""
    position = grid_phase(daemon, setup.bpm)
    now = time.perf_counter()
    start = now + ((-position(now) % 1) + 1) * setup.beat_s  # the beat after next
    peer.play(phrase_events(notes, setup.beat_s, channel), origin_s=start)
    last_release = start + max(n.end for n in notes) / 12 * setup.beat_s
    answer_end = last_release + (2 + setup.answer_bars * setup.beats_per_bar) * setup.beat_s
    peer.wait_until(lambda got: any(is_note_on(m) and m.channel == setup.answer_channel for _, m in got),
                    timeout_s=answer_end - time.perf_counter() + 5.0, what="the answer's first note")
    if phases is not None:
        phases.append(grid_phase(daemon, setup.bpm))
    time.sleep(max(0.0, answer_end - time.perf_counter()) + 0.3)
    if phases is not None:
        phases.append(grid_phase(daemon, setup.bpm, since=phases[0]))
    return start, heard_notes([(t, m) for t, m in peer.timed() if t > last_release],
                              channels={setup.answer_channel})


# ------------------------------------------------------------------ the answer


def _ports() -> list[str]:
    from benchmarks.jack_rig import jack_ports

    return jack_ports()

