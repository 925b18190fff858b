"""An ABC answer to a phrase: the phrase written as ABC, continued by the ABC model, read back as notes.

The phrase is written (:func:`daemon.music.abc_writer.body_text`) from the bar line before its
first note, in its estimated key (or the one given) and the grid's meter, with ``L:1/8``; the
model continues the text for ``answer_bars`` bar lines; the continuation is read back with
:func:`daemon.music.abc.parse_tune` (a try that does not parse is sampled again, a bounded number
of times, and counted) and its notes are returned in ticks from the bar line after the phrase.

Session memory (live parameter ``memory``): the :class:`AbcContinuator` remembers the body of
every phrase it is given, as written, in a cache n-gram of characters
(:mod:`daemon.models.session_memory`, order :data:`ABC_MEMORY_ORDER`), and the answer's characters
are drawn from the model's distribution mixed with the memory's: a player's turn of phrase
comes back in the answers, written as the phrase was.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from daemon.errors import RepresentationError
from daemon.models.abc import AbcModel, AbcSampling
from daemon.models.phrase_buffer import PhraseBuffer
from daemon.models.session_memory import Characters, Recall, SessionMemory
from daemon.music.abc import AbcError, parse_tune
from daemon.music.abc_keys import AbcKey, parse_abc_key
from daemon.music.abc_text import header_text, is_field_line
from daemon.music.abc_writer import body_text, key_for_notes
from daemon.music.grid import Grid
from daemon.music.notes import Note
from daemon.music.sampling import TEMPERATURE_RANGE, SamplingParams

log = logging.getLogger(__name__)

ABC_MEMORY_ORDER = 12  # characters: an n-gram sees up to the 11 before (chosen on the valid split, `antiphon train memory-eval`)


@dataclass(frozen=True)
class AbcAnswer:
    """Notes answering a phrase.

    Attributes:
        notes: the answer, ticks from the bar line after the phrase (0 = that bar line).
        prompt: the ABC text the model was given.
        text: the prompt and the continuation that was read.
        key: the key the phrase was written in.
        retries: tries thrown away because they did not parse.
    """

    notes: tuple[Note, ...]
    prompt: str
    text: str
    key: AbcKey
    retries: int


def phrase_prompt(phrase: Sequence[Note], grid: Grid, key: AbcKey | str | None = None) -> tuple[str, AbcKey, int]:
    """(ABC text of the phrase from the bar line before it, its key, whole bars it covers).

    Raises:
        AbcError: no notes.
    """
    if not phrase:
        raise AbcError("there is no phrase to answer")
    bar = grid.ticks_per_bar
    origin = min(n.start for n in phrase) // bar * bar
    notes = [Note(n.start - origin, n.pitch, n.duration, n.velocity, n.channel) for n in phrase]
    abc_key = key if isinstance(key, AbcKey) else (parse_abc_key(key) if key else key_for_notes(notes))
    header = header_text(f"{grid.numerator}/{grid.denominator}", abc_key.name(), length="1/8")
    bars = -(-max(n.end for n in notes) // bar)
    return header + body_text(notes, grid, abc_key, close=False), abc_key, bars


def answer_phrase(model: AbcModel, phrase: Sequence[Note], grid: Grid, answer_bars: int,
                  sampling: AbcSampling | None = None, seed: int | np.random.Generator | None = None,
                  key: AbcKey | str | None = None, channel: int = 0, velocity: int = 90,
                  memory: SessionMemory | None = None, weight: float = 0.0) -> AbcAnswer:
    """The model's answer to ``phrase``: ``answer_bars`` bars of notes after it.

    With ``memory`` (of :class:`~daemon.models.session_memory.Characters`), the phrase's body as
    written is remembered first (a context of its own), and with ``weight`` > 0 every try's
    characters lean on what the memory holds (:meth:`AbcModel.sample_text`).

    Raises:
        AbcError: no phrase, or no try of ``1 + sampling.retries`` parsed.
    """
    sampling = sampling or AbcSampling()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    prompt, abc_key, phrase_bars = phrase_prompt(phrase, grid, key)
    if memory is not None:
        remember_body(memory, model, prompt)
    bar_length = Fraction(grid.numerator, grid.denominator)
    begin, end = phrase_bars * bar_length, (phrase_bars + answer_bars) * bar_length
    ticks_per_whole = 4 * grid.ticks_per_beat
    failures: list[str] = []
    for _ in range(sampling.retries + 1):
        recall = Recall(memory, weight) if memory is not None and weight > 0.0 else None
        continuation, _complete = model.sample_text(prompt, sampling, rng, bars=answer_bars, recall=recall)
        text = prompt + continuation
        try:
            parsed = parse_tune(text)
        except AbcError as exc:
            failures.append(str(exc))
            continue
        notes = []
        for n in parsed.notes:
            if begin <= n.start < end:
                start = round((n.start - begin) * ticks_per_whole)
                stop = round((min(n.start + n.duration, end) - begin) * ticks_per_whole)
                notes.append(Note(start, n.pitch, max(1, stop - start), velocity, channel))
        if not notes:
            failures.append("the continuation has no notes")
            continue
        return AbcAnswer(tuple(notes), prompt, text, abc_key, len(failures))
    raise AbcError(f"no answer that parses in {len(failures)} tries (last: {failures[-1]})")


def remember_body(memory: SessionMemory, model: AbcModel, text: str) -> None:
    """Remember the body of ``text`` (its lines after the header's), from a context of its own."""
    memory.begin()
    lines = text.splitlines(keepends=True)
    body = "".join(lines[next((i for i, line in enumerate(lines) if not is_field_line(line)), len(lines)):])
    for ch in body:
        index = model.index.get(ch)
        if index is not None:
            memory.observe((index,))


class AbcContinuator(PhraseBuffer):
    """The ABC model as :class:`daemon.live.respond.Responder` uses a continuator: notes fed as
    they are played (model ticks, from ``origin``, a bar line), an answer asked for when the
    phrase ends. The answer is sampled whole on the iterator's first step (a few hundred
    characters: tens of milliseconds), placed so that its first note is at tick 0, and cut at
    ``length``. A phrase whose answer does not parse in the allowed tries is answered with
    silence and counted in :attr:`failures`.

    Not thread-safe: the engine thread is its only caller.
    """

    def __init__(self, model: AbcModel, origin: int = 0, channel: int = 0) -> None:
        self.model = model
        self.channel = channel
        self.retries = 0
        self.failures = 0
        self.memory = SessionMemory(Characters(len(model.vocabulary)), order=ABC_MEMORY_ORDER)
        self.reset(origin)

    def forget(self) -> None:
        """Forget the session's memory (the phrase being fed stays)."""
        self.memory.forget()


    def answer_steps(self, length: int, params: SamplingParams | None = None,
                     seed: int | np.random.Generator | None = None, channel: int | None = None,
                     grid: Grid | None = None) -> Iterator[list[Note]]:
        """The answer, ``length`` ticks from its first note (see the class docstring).

        Raises:
            RepresentationError: nothing was fed, or ``length`` < 1.
        """
        if length < 1:
            raise RepresentationError(f"an answer lasts at least one tick, not {length}")
        if not self.notes:
            raise RepresentationError("an ABC answer needs at least one note heard")
        params = params or SamplingParams()
        grid = grid or self.model.codec.grid
        phrase = [Note(n.start - self.origin, n.pitch, n.duration, n.velocity, n.channel) for n in self.notes]
        temperature = min(max(params.temperature, TEMPERATURE_RANGE[0]), TEMPERATURE_RANGE[1])
        sampling = AbcSampling(temperature=temperature, top_p=max(0.01, min(1.0, params.top_p)))
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        velocity = round(sum(n.velocity for n in phrase) / len(phrase))
        bars = -(-length // grid.ticks_per_bar)
        return self._steps(phrase, grid, bars, length, sampling, rng, self.channel if channel is None else channel,
                           velocity, params.memory)

    def _steps(self, phrase: list[Note], grid: Grid, bars: int, length: int, sampling: AbcSampling,
               rng: np.random.Generator, channel: int, velocity: int, memory: float) -> Iterator[list[Note]]:
        try:
            answer = answer_phrase(self.model, phrase, grid, bars, sampling, rng, channel=channel, velocity=velocity,
                                   memory=self.memory, weight=memory)
        except AbcError as exc:
            self.failures += 1
            log.warning("no ABC answer: %s", exc)
            return
        self.retries += answer.retries
        first = min(n.start for n in answer.notes)
        yield [Note(n.start - first, n.pitch, min(n.duration, length - (n.start - first)), n.velocity, n.channel)
               for n in answer.notes if n.start - first < length]
