"""The player's sounding notes as the engine hears them, made safe against faults of the stream.

A MIDI stream is not always well formed: a merge or a DAW may send a zero-length note as its
note-off *before* its note-on at the same instant; a controller may drop a note-off; a DAW sends
note-offs for notes it never started, and CC 120/123 or a Stop instead of note-offs. Left as
they come, one lost note-off keeps a phrase open for the rest of the set. :class:`InputNotes`
sits between the input and the parts that hear notes (the responder, the accompanist) and hands
them only note-ons and note-offs that pair up:

* **an off before its on**: a note-off for a key that is not sounding is held back for
  :data:`ZERO_LENGTH_TICKS`; a note-on of that key within it is a zero-length note, closed as
  soon as it opens. Otherwise the off is dropped (counted: ``orphan_offs``).
* **a note held too long**: once no new note has started for ``hold_limit_beats`` beats,
  :meth:`release_held` closes every key still down (counted: ``held_released``); its real
  note-off, when it comes, is dropped quietly. A drone held under a melody is kept while the
  melody plays, and the answer comes ``hold_limit_beats`` after its last note.
* **CC 120 / 123** on a channel close that channel's keys; MIDI Stop and Start close all
  (:meth:`all_off`).

Positions are ticks of the daemon's pulse grid (24 per beat). Not thread-safe: the engine thread
is its only caller. This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

log = logging.getLogger(__name__)

ZERO_LENGTH_TICKS = 0.25  # "the same instant": a quarter of a MIDI clock pulse (5 ms at 120 BPM)
ALL_SOUND_OFF = 120  # CC 120, channel mode message: all sound off
MAX_HELD_KEYS = 16 * 128  # every key of every channel: the ledger can never grow beyond it


class NoteEvent(NamedTuple):
    """A note-on (``on``) or note-off that pairs with the notes before it."""

    on: bool
    channel: int  # 0-15
    pitch: int  # 0-127
    velocity: int  # 1-127 for a note-on, 0 for a note-off


@dataclass
class InputCounts:
    """Stream faults repaired since the start (the engine reports them with its own counts).

    Attributes:
        orphan_offs: note-offs for keys that were not sounding, dropped.
        zero_length_notes: note-offs that came just before their note-on, paired up.
        held_released: keys closed because no new note started for ``hold_limit_beats``.
        mode_offs: keys closed by CC 120/123, MIDI Stop or Start.
    """

    orphan_offs: int = 0
    zero_length_notes: int = 0
    held_released: int = 0
    mode_offs: int = 0


class InputNotes:
    """The keys the player holds down, by (channel, pitch); see the module docstring."""

    def __init__(self) -> None:
        self._down: dict[tuple[int, int], int] = {}  # key -> note-ons not yet closed (a key may be struck twice)
        self._early_offs: dict[tuple[int, int], float] = {}  # key -> tick of an off that came before its on
        self._released: set[tuple[int, int]] = set()  # closed by release_held: their real off is expected
        self.last_onset_tick: float | None = None
        self.counts = InputCounts()

    @property
    def held(self) -> int:
        """Keys down now."""
        return sum(self._down.values())

    def note_on(self, tick: float, channel: int, pitch: int, velocity: int) -> list[NoteEvent]:
        """A note-on (velocity 1-127): the note-on, and its note-off at once if its off came first."""
        key = (channel, pitch)
        self.last_onset_tick = tick
        self._released.discard(key)
        events = [NoteEvent(True, channel, pitch, velocity)]
        early = self._early_offs.pop(key, None)
        if early is not None and tick - early <= ZERO_LENGTH_TICKS:
            self.counts.zero_length_notes += 1
            events.append(NoteEvent(False, channel, pitch, 0))
            return events
        if len(self._down) < MAX_HELD_KEYS or key in self._down:
            self._down[key] = self._down.get(key, 0) + 1
        return events

    def note_off(self, tick: float, channel: int, pitch: int) -> list[NoteEvent]:
        """A note-off (or note-on of velocity 0): its note-off, or nothing if the key was not down."""
        key = (channel, pitch)
        down = self._down.get(key, 0)
        if down:
            if down == 1:
                del self._down[key]
            else:
                self._down[key] = down - 1
            return [NoteEvent(False, channel, pitch, 0)]
        if key in self._released:
            self._released.discard(key)  # the off of a key release_held closed: it came after all
            return []
        self._forget_early_offs(tick)
        self._early_offs[key] = tick
        self.counts.orphan_offs += 1
        return []

    def all_off(self, channel: int | None = None) -> list[NoteEvent]:
        """CC 120/123 on ``channel``, or MIDI Stop/Start (None: every channel): close those keys."""
        closed = [key for key in self._down if channel is None or key[0] == channel]
        events = self._close(closed)
        self.counts.mode_offs += len(events)
        if channel is None:
            self._early_offs.clear()
            self._released.clear()
        return events

    def hold_deadline(self, hold_limit_beats: float, ticks_per_beat: int, pedal_held: bool = False) -> float | None:
        """The tick at which the notes held stop holding the phrase open: when keys are down (or
        ``pedal_held``: notes the sustain pedal holds), ``hold_limit_beats`` after the last onset."""
        if not (self._down or pedal_held) or self.last_onset_tick is None:
            return None
        return self.last_onset_tick + hold_limit_beats * ticks_per_beat

    def release_held(self) -> list[NoteEvent]:
        """No new note for the hold limit: close every key down; their real note-offs are dropped."""
        keys = list(self._down)
        events = self._close(keys)
        self._released.update(keys)
        self.counts.held_released += len(events)
        return events

    def _close(self, keys: list[tuple[int, int]]) -> list[NoteEvent]:
        events = []
        for key in keys:
            events.extend(NoteEvent(False, key[0], key[1], 0) for _ in range(self._down.pop(key)))
        return events

    def _forget_early_offs(self, tick: float) -> None:
        stale = [key for key, when in self._early_offs.items() if tick - when > ZERO_LENGTH_TICKS]
        for key in stale:
            del self._early_offs[key]
