"""Continue a phrase with a step model: feed the notes played, sample what comes next.

Works with any model object that has ``.codec`` (``note-events/1`` or ``chord/1``),
``.initial_state()`` and ``.step(token, state) -> (logits per field, state)`` -- the
onnxruntime :class:`daemon.models.lstm.LstmModel`, or a fake in tests.

Time is in grid ticks in the caller's frame (e.g. ticks since the start of a file); the
notes returned are in the same frame.

The continuation window (the rule :func:`continue_notes` and :meth:`Continuator.generate` use)
    * The prompt is encoded from its *origin*: its first onset floored to the bar line, so the
      model sees where in the bar the phrase starts (the first shift after BOS).
    * The continuation starts where the prompt ends: ``start`` = the last release of any
      prompt note. Notes the model samples before ``start`` (under a held prompt note) are
      fed back to the model but not returned.
    * It ends ``n_bars`` whole bars after the prompt's end *rounded up to the next bar line*
      (``align="bar"``, the default; ``align="beat"`` rounds to the next beat). A prompt that
      overhangs a bar line by at most a sixteenth note (:data:`ALIGN_SLACK_BEATS`) counts as
      ending on it, so a late release does not add an empty bar.
      Example, 4/4 at 12 ticks per beat: a prompt ending at beat 3 of bar 4 (tick 168) with
      ``n_bars=4`` gives the window [168, 384): the rest of bar 4, then bars 5-8.
    * Sampling stops at the first event that starts at or after the window's end; notes that
      would sound past it are shortened to end there.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal, Protocol

import numpy as np

from daemon.errors import RepresentationError
from daemon.models.session_memory import Recall, SessionMemory
from daemon.music.chords import ChordCodec, unchordify
from daemon.music.events import NoteEventCodec
from daemon.music.grid import DEFAULT_VELOCITY, Grid
from daemon.music.notes import Note
from daemon.music.sampling import SamplingParams, make_sampler

log = logging.getLogger(__name__)

# A prompt overhanging a bar line (or beat) by at most this many beats counts as ending on it.
ALIGN_SLACK_BEATS = 0.25
# Most prompt notes fed to the model; older ones are dropped (an LSTM's memory is short anyway).
MAX_PROMPT_NOTES = 2048
# Tokens kept so the sampler's polyphony/repetition rules see the recent past.
CONTEXT_EVENTS = 256
# Generation stops after this many events per beat of window (plus a floor), whatever the model does.
MAX_EVENTS_PER_BEAT = 32
MIN_MAX_EVENTS = 64
# An answer whose first note has not come this many bars after the phrase's end is silence.
MAX_ANSWER_WAIT_BARS = 2

Align = Literal["bar", "beat"]


class StepModel(Protocol):
    """What generation needs of a model."""

    codec: Any

    def initial_state(self) -> Any: ...

    def step(self, token: np.ndarray, state: Any) -> tuple[list[np.ndarray], Any]: ...


def first_token(codec: NoteEventCodec | ChordCodec) -> np.ndarray | None:
    """The token that primes the model before any note: BOS for note events, none for chords."""
    if isinstance(codec, NoteEventCodec):
        return codec.bos()
    return None


def continuation_window(prompt_end: int, n_bars: int, grid: Grid, align: Align = "bar") -> tuple[int, int]:
    """``(start, end)`` ticks of the continuation after a prompt that ends at ``prompt_end``.

    See the module docstring for the rule.
    """
    if n_bars < 1:
        raise RepresentationError(f"asked for {n_bars} bars; a continuation needs at least 1")
    if align not in ("bar", "beat"):
        raise RepresentationError(f"align must be 'bar' or 'beat', got {align!r}")
    unit = grid.ticks_per_bar if align == "bar" else grid.ticks_per_beat
    slack = int(ALIGN_SLACK_BEATS * grid.ticks_per_beat)
    boundary = max(0, -(-(prompt_end - slack) // unit) * unit)
    return prompt_end, boundary + n_bars * grid.ticks_per_bar


def _check_grid(grid: Grid | None, codec: NoteEventCodec | ChordCodec) -> Grid:
    if grid is None:
        return codec.grid
    if grid.ticks_per_beat != codec.grid.ticks_per_beat:
        raise RepresentationError(
            f"notes on a grid of {grid.ticks_per_beat} ticks per beat cannot go to a model trained at "
            f"{codec.grid.ticks_per_beat}; read the MIDI with ticks_per_beat={codec.grid.ticks_per_beat}")
    return grid


def _main_channel(notes: Iterable[Note]) -> int:
    counts = Counter(n.channel for n in notes)
    if not counts:
        return 0
    return min(counts, key=lambda ch: (-counts[ch], ch))


class Continuator:
    """A model's state kept warm over a phrase, and continuations sampled from it.

    Feed the notes played (in order of onset) with :meth:`feed`; the model is stepped as they
    come, so a continuation can start at once when the phrase ends. :meth:`generate` samples
    from a copy of the state and leaves the continuator as it was: feed whatever was really
    played afterwards (the answer too, if it should be remembered).

    Note events are fed one onset behind: notes starting at the same tick are held until a
    later onset arrives (or :meth:`flush`), so a chord goes in as the codec orders it. Chord
    models chordify what was fed at :meth:`flush` / :meth:`generate` time.

    Everything fed is also remembered in :attr:`memory` (:mod:`daemon.models.session_memory`),
    which :meth:`reset` keeps and :meth:`forget` clears; answers lean on it by the sampling
    parameters' ``memory`` weight (0: not at all).

    Args:
        model: a step model (see :class:`StepModel`).
        origin: the tick the token timeline starts at (a bar line at or before the first note).
        channel: MIDI channel (0-15) of generated notes.
    """

    def __init__(self, model: StepModel, origin: int = 0, channel: int = 0) -> None:
        codec = model.codec
        if not isinstance(codec, (NoteEventCodec, ChordCodec)):
            raise RepresentationError(f"cannot continue with a {type(codec).__name__} representation")
        self.model = model
        self.codec: NoteEventCodec | ChordCodec = codec
        self.channel = channel
        self.memory = SessionMemory(codec)
        self.reset(origin)

    def reset(self, origin: int = 0) -> None:
        """Forget everything fed; the next note starts a new phrase at ``origin`` or later."""
        self.origin = origin
        self.state = self.model.initial_state()
        self.logits: list[np.ndarray] | None = None
        self._time = 0  # ticks from origin: onset of the last event (note events) / end of the last segment (chords)
        self._end = origin  # tick where the notes fed so far stop sounding
        self._pending: list[Note] = []
        self._context: deque[tuple[int, np.ndarray]] = deque(maxlen=CONTEXT_EVENTS)  # (time before, token)
        self.events_fed = 0
        start = first_token(self.codec)
        if start is not None:
            self._step(start, advance=0)

    def forget(self) -> None:
        """Forget the session's memory (the phrase being fed stays)."""
        self.memory.forget()

    @property
    def end(self) -> int:
        """Tick at which the notes fed so far have all stopped sounding (``origin`` if none)."""
        return max([self._end, *(n.end for n in self._pending)])

    def _advance(self, token: np.ndarray) -> int:
        if isinstance(self.codec, NoteEventCodec):
            return int(token[0])
        return int(self.codec.vocabulary.durations[int(token[1])])

    def _step(self, token: np.ndarray, advance: int | None = None) -> None:
        self._context.append((self._time, token))
        self._time += self._advance(token) if advance is None else advance
        self.logits, self.state = self.model.step(token, self.state)
        self.memory.observe(token)
        self.events_fed += 1

    def feed(self, note: Note) -> None:
        """Add one played note (``start`` in ticks of the caller's frame, >= ``origin``).

        A note that starts before the last onset already given to the model cannot be
        encoded any more; it is logged and dropped.
        """
        if note.start < self.origin + self._time or note.start < self.origin:
            log.warning("dropped a note at tick %d: the phrase has moved on to tick %d",
                        note.start, self.origin + self._time)
            return
        if isinstance(self.codec, NoteEventCodec) and self._pending and note.start > self._pending[0].start:
            self.flush()
        self._pending.append(note)

    def feed_notes(self, notes: Iterable[Note]) -> None:
        """Feed several notes, sorted by onset then pitch first."""
        for note in sorted(notes, key=lambda n: (n.start, n.pitch)):
            self.feed(note)

    def flush(self) -> None:
        """Give the model every note fed but not yet encoded."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        tokens = self.codec.encode(pending, origin=self.origin + self._time)
        for token in tokens:
            self._step(np.asarray(token, np.int64))
        self._end = max([self._end, *(n.end for n in pending)])

    def _sampler(self, params: SamplingParams, rng: np.random.Generator) -> Any:
        sampler = make_sampler(self.codec, params, rng)
        if self._context:
            sampler.now = self._context[0][0]
            for _, token in self._context:
                sampler.observe(token)
        return sampler

    def generate(
        self,
        n_bars: int | None = None,
        params: SamplingParams | None = None,
        seed: int | np.random.Generator | None = None,
        start: int | None = None,
        end: int | None = None,
        grid: Grid | None = None,
        align: Align = "bar",
        channel: int | None = None,
    ) -> list[Note]:
        """Sample a continuation of what was fed.

        Args:
            n_bars: whole bars after the fed notes' end, rounded up by ``align`` (see the
                module docstring); or give ``end``.
            params: sampling parameters (defaults if None).
            seed: an int or a Generator; the same seed, params and feed give the same notes.
            start: earliest onset returned, in ticks (default: where the fed notes end).
            end: tick the continuation stops at (overrides ``n_bars``).
            grid: the meter bars are counted in (default: the model's grid).
            align: ``"bar"`` or ``"beat"``.
            channel: MIDI channel of the notes (default: the continuator's).

        Returns:
            Notes sorted by onset, all within ``[start, end)``.
        """
        self.flush()
        if self.logits is None:
            raise RepresentationError(f"a {self.codec.NAME} model needs at least one note to continue from")
        grid = _check_grid(grid, self.codec)
        params = params or SamplingParams()
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        prompt_end = self.end
        if end is None:
            if n_bars is None:
                raise RepresentationError("say how long the continuation is: n_bars or end")
            window_start, end = continuation_window(prompt_end, n_bars, grid, align)
        else:
            window_start = prompt_end
        window_start = window_start if start is None else start
        channel = self.channel if channel is None else channel
        begin, stop = window_start - self.origin, end - self.origin  # relative ticks
        max_events = max(MIN_MAX_EVENTS, MAX_EVENTS_PER_BEAT * -(-(stop - self._time) // grid.ticks_per_beat))

        sampler = self._sampler(params, rng)
        recall = Recall(self.memory, params.memory)
        logits, state = self.logits, self.state
        tokens: list[tuple[int, np.ndarray]] = []  # (onset in relative ticks, token)
        for _ in range(max_events):
            token = sampler.sample(recall.mix(logits))
            recall.push(token)
            onset = sampler.now if isinstance(self.codec, NoteEventCodec) else sampler.now - sampler.advance(token)
            if onset >= stop:
                break
            tokens.append((onset, token))
            logits, state = self.model.step(token, state)
        else:
            log.warning("stopped after %d events without reaching the end of the window (tick %d)",
                        max_events, end)
        notes = self._decode(tokens, channel)
        out = []
        for n in notes:
            if n.start < begin or n.start >= stop:
                continue
            out.append(Note(n.start + self.origin, n.pitch, min(n.duration, stop - n.start), n.velocity, channel))
        return sorted(out, key=lambda n: (n.start, n.pitch))

    def answer_steps(
        self,
        length: int,
        params: SamplingParams | None = None,
        seed: int | np.random.Generator | None = None,
        channel: int | None = None,
        grid: Grid | None = None,
    ) -> Iterator[list[Note]]:
        """Sample an *answer*: what the model plays after the fed notes, lasting ``length`` ticks from its first note.

        Unlike :meth:`generate`, time is relative to the answer: its first note starts at tick 0
        (the caller places it), the model's own timing follows, and every note ends by
        ``length``. The model is asked one event per ``next()``, so a caller can do other work
        between events; each step yields the notes that event made (note events: the note it
        is, if any; chords: all notes at the end, since a chord token can hold a pitch on).
        Notes the model samples before the fed notes' end (under the phrase) are fed back to
        it but not answered, as in :meth:`generate`. If no note comes within
        :data:`MAX_ANSWER_WAIT_BARS` bars after the phrase's end, the answer is silence.

        The setup (flush, sampler) runs now; the iterator only samples, from copies of the
        state, so :meth:`reset` may be called while an answer is still being sampled.

        Args:
            length: ticks from the answer's first note to its end (>= 1).
            params: sampling parameters (defaults if None).
            seed: an int or a Generator.
            channel: MIDI channel of the notes (default: the continuator's).
            grid: the meter (bars of waiting are counted in it; default: the model's grid).

        Raises:
            RepresentationError: a chord model with nothing fed, or ``length`` < 1.
        """
        if length < 1:
            raise RepresentationError(f"an answer lasts at least one tick, not {length}")
        self.flush()
        if self.logits is None:
            raise RepresentationError(f"a {self.codec.NAME} model needs at least one note to answer")
        grid = _check_grid(grid, self.codec)
        params = params or SamplingParams()
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        channel = self.channel if channel is None else channel
        begin = self.end - self.origin  # relative ticks: where the phrase stopped sounding
        max_wait = MAX_ANSWER_WAIT_BARS * grid.ticks_per_bar
        beats = -(-(length + max_wait + max(0, begin - self._time)) // grid.ticks_per_beat)
        max_events = max(MIN_MAX_EVENTS, MAX_EVENTS_PER_BEAT * beats)
        sampler = self._sampler(params, rng)
        recall = Recall(self.memory, params.memory)
        return self._answer_events(sampler, recall, self.logits, self.state, begin, length, max_wait, max_events,
                                   channel)

    def _answer_events(self, sampler: Any, recall: Recall, logits: list[np.ndarray], state: Any, begin: int,
                       length: int, max_wait: int, max_events: int, channel: int) -> Iterator[list[Note]]:
        codec = self.codec
        events = isinstance(codec, NoteEventCodec)
        model = self.model
        first: int | None = None
        segments: list[tuple[tuple[int, ...], int]] = []  # chords: (chord, duration) from the first sounding one
        for _ in range(max_events):
            token = sampler.sample(recall.mix(logits))
            recall.push(token)
            onset = sampler.now if events else sampler.now - sampler.advance(token)
            if first is None and onset - begin > max_wait:
                log.info("the model played nothing for %d ticks after the phrase: a silent answer", max_wait)
                break
            if first is not None and onset - first >= length:
                break
            logits, state = model.step(token, state)
            if events:
                pitch, duration, velocity = int(token[1]), int(token[2]), int(token[3])
                if pitch < 128 and onset >= begin:
                    first = onset if first is None else first
                    start = onset - first
                    vel = velocity if 1 <= velocity <= 127 else DEFAULT_VELOCITY
                    yield [Note(start, pitch, max(1, min(duration, length - start)), vel, channel)]
                    continue
                yield []
                continue
            assert isinstance(codec, ChordCodec)
            chord = codec.vocabulary.chords[int(token[0])]
            duration = int(codec.vocabulary.durations[int(token[1])])
            if first is None and (not chord or onset < begin):
                yield []
                continue
            first = onset if first is None else first
            segments.append((chord, min(duration, length - (onset - first))))
            yield []
        else:
            log.warning("stopped an answer after %d events without reaching its end", max_events)
        if segments:
            notes = unchordify(segments, origin=0, channel=channel)
            yield [n for n in notes if n.start < length]

    def _decode(self, tokens: Sequence[tuple[int, np.ndarray]], channel: int) -> list[Note]:
        """Notes (relative ticks) from sampled tokens and their onsets."""
        if not tokens:
            return []
        if isinstance(self.codec, NoteEventCodec):
            out = []
            for onset, (_, pitch, duration, velocity) in tokens:
                if 0 <= pitch < 128:
                    vel = int(velocity) if 1 <= velocity <= 127 else DEFAULT_VELOCITY
                    out.append(Note(onset, int(pitch), max(1, int(duration)), vel, channel))
            return out
        vocab = self.codec.vocabulary
        segments = [(vocab.chords[int(c)], vocab.durations[int(d)]) for _, (c, d) in tokens]
        return unchordify(segments, origin=tokens[0][0], channel=channel)


def prompt_origin(prompt: Sequence[Note], grid: Grid) -> int:
    """The bar line at or before the prompt's first onset (0 for an empty prompt)."""
    if not prompt:
        return 0
    first = min(n.start for n in prompt)
    return first - first % grid.ticks_per_bar


def continue_notes(
    model: StepModel,
    prompt: Sequence[Note],
    n_bars: int,
    params: SamplingParams | None = None,
    seed: int | None = None,
    grid: Grid | None = None,
    align: Align = "bar",
    channel: int | None = None,
) -> list[Note]:
    """Continue ``prompt`` for ``n_bars`` bars (see the module docstring for the window).

    Args:
        model: a step model; its codec encodes the prompt.
        prompt: the notes played, ticks in the caller's frame; may be empty for models with a
            start token (the model then starts from nothing at tick 0).
        n_bars: bars of continuation after the prompt's end rounded up to the bar.
        params: sampling parameters.
        seed: same seed, same prompt, same params -> same notes.
        grid: the prompt's grid (its meter counts the bars); ticks per beat must match the model.
        align: ``"bar"`` or ``"beat"``.
        channel: MIDI channel of the continuation (default: the prompt's most used channel).

    Returns:
        The continuation only, sorted by onset, in the prompt's frame.
    """
    grid = _check_grid(grid, model.codec)
    notes = sorted(prompt, key=lambda n: (n.start, n.pitch))
    if len(notes) > MAX_PROMPT_NOTES:
        log.info("the prompt has %d notes; the model hears the last %d", len(notes), MAX_PROMPT_NOTES)
        notes = notes[-MAX_PROMPT_NOTES:]
    continuator = Continuator(model, origin=prompt_origin(notes, grid),
                              channel=_main_channel(notes) if channel is None else channel)
    continuator.feed_notes(notes)
    prompt_end = max((n.end for n in prompt), default=0)
    start, end = continuation_window(prompt_end, n_bars, grid, align)
    return continuator.generate(params=params, seed=seed, start=start, end=end, grid=grid)

def prompt_mode(requested: str, model: Any) -> str:
    """``requested`` unless it is ``"auto"``; then ``"top"`` or ``"all"`` by the model (see above)."""
    if requested != "auto":
        return requested
    if isinstance(model.codec, ChordCodec):
        return "all"
    training = model.info.training if hasattr(model, "info") else {}
    voices = training.get("voices")  # what training learned from: "melody" or "all" pitched channels
    if voices in ("melody", "all"):
        return "top" if voices == "melody" else "all"
    polyphonic = training.get("polyphonic")
    if isinstance(polyphonic, bool):
        return "all" if polyphonic else "top"
    log.info("the model's metadata does not say whether it learned melodies or all voices; "
             "it hears every pitched note")
    return "all"
