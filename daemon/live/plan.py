"""The engine's plan: notes decided but not yet handed to the scheduler, in musical time.

Answers and accompaniment bars are made ahead of time, in ticks of the daemon's pulse grid
(24 per beat). Converting them to seconds early would freeze the tempo at that moment; the
engine instead hands each note to the scheduler only :data:`HANDOFF_S` before it is due,
converting with the clock's latest estimate (MIDI clock tempo drift, an OSC tempo change), and
can drop a group (an answer the player interrupted) or everything (MIDI Stop) before it is sent.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from daemon.music.notes import Note

# How long before its time a note goes to the scheduler: longer than the engine's worst wake-up
# delay on a busy machine (the scheduler, not the engine, then times it), short enough that a
# tempo change or a cancel reaches almost every note.
HANDOFF_S = 0.100


@dataclass(frozen=True, order=True)
class PlannedNote:
    """A note in the plan (positions in pulse-grid ticks).

    Attributes:
        start: tick of its note-on.
        seq: order of planning, for ties.
        note: the note (its start equals ``start``).
        group: tag for cancelling.
    """

    start: int
    seq: int
    note: Note = field(compare=False)
    group: Hashable = field(compare=False)


class PlanWatch(Protocol):
    """Who hears of what is planned and dropped (the console's roll, through OSC feedback)."""

    def planned(self, note: Note, group: Hashable) -> None: ...

    def dropped(self, group: Hashable) -> None: ...


class Plan:
    """Planned notes ordered by start; one owner (the engine thread).

    Args:
        watch: told of every note planned and every group dropped (None: nobody).
    """

    def __init__(self, watch: PlanWatch | None = None) -> None:
        self._heap: list[PlannedNote] = []
        self._seq = itertools.count()
        self._watch = watch

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, notes: Iterable[Note], group: Hashable) -> None:
        """Plan ``notes`` (pulse-grid ticks) under ``group``."""
        for note in notes:
            heapq.heappush(self._heap, PlannedNote(note.start, next(self._seq), note, group))
            if self._watch is not None:
                self._watch.planned(note, group)

    def remove(self, group: Hashable) -> int:
        """Drop every planned note of ``group``; returns how many."""
        kept = [p for p in self._heap if p.group != group]
        dropped = len(self._heap) - len(kept)
        if dropped:
            self._heap = kept
            heapq.heapify(self._heap)
            if self._watch is not None:
                self._watch.dropped(group)
        return dropped

    def clear(self) -> None:
        self._heap.clear()

    def next_start(self) -> int | None:
        """Tick of the earliest planned note, or None."""
        return self._heap[0].start if self._heap else None

    def pop_until(self, tick: float) -> list[PlannedNote]:
        """Remove and return the notes starting at or before ``tick``, in order."""
        out = []
        while self._heap and self._heap[0].start <= tick:
            out.append(heapq.heappop(self._heap))
        return out
