"""What the console knows of a running daemon, from its OSC feedback, and the text it draws.

:class:`ConsoleView` is fed every OSC message the console receives (:meth:`ConsoleView.take`) and
keeps: the parameters (``/antiphon/state/...``), the preset, the clock (source, tempo, running,
position and when that was read, so the play head moves between status replies), the counters,
the last errors, and the roll: notes heard from the player (``/antiphon/heard``), notes Antiphon
planned (``/antiphon/planned``; played once the play head passes their start), groups dropped and
silences. It draws plain text (:meth:`roll_lines`, :meth:`clock_line`...): the Textual app
(:mod:`daemon.console.app`) only lays it out, so all of this is tested without a terminal.

Positions are beats on the daemon's clock (the ``/antiphon/clock`` position's units). This module
must not import torch, ``training``, ``export`` or Textual.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from daemon.music.harmony import NAMES as PITCH_NAMES

ROLL_BARS_BACK = 2.0  # bars of history the roll shows left of the play head
ROLL_BARS_AHEAD = 1.0  # bars ahead of it (what is planned)
KEEP_BARS = 8.0  # notes older than this are forgotten
MAX_NOTES = 2000
MAX_ERRORS = 4
HEARD, PLAYED, PLANNED, HEAD, EMPTY = "o", "=", "-", "|", " "  # the roll's characters
PARAM_KEYS = ("mode", "temperature", "density", "key", "scale", "bpm")


@dataclass
class RollNote:
    """One note on the roll (beats on the daemon's clock; ``end`` None while it sounds)."""

    pitch: int
    channel: int  # 1-16
    start: float
    end: float | None
    planned: bool  # Antiphon's (planned), not the player's (heard)
    group: str = ""


@dataclass
class ConsoleView:
    """The console's picture of the daemon (one owner: the app's thread)."""

    params: dict[str, Any] = field(default_factory=dict)
    preset: str = ""
    source: str = ""
    bpm: float = 0.0
    running: bool = False
    position: float = 0.0  # beats, at ``position_at``
    position_at: float = 0.0  # the console's monotonic seconds when the position was read
    counts: dict[str, int] = field(default_factory=dict)
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_ERRORS))
    notes: deque[RollNote] = field(default_factory=lambda: deque(maxlen=MAX_NOTES))
    last_heard_s: float | None = None
    midi: str = ""
    key: str = ""

    # ------------------------------------------------------------------ input

    def take(self, address: str, args: list[Any], now_s: float) -> None:
        """Apply one OSC message the daemon sent, received at ``now_s`` (monotonic seconds)."""
        self.last_heard_s = now_s
        if address.startswith("/antiphon/state/"):
            name = address.rsplit("/", 1)[1]
            value = args[0] if len(args) == 1 else tuple(args)
            if name == "midi":
                self.midi = str(value)
            else:
                self.params[name] = value
        elif address == "/antiphon/preset/current" and args:
            self.preset = str(args[0])
        elif address == "/antiphon/clock" and len(args) >= 4:
            self.source, self.bpm, self.running = str(args[0]), float(args[1]), bool(args[2])
            self.position, self.position_at = float(args[3]), now_s
        elif address == "/antiphon/count" and len(args) >= 2:
            self.counts[str(args[0])] = int(args[1])
        elif address == "/antiphon/error" and len(args) >= 2:
            self.errors.append(f"{args[0]}: {args[1]}")
        elif address == "/antiphon/phrase" and len(args) >= 3:
            self.key = str(args[2])
        elif address == "/antiphon/heard" and len(args) >= 4:
            self._heard(int(args[0]), int(args[1]), int(args[2]), float(args[3]))
        elif address == "/antiphon/planned" and len(args) >= 6:
            start = float(args[3])
            self.notes.append(RollNote(int(args[0]), int(args[2]), start, start + float(args[4]), True, str(args[5])))
        elif address == "/antiphon/dropped" and args:
            self._drop(lambda n: n.planned and n.group == str(args[0]) and n.start > self.head(now_s))
        elif address == "/antiphon/silenced":
            self.silence(now_s)
        self._forget(now_s)

    def _heard(self, pitch: int, velocity: int, channel: int, position: float) -> None:
        if velocity > 0:
            self.notes.append(RollNote(pitch, channel, position, None, False))
            return
        for note in reversed(self.notes):
            if not note.planned and note.end is None and note.pitch == pitch and note.channel == channel:
                note.end = max(position, note.start)
                return

    def silence(self, now_s: float) -> None:
        """Everything sounding ends now; nothing planned ahead will play."""
        head = self.head(now_s)
        self._drop(lambda n: n.planned and n.start > head)
        for note in self.notes:
            if note.end is None or note.end > head:
                note.end = max(note.start, head)

    def _drop(self, gone: Any) -> None:
        kept = [n for n in self.notes if not gone(n)]
        self.notes.clear()
        self.notes.extend(kept)

    def _forget(self, now_s: float) -> None:
        horizon = self.head(now_s) - KEEP_BARS * self.beats_per_bar
        while self.notes and (self.notes[0].end if self.notes[0].end is not None else math.inf) < horizon:
            self.notes.popleft()

    # ------------------------------------------------------------------ reading

    @property
    def beats_per_bar(self) -> float:
        numerator = int(self.params.get("meter_numerator", 4) or 4)
        denominator = int(self.params.get("meter_denominator", 4) or 4)
        return numerator * 4 / denominator

    def head(self, now_s: float) -> float:
        """The play head (beats) at ``now_s``: the last position read, moved on at the tempo."""
        if not self.running or self.position_at == 0.0:
            return self.position
        return self.position + (now_s - self.position_at) * self.bpm / 60.0

    def sounding(self, now_s: float) -> list[RollNote]:
        """Notes sounding at the play head (heard and held, or Antiphon's between start and end)."""
        head = self.head(now_s)
        return [n for n in self.notes if n.start <= head and (n.end is None or n.end > head)]

    def clock_line(self, now_s: float) -> str:
        if not self.source:
            return "clock: (no status yet)"
        head = max(0.0, self.head(now_s))
        bar, beat = divmod(head, self.beats_per_bar)
        state = "playing" if self.running else "stopped"
        source = {"midi": "MIDI clock", "internal": "internal clock", "link": "Ableton Link"}.get(self.source,
                                                                                                self.source)
        return f"{source}  {self.bpm:6.2f} bpm  bar {int(bar) + 1}:{int(beat) + 1}  {state}"

    def params_line(self) -> str:
        shown = []
        for name in PARAM_KEYS:
            if name in self.params:
                value = self.params[name]
                shown.append(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}")
        return "  ".join(shown)

    def counts_line(self) -> str:
        names = ("phrases", "answers", "bars", "late_dropped", "echoes", "input_dropped", "errors")
        return "  ".join(f"{name} {self.counts[name]}" for name in names if name in self.counts)

    def roll_lines(self, width: int, height: int, now_s: float) -> list[str]:
        """The roll as ``height`` lines of ``width`` characters: time left to right (the play head
        :data:`ROLL_BARS_BACK` bars from the left), pitch bottom to top over the notes shown."""
        width, height = max(8, width), max(3, height)
        bar = self.beats_per_bar
        head = self.head(now_s)
        left, right = head - ROLL_BARS_BACK * bar, head + ROLL_BARS_AHEAD * bar
        span = right - left
        shown = [n for n in self.notes if n.start < right and (n.end if n.end is not None else head) > left]
        pitches = [n.pitch for n in shown] or [60]
        low, high = min(pitches), max(pitches)
        if high - low + 1 < height:
            low = max(0, min(low, (low + high) // 2 - height // 2))
            high = low + height - 1
        grid = [[EMPTY] * width for _ in range(height)]

        def column(beats: float) -> int:
            return int((beats - left) / span * width)

        for note in sorted(shown, key=lambda n: n.planned):
            row = height - 1 - int((note.pitch - low) * (height - 1) / max(1, high - low))
            end = note.end if note.end is not None else head
            mark = PLANNED if note.planned and note.start > head else (PLAYED if note.planned else HEARD)
            for x in range(max(0, column(note.start)), min(width, max(column(note.start) + 1, column(end)))):
                grid[row][x] = mark
        x_head = column(head)
        for row in grid:
            if 0 <= x_head < width and row[x_head] == EMPTY:
                row[x_head] = HEAD
        label = f"{_pitch_name(high)}-{_pitch_name(low)}"
        lines = ["".join(row) for row in grid]
        lines[0] = (label + lines[0][len(label):])[:width]
        return lines


def _pitch_name(pitch: int) -> str:
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"
