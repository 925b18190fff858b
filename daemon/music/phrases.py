"""Two-bar phrases as the phrase VAE reads and writes them, over ``note-events/1``.

A phrase is :data:`PHRASE_BARS` bars of 4/4 (:func:`phrase_ticks`: 96 ticks at 12 ticks per
beat), its notes timed from the phrase's first bar line. Training cuts phrases from tunes, the
offline commands take the last two bars of a file, the daemon decodes answers; all of them use
the functions here, so the model hears exactly what it learned from:

* :func:`cut_phrase` -- the notes starting inside a window, moved to start at tick 0, each cut
  at the window's end;
* :func:`last_phrase` -- the window that ends with the bar of a file's last onset;
* :func:`phrase_tokens` -- ``note-events/1`` tokens of a phrase, closed by :func:`end_event`
  (the codec's BOS class in the pitch field: the decoder's "this phrase is over");
* :func:`tokens_to_phrase` -- decoded tokens back to notes, stopping at the end event and at
  the phrase's end.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from daemon.errors import RepresentationError
from daemon.music.events import NoteEventCodec
from daemon.music.notes import Note

PHRASE_BARS = 2
BAR_BEATS = 4  # the phrase's bars are 4/4 bars, the daemon's default meter
MIN_PHRASE_NOTES = 2  # fewer notes carry no melody to encode
MAX_PHRASE_EVENTS = 64  # events (rests included) a phrase may hold; denser phrases are left out
END_PITCH = NoteEventCodec.BOS  # the pitch class that closes a phrase in the decoder's output


def phrase_ticks(ticks_per_beat: int, bars: int = PHRASE_BARS) -> int:
    """Length of a phrase in ticks: ``bars`` bars of 4/4."""
    return ticks_per_beat * BAR_BEATS * bars


def end_event() -> np.ndarray:
    """``(4,)`` the event that closes a phrase: shift 0, pitch :data:`END_PITCH`, no duration."""
    return np.array([0, END_PITCH, 0, 0], np.int64)


def cut_phrase(notes: Sequence[Note], start: int, length: int) -> list[Note]:
    """The notes starting in ``[start, start + length)``, timed from ``start`` and cut at its end."""
    out = []
    for n in sorted(notes, key=lambda n: (n.start, n.pitch)):
        if start <= n.start < start + length:
            onset = n.start - start
            out.append(Note(onset, n.pitch, min(n.duration, length - onset), n.velocity, n.channel))
    return out


def last_phrase(notes: Sequence[Note], ticks_per_bar: int, length: int) -> tuple[int, list[Note]]:
    """The phrase window that ends with the bar of the last onset: ``(start tick, phrase notes)``.

    The window starts on a bar line (a multiple of ``ticks_per_bar``) and never before the bar
    of the first note; a file shorter than a phrase gives the whole file.
    """
    if not notes:
        return 0, []
    first = min(n.start for n in notes) // ticks_per_bar * ticks_per_bar
    end = (max(n.start for n in notes) // ticks_per_bar + 1) * ticks_per_bar
    start = max(first, end - length)
    start -= start % ticks_per_bar
    return start, cut_phrase(notes, start, length)


def phrase_tokens(codec: NoteEventCodec, notes: Sequence[Note]) -> np.ndarray:
    """``(N + 1, 4)`` tokens of a phrase (notes from tick 0), the end event last."""
    return np.concatenate([codec.encode(notes, 0), end_event()[None]])


def tokens_to_phrase(codec: NoteEventCodec, tokens: np.ndarray, length: int, channel: int = 0) -> list[Note]:
    """Notes of decoded tokens up to the end event; onsets at or past ``length`` are dropped and
    durations cut at it."""
    tokens = np.asarray(tokens, np.int64).reshape(-1, 4)
    ends = np.flatnonzero(tokens[:, 1] == END_PITCH)
    if len(ends):
        tokens = tokens[: ends[0]]
    notes = codec.decode(tokens, 0, channel)
    return [Note(n.start, n.pitch, min(n.duration, length - n.start), n.velocity, n.channel)
            for n in notes if n.start < length]


def check_phrase(notes: Sequence[Note], what: str) -> None:
    """Raise :class:`RepresentationError` for a phrase with too few notes to encode."""
    if len(notes) < MIN_PHRASE_NOTES:
        raise RepresentationError(
            f"{what} has {len(notes)} note{'s' if len(notes) != 1 else ''} in its last {PHRASE_BARS} bars; "
            f"a phrase needs at least {MIN_PHRASE_NOTES} notes")
