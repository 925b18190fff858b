"""Call and response: hear a phrase, keep the LSTM warm while it is played, answer when it ends.

The engine thread calls a :class:`Responder` with every note-on, note-off and sustain-pedal
change it hears (positions in ticks of the daemon's pulse grid, 24 per beat: see
:mod:`daemon.live.transport`), and asks it when the phrase ends and what to play.

Phrase detection
    A phrase starts with the first note-on heard when no phrase is open. A note *sounds* from
    its note-on until its note-off, or, if the sustain pedal (CC 64 >= 64) of its channel is
    down then, until the pedal goes up. *Silence* begins when no note sounds. The phrase ends:

    * ``"silence"``: once the silence has lasted ``phrase_end_beats`` beats;
    * ``"bar"``: at the first bar line at or after the silence began;
    * ``"silence-then-bar"``: at the first bar line after ``phrase_end_beats`` of silence.

    A note-on before the phrase end takes the phrase up again.

Feeding as it is played
    A note is fed to the model (:class:`~daemon.models.continuator.Continuator`) once it has stopped
    sounding (its duration is then known) and no note that started before it still sounds, so
    notes go in by onset, and by the time the phrase ends the model has heard all of it but the
    last notes. Each phrase starts the model afresh from the bar line before its first note.
    With ``prompt = "top"`` (melodic models) only the highest note of each onset is fed.

Answering ahead
    As soon as the silence begins, :meth:`Responder.prepare` computes when the phrase will end
    and where the answer starts, and sets up the answer's sampling (the
    :class:`~daemon.models.continuator.Continuator`'s state is warm, so this is immediate); the engine
    steps it between other work (:meth:`Responder.advance`) and plans the notes as they come.
    If the player plays again before the phrase end, the engine discards that answer
    (:meth:`Responder.note_on` says :data:`RESUMED`). The answer's first note sounds at the
    start point (the next grid step, beat or bar at or after the phrase end); the model's timing
    follows from there, for ``answer_bars`` bars.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from daemon.errors import RepresentationError
from daemon.models.abc_answer import AbcContinuator
from daemon.models.continuator import Continuator, StepModel
from daemon.models.vae_answer import VaeContinuator
from daemon.music.grid import MIDI_CLOCK_PPQN, Grid
from daemon.music.keys import Key, estimate_key
from daemon.music.notes import Note
from daemon.music.sampling import SamplingParams

log = logging.getLogger(__name__)

EPSILON_TICKS = 1e-6  # positions closer than this to a grid line count as on it
PHRASE_END_MODES = ("silence", "bar", "silence-then-bar")
ANSWER_STARTS = ("step", "beat", "bar")


class Heard(Enum):
    """What a note-on did to the phrase."""

    NEW_PHRASE = "new phrase"
    RESUMED = "resumed"  # played again during the silence, before the phrase ended: discard the answer
    NOTE = "note"


@dataclass(frozen=True)
class PhraseInfo:
    """A phrase that ended.

    Attributes:
        n_notes: notes in it.
        duration_beats: from its first note-on to the moment its last note stopped sounding.
        key: the key its notes suggest, or None.
    """

    n_notes: int
    duration_beats: float
    key: Key | None


@dataclass
class Answer:
    """One answer, from the moment the silence began until its last note is planned.

    Attributes:
        group: tag of its notes in the engine's plan and the scheduler (for cancelling).
        end_tick: pulse-grid position where the phrase ends (the answer is committed there).
        start_tick: pulse-grid position of the answer's first note.
        length_ticks: pulse-grid ticks it lasts.
        committed: True once the phrase end has passed (it will not be discarded any more).
        notes_made: notes produced so far.
        done: True once sampling ended.
    """

    group: Any
    end_tick: float
    start_tick: int
    length_ticks: int
    steps: Iterator[list[Note]] | None
    ticks_per_model_tick: int
    committed: bool = False
    notes_made: int = 0
    done: bool = False


@dataclass
class _Sounding:
    start: float  # pulse-grid position of its note-on
    velocity: int


@dataclass
class _Phrase:
    first_tick: float
    notes: list[Note] = field(default_factory=list)  # complete notes, model ticks
    ready: list[tuple[int, int, int, Note]] = field(default_factory=list)  # heap: complete, not yet fed
    seq: int = 0


def answer_start(end_tick: float, start: str, grid: Grid, ticks_per_step: int) -> int:
    """The pulse-grid position of the first step, beat or bar at or after ``end_tick``."""
    unit = {"step": ticks_per_step, "beat": MIDI_CLOCK_PPQN, "bar": grid.ticks_per_bar}[start]
    return math.ceil(end_tick / unit - EPSILON_TICKS) * unit


def phrase_end(silence_tick: float, mode: str, phrase_end_beats: float, grid: Grid) -> float:
    """The pulse-grid position where a phrase whose silence began at ``silence_tick`` ends."""
    bar = grid.ticks_per_bar
    waited = silence_tick + phrase_end_beats * MIDI_CLOCK_PPQN
    if mode == "silence":
        return waited
    if mode == "bar":
        return math.ceil(silence_tick / bar - EPSILON_TICKS) * bar
    if mode == "silence-then-bar":
        return math.ceil(waited / bar - EPSILON_TICKS) * bar
    raise RepresentationError(f"phrase_end must be one of {', '.join(PHRASE_END_MODES)}, got {mode!r}")


class Responder:
    """The phrase being heard, the warm model, and the answer being prepared.

    Not thread-safe: the engine thread is its only caller.

    Args:
        model: an LSTM step model (``.codec`` with a grid whose ticks per beat divide 24).
        prompt: ``"top"`` feeds the highest note of each onset, ``"all"`` every note.
    """

    def __init__(self, model: StepModel, prompt: str = "all") -> None:
        self.model = model
        tpb = model.codec.grid.ticks_per_beat
        if MIDI_CLOCK_PPQN % tpb:
            raise RepresentationError(f"a model on a grid of {tpb} ticks per beat cannot follow MIDI clock")
        self.ticks_per_model_tick = MIDI_CLOCK_PPQN // tpb
        self.prompt = prompt
        # The ABC model answers by writing the phrase as ABC text (daemon/models/abc_answer.py), the
        # phrase VAE by decoding near the phrase's code (daemon/models/vae_answer.py).
        kind = getattr(model, "kind", None)
        self.continuator: Continuator | AbcContinuator | VaeContinuator = (
            AbcContinuator(model) if kind == "abc" else VaeContinuator(model) if kind == "vae" else Continuator(model))
        self._sounding: dict[tuple[int, int], list[_Sounding]] = {}
        self._sustained: dict[tuple[int, int], list[_Sounding]] = {}
        self._pedal: set[int] = set()
        self._phrase: _Phrase | None = None
        self.silence_tick: float | None = None
        self.pending: Answer | None = None  # prepared during the silence, not yet committed
        self.answers: list[Answer] = []  # committed answers still being sampled

    # ------------------------------------------------------------------ state

    @property
    def in_phrase(self) -> bool:
        """A phrase is open (notes heard, its end not reached)."""
        return self._phrase is not None

    @property
    def sounding(self) -> bool:
        """Some note sounds (key down, or held by the pedal)."""
        return any(self._sounding.values()) or any(self._sustained.values())

    def reset(self) -> list[Answer]:
        """Forget the phrase, the model's state and every answer; returns the answers dropped (to cancel)."""
        self._sounding.clear()
        self._sustained.clear()
        self._pedal.clear()
        self._phrase = None
        self.silence_tick = None
        dropped = [*self.answers, *([self.pending] if self.pending is not None else [])]
        self.pending = None
        self.answers = []
        return dropped

    def forget(self) -> None:
        """Clear the session memory (the LSTM's, the ABC model's or the VAE's)."""
        forget = getattr(self.continuator, "forget", None)
        if forget is not None:
            forget()

    def discard(self) -> Answer | None:
        """Drop the answer prepared during the silence (the player went on); returns it, or None."""
        answer, self.pending = self.pending, None
        return answer

    # ------------------------------------------------------------------ hearing

    def note_on(self, tick: float, channel: int, pitch: int, velocity: int, grid: Grid) -> Heard:
        """A note-on (velocity >= 1) at pulse-grid position ``tick``.

        On :data:`Heard.RESUMED` the caller discards the prepared answer (:meth:`discard`).
        """
        heard = Heard.NOTE
        if self._phrase is None:
            self._begin(tick, grid)
            heard = Heard.NEW_PHRASE
        elif self.silence_tick is not None:
            heard = Heard.RESUMED
            self.silence_tick = None
        key = (channel, pitch)
        self._sounding.setdefault(key, []).append(_Sounding(tick, velocity))
        return heard

    def note_off(self, tick: float, channel: int, pitch: int) -> bool:
        """A note-off (or note-on of velocity 0); True if silence began with it.

        A note-off for a key that is not sounding is ignored.
        """
        stack = self._sounding.get((channel, pitch))
        if not stack:
            return False
        sounding = stack.pop(0)
        if channel in self._pedal:
            self._sustained.setdefault((channel, pitch), []).append(sounding)
            return False
        self._complete(sounding, tick, channel, pitch)
        return self._after_release(tick)

    def pedal(self, tick: float, channel: int, down: bool) -> bool:
        """Sustain pedal of ``channel`` down or up; True if silence began with its release."""
        if down:
            self._pedal.add(channel)
            return False
        self._pedal.discard(channel)
        released = [(key, notes) for key, notes in self._sustained.items() if key[0] == channel and notes]
        if not released:
            return False
        for (ch, pitch), notes in released:
            for sounding in notes:
                self._complete(sounding, tick, ch, pitch)
            del self._sustained[(ch, pitch)]
        return self._after_release(tick)

    def release(self, tick: float, channel: int | None = None) -> bool:
        """Close every note sounding on ``channel`` (None: all), keys and pedal alike; True if
        silence began with it. For CC 120/123, and for notes held past the hold limit."""
        closed = False
        for held in (self._sounding, self._sustained):
            for key in [k for k in held if channel is None or k[0] == channel]:
                for sounding in held.pop(key):
                    self._complete(sounding, tick, key[0], key[1])
                    closed = True
        if channel is None:
            self._pedal.clear()
        else:
            self._pedal.discard(channel)
        return self._after_release(tick) if closed else False

    def _begin(self, tick: float, grid: Grid) -> None:
        start = self._model_tick(tick)
        bar = grid.ticks_per_bar // self.ticks_per_model_tick
        self.continuator.reset(origin=start - start % bar if bar > 0 else start)
        self._phrase = _Phrase(first_tick=tick)
        self.silence_tick = None

    def _model_tick(self, tick: float) -> int:
        return max(0, round(tick / self.ticks_per_model_tick))

    def _complete(self, sounding: _Sounding, tick: float, channel: int, pitch: int) -> None:
        phrase = self._phrase
        if phrase is None:
            return
        start = max(self._model_tick(sounding.start), self.continuator.origin)
        end = self._model_tick(tick)
        note = Note(start, pitch, max(1, end - start), max(1, min(127, sounding.velocity)), channel)
        phrase.notes.append(note)
        phrase.seq += 1
        heapq.heappush(phrase.ready, (note.start, -note.pitch, phrase.seq, note))

    def _after_release(self, tick: float) -> bool:
        self._feed_ready()
        if self.sounding or self._phrase is None:
            return False
        self.silence_tick = tick
        return True

    def _feed_ready(self) -> None:
        """Feed complete notes that no sounding note started before (by onset, highest pitch first)."""
        phrase = self._phrase
        if phrase is None:
            return
        open_starts = [self._model_tick(s.start) for notes in (*self._sounding.values(), *self._sustained.values())
                       for s in notes]
        limit = min(open_starts) if open_starts else None
        fed_onset: int | None = None
        while phrase.ready and (limit is None or phrase.ready[0][0] < limit):
            start, _, _, note = heapq.heappop(phrase.ready)
            if self.prompt == "top" and start == fed_onset:
                continue  # a lower note of an onset already fed
            self.continuator.feed(note)
            fed_onset = start

    # ------------------------------------------------------------------ answering

    def prepare(self, group: Any, end_tick: float, start: str, answer_bars: int, grid: Grid,
                params: SamplingParams, rng: np.random.Generator, channel: int) -> Answer:
        """Set up the answer to the phrase heard so far, ending at ``end_tick`` (pulse grid).

        Raises:
            RepresentationError: the model cannot answer (a chord model with no note fed).
        """
        self._feed_ready()
        model_grid = Grid(self.model.codec.grid.ticks_per_beat, grid.numerator, grid.denominator)
        length = answer_bars * model_grid.ticks_per_bar
        steps = self.continuator.answer_steps(length, params, rng, channel, model_grid)
        first = answer_start(end_tick, start, grid, self.ticks_per_model_tick)
        self.pending = Answer(group, end_tick, first, length * self.ticks_per_model_tick, steps,
                              self.ticks_per_model_tick)
        return self.pending

    def answer_now(self, tick: float, grid: Grid) -> None:
        """End the phrase at ``tick`` (``/antiphon/generate``): what sounds is cut there; no phrase: start from nothing."""
        if self._phrase is None:
            self._begin(tick, grid)
        for (channel, pitch), notes in list(self._sounding.items()) + list(self._sustained.items()):
            for sounding in notes:
                self._complete(sounding, tick, channel, pitch)
        self._sounding.clear()
        self._sustained.clear()
        phrase = self._phrase
        assert phrase is not None
        while phrase.ready:
            self.continuator.feed(heapq.heappop(phrase.ready)[3])
        self.silence_tick = tick

    def phrase_notes(self) -> list[Note]:
        """The notes of the phrase heard so far (pulse grid), for its key."""
        return list(self._phrase.notes) if self._phrase is not None else []

    def working(self) -> bool:
        """Some answer is still being sampled."""
        return any(not a.done for a in self.answers) or (self.pending is not None and not self.pending.done)

    def advance(self, max_events: int) -> tuple[Answer, list[Note]] | None:
        """Sample up to ``max_events`` more events of the oldest answer still being sampled.

        Committed answers come first (they are due sooner), then the one prepared in the silence.

        Returns:
            The answer and the notes it made (absolute pulse-grid positions), or None when no
            answer is being sampled.
        """
        self.answers = [a for a in self.answers if not a.done]
        candidates = [*self.answers, *([self.pending] if self.pending is not None else [])]
        answer = next((a for a in candidates if not a.done and a.steps is not None), None)
        if answer is None or answer.steps is None:
            return None
        made: list[Note] = []
        scale = answer.ticks_per_model_tick
        steps = answer.steps
        for _ in range(max_events):
            try:
                notes = next(steps)
            except StopIteration:
                answer.done = True
                answer.steps = None
                break
            for n in notes:
                made.append(Note(answer.start_tick + n.start * scale, n.pitch, n.duration * scale, n.velocity,
                                 n.channel))
        answer.notes_made += len(made)
        return answer, made

    def commit(self) -> PhraseInfo:
        """The phrase end was reached: the answer stands, the phrase is over; report the phrase."""
        phrase = self._phrase
        notes = phrase.notes if phrase is not None else []
        first = phrase.first_tick if phrase is not None else 0.0
        end = self.silence_tick if self.silence_tick is not None else first
        info = PhraseInfo(len(notes), max(0.0, (end - first) / MIDI_CLOCK_PPQN), estimate_key(notes))
        if self.pending is not None:
            self.pending.committed = True
            self.answers.append(self.pending)
            self.pending = None
        self._phrase = None
        self.silence_tick = None
        return info
