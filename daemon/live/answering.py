"""The respond part of the engine: hears phrases, prepares answers in the silence, plans their notes.

:class:`Answering` wraps a :class:`~daemon.live.respond.Responder` (which knows phrases and the
LSTM) with what the engine shares with it: the live state, the transport's grid and times, the
plan of notes to hand to the scheduler, the counters and the feedback. The engine calls it from
its one thread; nothing here blocks.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import mido
import numpy as np

from daemon.control.live_state import LiveState
from daemon.control.params import key_name
from daemon.control.presets import Preset
from daemon.errors import AntiphonError
from daemon.live.feedback import EngineCounts, Feedback
from daemon.live.input_notes import NoteEvent
from daemon.live.plan import Plan
from daemon.live.respond import Answer, Heard, Responder, phrase_end
from daemon.live.scheduler import PEDAL_DOWN_MIN, SUSTAIN_PEDAL, Scheduler
from daemon.live.transport import Transport
from daemon.models.vae_answer import VaeContinuator
from daemon.music.grid import MIDI_CLOCK_PPQN
from daemon.music.sampling import SamplingParams, resolve_key

log = logging.getLogger(__name__)

STEPS_PER_SLICE = 4  # model events sampled between two looks at the input queue
GENERATE = "/antiphon/generate"  # the address errors about answering are reported under


class Answering:
    """Call and response for the engine (see the module docstring).

    Args:
        responder: the phrase listener and LSTM continuator.
        transport: the engine's transport (grid and tick times).
        state: the live parameters.
        plan: where answer notes wait for the scheduler.
        scheduler: cancels the notes of a dropped answer.
        counts: the engine's counters.
        sampling: ``() -> SamplingParams`` from the live state.
        error: ``(address, message)`` reports a refusal over OSC.
        rng: the engine's random generator.
        groups: numbers for the answers' scheduler groups (the engine's, so they never repeat).
        feedback: OSC feedback (None: nothing is reported).
    """

    def __init__(self, responder: Responder, transport: Transport, state: LiveState, plan: Plan,
                 scheduler: Scheduler, counts: EngineCounts, sampling: Callable[[], SamplingParams],
                 error: Callable[[str, str], None], rng: np.random.Generator, groups: Iterator[int],
                 feedback: Feedback | None) -> None:
        self.responder = responder
        self._transport = transport
        self._state = state
        self._plan = plan
        self._scheduler = scheduler
        self._counts = counts
        self._sampling = sampling
        self._error = error
        self._rng = rng
        self._feedback = feedback
        self._groups = groups
        self.silence_began = False
        if isinstance(responder.continuator, VaeContinuator):  # an attribute the file lacks: said over OSC too
            responder.continuator.warn = lambda name, message: error(f"/antiphon/set/attribute_{name}", message)

    def working(self) -> bool:
        """Whether there is sampling to do now (the engine must not sleep)."""
        return self.silence_began or self.responder.working()

    def hear(self, tick: float, event: NoteEvent) -> None:
        """One note-on or note-off of the player (paired by :class:`~daemon.live.input_notes.InputNotes`)."""
        responder = self.responder
        if event.on:
            heard = responder.note_on(tick, event.channel, event.pitch, event.velocity, self._transport.grid)
            if heard is Heard.RESUMED:
                self.drop(responder.discard(), "the player went on")
        elif responder.note_off(tick, event.channel, event.pitch):
            self.silence_began = True  # the answer is prepared once the queue is read (see work())

    def pedal(self, tick: float, msg: mido.Message) -> None:
        """A control change of the player: the sustain pedal holds notes (other controllers are not heard)."""
        if msg.control == SUSTAIN_PEDAL and self.responder.pedal(tick, msg.channel, msg.value >= PEDAL_DOWN_MIN):
            self.silence_began = True

    def release(self, tick: float, channel: int | None = None) -> None:
        """Close the notes sounding on ``channel`` (None: all), pedal-held ones too."""
        if self.responder.release(tick, channel):
            self.silence_began = True

    def prepare(self, preset: Preset, end_tick: float | None = None) -> Answer | None:
        """Set up the answer as the silence begins (or now, on the next step, for /antiphon/generate)."""
        responder = self.responder
        if responder.silence_tick is None:
            return None
        values = self._state.snapshot()
        grid = self._transport.grid
        start = preset.respond.start
        if end_tick is None:
            end_tick = phrase_end(responder.silence_tick, preset.respond.phrase_end, values["phrase_end_beats"], grid)
        else:
            start = "step"
        try:
            params = resolve_key(self._sampling(), responder.phrase_notes())
            answer = responder.prepare(("answer", next(self._groups)), end_tick, start, values["answer_bars"], grid,
                                       params, self._rng, values["channel_out"])
        except AntiphonError as exc:
            self._counts.errors += 1
            log.warning("cannot answer: %s", exc)
            self._error(GENERATE, str(exc))
            return None
        log.debug("silence at tick %.1f: answer ready to start at tick %d", responder.silence_tick, answer.start_tick)
        return answer

    def deadline_tick(self) -> float | None:
        """The tick the phrase ends at, when an answer waits for it."""
        pending = self.responder.pending
        return None if pending is None else pending.end_tick

    def commit(self) -> None:
        """The phrase ended: the prepared answer is played."""
        responder = self.responder
        assert responder.pending is not None
        answer = responder.pending
        info = responder.commit()
        self._counts.phrases += 1
        self._counts.answers += 1
        key = info.key
        key_text = "no clear key" if key is None else f"key {key_name(key.root)}{'m' if key.minor else ''}"
        bar = self._transport.grid.ticks_per_bar
        log.info("phrase: %d notes, %.1f beats, %s -> answer of %d bars from bar %d beat %g",
                 info.n_notes, info.duration_beats, key_text, self._state.get("answer_bars"),
                 answer.start_tick // bar + 1, (answer.start_tick % bar) / MIDI_CLOCK_PPQN + 1)
        if self._feedback is not None:
            self._feedback.phrase(info.n_notes, info.duration_beats, None if key is None else key.root)
        if answer.done:
            self._done(answer)

    def _done(self, answer: Answer) -> None:
        self._counts.answer_notes += answer.notes_made
        if not answer.notes_made:
            self._counts.silent_answers += 1
        log.info("answer sent: %d notes on channel %d", answer.notes_made, self._state.get("channel_out") + 1)

    def drop(self, answer: Answer | None, why: str) -> None:
        """Forget an answer that was prepared and not played; cancel what of it was scheduled."""
        if answer is None:
            return
        self._plan.remove(answer.group)
        self._scheduler.cancel(answer.group)
        self._counts.discarded += 1
        log.debug("answer prepared in the silence dropped: %s", why)

    def respeculate(self, preset: Preset) -> None:
        """Parameters changed during a silence: prepare the answer again with them."""
        if self.responder.pending is not None:
            self.drop(self.responder.discard(), "parameters changed")
            self.prepare(preset)

    def answer_now(self, preset: Preset, now_tick: float) -> None:
        """``/antiphon/generate``: answer what was heard so far, from the first grid step at ``now_tick``."""
        self.drop(self.responder.discard(), "generate now")
        self.responder.answer_now(now_tick, self._transport.grid)
        if self.prepare(preset, end_tick=now_tick) is not None:
            self.commit()

    def reset(self) -> None:
        """Forget the phrase and the model's state; drop the answers not yet played."""
        for answer in self.responder.reset():
            if not answer.committed:
                self.drop(answer, "reset")

    def work(self, preset: Preset, until: Callable[[], bool]) -> None:
        """Prepare the answer if a silence began, then sample while ``until()`` is False.

        The answer is prepared here rather than at the note-off that began the silence: the
        loop reads every queued message first, so a silence that a queued note-on already ended
        (fast playing, a flood) costs nothing.
        """
        responder = self.responder
        if self.silence_began:
            self.silence_began = False
            if responder.silence_tick is not None and responder.pending is None:
                self.prepare(preset)
        while not until():
            step = responder.advance(STEPS_PER_SLICE)
            if step is None:
                return
            answer, notes = step
            self._plan.add(notes, answer.group)
            if answer.done and answer.committed:
                self._done(answer)

    def silence(self) -> None:
        """Everything stopped: forget the phrase (the plan and scheduler are cleared by the engine)."""
        self.silence_began = False
        self.responder.reset()
