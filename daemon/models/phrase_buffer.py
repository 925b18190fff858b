"""The phrase an answering model hears as a whole when the answer is asked for (the ABC model
writes it as text, the VAE encodes it): notes from the phrase's bar line on, fed as they end.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from daemon.music.notes import Note

log = logging.getLogger(__name__)


class PhraseBuffer:
    """The part of the continuator interface (:class:`daemon.models.continuator.Continuator`) that
    keeps the phrase: :meth:`reset`, :attr:`end`, :meth:`feed`, :meth:`feed_notes`, :meth:`flush`."""

    def reset(self, origin: int = 0) -> None:
        """A new phrase from bar line ``origin`` (ticks)."""
        self.origin = origin
        self.notes: list[Note] = []

    @property
    def end(self) -> int:
        return max([self.origin, *(n.end for n in self.notes)])

    def feed(self, note: Note) -> None:
        if note.start < self.origin:
            log.warning("dropped a note at tick %d, before the phrase's bar line %d", note.start, self.origin)
            return
        self.notes.append(note)

    def feed_notes(self, notes: Sequence[Note]) -> None:
        for note in sorted(notes, key=lambda n: (n.start, n.pitch)):
            self.feed(note)

    def flush(self) -> None:
        """Nothing to do: the phrase is read as a whole when the answer is asked for."""
