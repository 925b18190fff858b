"""Session memory: a cache n-gram over what the player played this session, mixed into a step model's answers.

An LSTM answers from what it learned and from the phrase it has just heard (each phrase starts it
afresh). :class:`SessionMemory` remembers the player's own material across phrases: for each token
field (``note-events/1``: shift, pitch, duration, velocity) it counts which value followed the
values of that field before it (up to :data:`MEMORY_ORDER` - 1 of them), over the last
:data:`MEMORY_EVENTS` events the player played (each with the n-grams that end on it). At sampling time the model's next-token
distribution ``p`` of each field is mixed with the memory's ``c``, log-linearly::

    p' = p ** (1 - weight) * c ** weight / Z        (:func:`mix_log_probs`)

``weight`` is the live parameter ``memory`` (0 = off: the model's logits pass through untouched).
``c`` is a Witten-Bell interpolated n-gram of orders 1 to :data:`MEMORY_ORDER` whose lowest level
backs off to ``p`` itself, not to a uniform guess: where the memory has seen little (a new
phrase, an unheard context) ``c`` stays close to the model and the answer with it; where the
player has repeated a turn, ``c`` leans on it. The log-linear mix predicted the second halves of
the folk tunes' validation split better than mixing probabilities, and order 6 better than 2-5
(8 and 12 gained 0.02 bits at more cost per step; ``antiphon train memory-eval``, figures in
``docs/models/folk-events.md``).

What is remembered: every token the model is fed as the player's phrase (so with
``prompt = "top"``, the top line), never the answers (an answer counted back would feed on itself).
A BOS token (each phrase's start) ends the n-gram context, so no n-gram spans two phrases. A REST
event has no duration or velocity, so it counts in the shift and pitch fields only.

The ABC model's answers (:class:`~daemon.models.abc_answer.AbcContinuator`) keep a memory of
text: one field (:class:`Characters`), each phrase's body as the model is given it (its notes
written in ABC), each phrase a context of its own (:meth:`SessionMemory.begin`).

Who keeps it: the continuator of the respond part (the LSTM's or the ABC model's). A new
phrase (the continuator's ``reset``), ``/antiphon/reset`` and a panic keep the memory;
``/antiphon/forget`` clears it; a preset or mode switch builds a new continuator, so a fresh memory.

Not thread-safe: the engine thread owns it, with the continuator that holds it.
This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from daemon.music.chords import ChordCodec
from daemon.music.events import NoteEventCodec

MEMORY_ORDER = 6  # n-gram order: a value is predicted from up to the 5 values of its field before it
MEMORY_EVENTS = 4096  # events remembered (a few hundred bars of melody); older ones are forgotten


@dataclass(frozen=True)
class Characters:
    """A vocabulary of ``size`` characters, one field (the ABC model's): a memory of text."""

    size: int

    @property
    def vocab_sizes(self) -> tuple[int]:
        return (self.size,)


class SessionMemory:
    """Counts of the player's tokens, per field, and the cache distribution they give.

    Args:
        codec: the model's token representation (its fields and vocabulary sizes).
        order: n-gram order (1 = how often each value was played, 2 = given the one before, ...).
        max_events: events remembered; the oldest are forgotten first.
    """

    def __init__(self, codec: NoteEventCodec | ChordCodec | Characters, order: int = MEMORY_ORDER,
                 max_events: int = MEMORY_EVENTS) -> None:
        if order < 1 or max_events < 1:
            raise ValueError(f"order and max_events must be at least 1, got {order} and {max_events}")
        self.codec = codec
        self.order = order
        self.max_events = max_events
        self.vocab_sizes: tuple[int, ...] = tuple(int(v) for v in codec.vocab_sizes)
        self._events = isinstance(codec, NoteEventCodec)
        n = len(self.vocab_sizes)
        # per field: context (tuple of earlier values of that field) -> {value: count}, and its total
        self._counts: list[dict[tuple[int, ...], dict[int, int]]] = [{} for _ in range(n)]
        self._totals: list[dict[tuple[int, ...], int]] = [{} for _ in range(n)]
        self._added: deque[list[tuple[int, tuple[int, ...], int]]] = deque()  # per event: (field, context, value)
        self.context = self.empty_context()

    def empty_context(self) -> list[list[int]]:
        """A context with nothing before it (the start of a phrase)."""
        return [[] for _ in self.vocab_sizes]

    @property
    def events(self) -> int:
        """Events remembered."""
        return len(self._added)

    def forget(self) -> None:
        """Forget everything played (``/antiphon/forget``)."""
        for table in (*self._counts, *self._totals):
            table.clear()
        self._added.clear()
        self.context = self.empty_context()

    def fields_of(self, token: Sequence[int] | np.ndarray) -> list[tuple[int, int]]:
        """``(field, value)`` pairs a token carries (a REST's duration and velocity carry none)."""
        values = [int(v) for v in token]
        if self._events and values[1] >= NoteEventCodec.REST:
            return [(0, values[0]), (1, values[1])]
        return list(enumerate(values))

    def begin(self) -> None:
        """A new phrase: the n-gram context starts afresh (what a BOS token does for note events)."""
        self.context = self.empty_context()

    def push(self, context: list[list[int]], token: Sequence[int] | np.ndarray) -> None:
        """Move ``context`` past ``token`` (a BOS starts it afresh); counts nothing."""
        if self._events and int(token[1]) == NoteEventCodec.BOS:
            for history in context:
                history.clear()
            return
        keep = self.order - 1
        for field, value in self.fields_of(token):
            history = context[field]
            history.append(value)
            if len(history) > keep:
                del history[: len(history) - keep]

    def observe(self, token: Sequence[int] | np.ndarray) -> None:
        """Remember one token the player played (the model was fed it), and move the context past it."""
        if self._events and int(token[1]) == NoteEventCodec.BOS:
            self.push(self.context, token)
            return
        added = []
        for field, value in self.fields_of(token):
            history = self.context[field]
            for k in range(min(len(history), self.order - 1) + 1):
                ctx = tuple(history[len(history) - k:])
                table = self._counts[field].setdefault(ctx, {})
                table[value] = table.get(value, 0) + 1
                totals = self._totals[field]
                totals[ctx] = totals.get(ctx, 0) + 1
                added.append((field, ctx, value))
        self._added.append(added)
        self.push(self.context, token)
        if len(self._added) > self.max_events:
            self._drop(self._added.popleft())

    def _drop(self, added: list[tuple[int, tuple[int, ...], int]]) -> None:
        for field, ctx, value in added:
            table = self._counts[field][ctx]
            table[value] -= 1
            if not table[value]:
                del table[value]
            totals = self._totals[field]
            totals[ctx] -= 1
            if not totals[ctx]:
                del totals[ctx]
                del self._counts[field][ctx]

    def cache_probs(self, field: int, history: Sequence[int], base: np.ndarray) -> np.ndarray:
        """The memory's distribution ``c`` of ``field`` after ``history`` (that field's values before).

        Witten-Bell interpolation from the shortest context up, starting from ``base`` (the
        model's own probabilities): at each order ``c = (counts + types * c_lower) / (total + types)``;
        an order whose context was never played leaves ``c`` as it is, and so do all above it.

        Args:
            field: the token field's index.
            history: earlier values of that field, oldest first (only the last ``order - 1`` count).
            base: ``(V,)`` probabilities the memory backs off to (sums to 1).

        Returns:
            ``(V,)`` float64 probabilities summing to 1 (``base`` itself while nothing matches).
        """
        probs = np.asarray(base, np.float64)
        counts, totals = self._counts[field], self._totals[field]
        history = list(history)[len(history) - min(len(history), self.order - 1):]
        for k in range(len(history) + 1):
            ctx = tuple(history[len(history) - k:])
            total = totals.get(ctx)
            if not total:
                break
            table = counts[ctx]
            types = len(table)
            probs = probs * (types / (total + types))
            probs[np.fromiter(table, np.int64, types)] += np.fromiter(table.values(), np.float64, types) / (total + types)
        return probs

    def mix(self, logits: Sequence[np.ndarray], weight: float, context: list[list[int]] | None = None) -> list[np.ndarray]:
        """Each field's logits mixed with the memory (:func:`mix_log_probs`).

        Args:
            logits: per field ``(V_f,)`` (or ``(1, V_f)``) raw model logits.
            weight: 0-1; 0 (or nothing remembered) returns ``logits`` as they are.
            context: the values before the next token (default: what the player played last).

        Returns:
            per field ``(V_f,)`` float64 log-probabilities (normalised), or ``logits`` unchanged.
        """
        if weight <= 0.0 or not self._added:
            return list(logits)
        context = self.context if context is None else context
        out = []
        for field, raw in enumerate(logits):
            log_p = log_softmax(np.asarray(raw, np.float64).reshape(-1))
            out.append(mix_log_probs(log_p, self.cache_probs(field, context[field], np.exp(log_p)), weight))
        return out


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Natural-log probabilities from logits, over the last axis."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def mix_log_probs(log_p: np.ndarray, cache: np.ndarray, weight: float | np.ndarray) -> np.ndarray:
    """``log(p ** (1 - weight) * cache ** weight / Z)``: the model's and the memory's distributions, log-linearly.

    Args:
        log_p: ``(..., V)`` the model's log-probabilities.
        cache: ``(..., V)`` the memory's probabilities (:meth:`SessionMemory.cache_probs`: never 0
            where ``p`` is not).
        weight: 0-1, or an array that broadcasts against ``(..., 1)`` (several weights at once).

    Returns:
        ``(..., V)`` normalised log-probabilities; ``log_p`` itself at weight 0.
    """
    log_cache = np.log(np.maximum(cache, np.finfo(np.float64).tiny))  # an underflowed 0 stays finite
    return log_softmax((1.0 - weight) * log_p + weight * log_cache)


class Recall:
    """The memory as one answer is sampled: its own context, moved past each token sampled.

    The answer's tokens move the context (the n-grams follow the answer) but are not remembered.
    """

    def __init__(self, memory: SessionMemory, weight: float) -> None:
        self.memory = memory
        self.weight = weight
        self.context = [list(h) for h in memory.context]

    def mix(self, logits: Sequence[np.ndarray]) -> list[np.ndarray]:
        """:meth:`SessionMemory.mix` in this answer's context."""
        return self.memory.mix(logits, self.weight, self.context)

    def push(self, token: Sequence[int] | np.ndarray) -> None:
        """The answer went on with ``token``."""
        if self.weight > 0.0:
            self.memory.push(self.context, token)
