"""What the engine reports: the feedback sink it talks to and the counters it keeps.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, fields
from typing import Any, Protocol

from daemon.music.grid import MIDI_CLOCK_PPQN
from daemon.music.notes import Note


class Feedback(Protocol):
    """What the engine reports to (:class:`daemon.io.osc_feedback.OscFeedback`, or a test's recorder)."""

    def note(self, pitch: int, velocity: int, channel: int, duration_beats: float) -> bool: ...
    def phrase(self, n_notes: int, duration_beats: float, key_root: int | None) -> bool: ...
    def param(self, name: str, value: Any) -> bool: ...
    def status(self, values: dict[str, Any]) -> bool: ...
    def error(self, address: str, message: str) -> bool: ...
    def learned(self, param: str, cc: int, channel: int) -> bool: ...
    def clock(self, source: str, bpm: float, running: bool, position_beats: float) -> bool: ...
    def current_preset(self, name: str) -> bool: ...
    def count(self, name: str, value: int) -> bool: ...
    def heard(self, pitch: int, velocity: int, channel: int, position_beats: float) -> bool: ...
    def planned(self, pitch: int, velocity: int, channel: int, start_beats: float, duration_beats: float,
                group: str) -> bool: ...
    def dropped(self, group: str) -> bool: ...
    def silenced(self, reason: str) -> bool: ...


def group_name(group: Hashable) -> str:
    """A plan group as the roll names it: ``bar 12``, ``harmony 12``, ``answer 3``."""
    if isinstance(group, tuple):
        return " ".join(str(part) for part in group)
    return f"answer {group}"


class RollFeed:
    """The plan's watch (:class:`daemon.live.plan.PlanWatch`): every note planned and group dropped,
    as roll feedback (positions in beats of the pulse grid's clock)."""

    def __init__(self, feedback: Feedback) -> None:
        self._feedback = feedback

    def planned(self, note: Note, group: Hashable) -> None:
        self._feedback.planned(note.pitch, note.velocity, note.channel, note.start / MIDI_CLOCK_PPQN,
                               note.duration / MIDI_CLOCK_PPQN, group_name(group))

    def dropped(self, group: Hashable) -> None:
        self._feedback.dropped(group_name(group))


@dataclass
class EngineCounts:
    """What the engine did since it started (written by the engine thread only).

    Attributes:
        messages: input messages read (clock pulses included).
        echoes: input recognised as echoes of Antiphon's output and dropped.
        filtered: channel messages dropped for their channel (channel_in, output channels).
        ignored: system messages not used (SysEx, tune request...).
        passed: messages passed straight out in thru mode.
        phrases: phrases heard to their end.
        answers: answers committed.
        answer_notes: notes those answers planned.
        silent_answers: answers in which the model played no note (it may rest).
        discarded: answers prepared in a silence and dropped because the player went on.
        bars: accompaniment bars made.
        revoiced: bars whose bass and chords were made again over a chord heard inside them.
        notes_sent: notes handed to the scheduler.
        late_planned: planned notes whose time had passed by more than the late tolerance when
            their turn came (dropped: the engine fell behind).
        errors: messages, events or generations that failed (logged).
    """

    messages: int = 0
    echoes: int = 0
    filtered: int = 0
    ignored: int = 0
    passed: int = 0
    phrases: int = 0
    answers: int = 0
    answer_notes: int = 0
    silent_answers: int = 0
    discarded: int = 0
    bars: int = 0
    revoiced: int = 0
    notes_sent: int = 0
    late_planned: int = 0
    errors: int = 0


def count_names() -> list[str]:
    """Names of the counts :meth:`Engine.stats` reports."""
    return [f.name for f in fields(EngineCounts)] + ["input_dropped", "late_dropped"]
