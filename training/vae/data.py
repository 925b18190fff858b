"""Two-bar phrases of the folk tunes (or of another source's line: the chorales' soprano) for the phrase VAE.

Numpy only; no torch here.

The tunes come from the split files ``antiphon train data`` writes, read as the LSTM reads them
(:func:`training.lstm.data.load_pieces`: the melody line of each tune), so train, valid and
test phrases come from different tunes. A phrase is 96 ticks (two 4/4 bars, see
:mod:`daemon.music.phrases`); only tunes whose bar divides it into quarter-note beats are cut
(4/4, 2/2 and 2/4: a 2/4 phrase is four of its bars). Windows start on every 4/4 bar line
(``stride_bars``), so training phrases overlap by a bar; evaluation uses ``stride_bars = 2``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from daemon.music.events import NoteEventCodec
from daemon.music.grid import Grid
from daemon.music.notes import Note
from daemon.music.phrases import (
    BAR_BEATS,
    MAX_PHRASE_EVENTS,
    MIN_PHRASE_NOTES,
    cut_phrase,
    phrase_ticks,
    phrase_tokens,
)
from training.lstm.data import PAD, TrainingDataError, load_pieces

log = logging.getLogger(__name__)

PHRASE_METERS = frozenset({(4, 4), (2, 2), (2, 4)})  # bars that tile a 4/4 phrase in quarter-note beats
FOLK_SOURCES = ("oneills", "ryans", "airds")
SOURCE_GROUPS = {"folk": FOLK_SOURCES}  # a name on the command line that stands for several sources


def resolve_sources(text: str) -> tuple[str, ...]:
    """``"folk"`` -> the folk collections; ``"bach"`` -> ("bach",); comma-separated names joined."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise TrainingDataError(f"--source names one or more sources (folk, bach, ...), got {text!r}")
    return tuple(dict.fromkeys(s for n in names for s in SOURCE_GROUPS.get(n, (n,))))


@dataclass
class Phrase:
    """One phrase: its notes (from tick 0), tokens (end event last) and where it came from."""

    piece: str
    start: int
    notes: list[Note]
    tokens: np.ndarray  # (N + 1, 4) int64


@dataclass
class PhraseSplit:
    """The phrases of one split, and the counts of what was left out and why."""

    phrases: list[Phrase]
    pieces: int
    skipped: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        left = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())) or "none"
        return f"{len(self.phrases)} phrases from {self.pieces} tunes (left out: {left})"


def tune_phrases(piece_id: str, notes: Sequence[Note], grid: Grid, codec: NoteEventCodec, stride_bars: int,
                 skipped: Counter[str]) -> list[Phrase]:
    """The phrases of one tune, from its first bar line, every ``stride_bars`` 4/4 bars."""
    length = phrase_ticks(grid.ticks_per_beat)
    bar = grid.ticks_per_beat * BAR_BEATS
    if not notes:
        return []
    first = min(n.start for n in notes) // bar * bar
    last = max(n.start for n in notes)
    out = []
    for start in range(first, last + 1, bar * stride_bars):
        phrase = cut_phrase(notes, start, length)
        if len(phrase) < MIN_PHRASE_NOTES:
            skipped["fewer than 2 notes"] += 1
            continue
        tokens = phrase_tokens(codec, phrase)
        if len(tokens) > MAX_PHRASE_EVENTS:
            skipped[f"more than {MAX_PHRASE_EVENTS} events"] += 1
            continue
        out.append(Phrase(piece_id, start, phrase, tokens))
    return out


def load_phrases(data_dir: str | Path, split: str, codec: NoteEventCodec, stride_bars: int = 1,
                 sources: Sequence[str] = FOLK_SOURCES, limit_pieces: int | None = None,
                 voices: str = "melody") -> PhraseSplit:
    """Every phrase of ``split``'s tunes in the 4/4-compatible meters.

    Raises:
        TrainingDataError: the split files are missing (the message names the command that builds them).
    """
    pieces, notes = load_pieces(data_dir, sources, split, voices=voices)
    skipped: Counter[str] = Counter()
    phrases: list[Phrase] = []
    used = 0
    for piece, tune in zip(pieces, notes):
        if limit_pieces is not None and used >= limit_pieces:
            break
        meter = (piece.grid.numerator, piece.grid.denominator)
        if meter not in PHRASE_METERS or not piece.single_meter:
            skipped[f"tunes in {meter[0]}/{meter[1]}" if piece.single_meter else "tunes changing meter"] += 1
            continue
        if piece.grid.ticks_per_beat != codec.grid.ticks_per_beat:
            raise TrainingDataError(f"{piece.id} has {piece.grid.ticks_per_beat} ticks per beat, the codec "
                                    f"{codec.grid.ticks_per_beat}; rebuild the data with `antiphon train data`")
        used += 1
        phrases.extend(tune_phrases(piece.id, tune, piece.grid, codec, stride_bars, skipped))
    if not phrases:
        raise TrainingDataError(f"the {split!r} split in {data_dir} has no 2-bar phrases in 4/4, 2/2 or 2/4")
    return PhraseSplit(phrases, used, skipped)


def allowed_shift(tokens: np.ndarray, bounds: tuple[int, int]) -> tuple[int, int]:
    """The part of ``bounds`` (semitones) that keeps every pitch of ``tokens`` in 0-127."""
    pitches = tokens[:, 1][tokens[:, 1] < 128]
    if len(pitches) == 0:
        return 0, 0
    low, high = max(bounds[0], -int(pitches.min())), min(bounds[1], 127 - int(pitches.max()))
    return (low, high) if low <= high else (0, 0)


def batch_arrays(token_lists: Sequence[np.ndarray], codec: NoteEventCodec,
                 shifts: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pad phrases into one batch.

    Args:
        token_lists: each phrase's ``(N_i + 1, 4)`` tokens, end event last.
        codec: the phrases' codec (its BOS event starts the decoder input).
        shifts: optional semitones to move each phrase's notes by.

    Returns:
        ``enc (B, T, 4)`` encoder input (the phrase without its end event, 0-padded),
        ``lengths (B,)`` events per phrase (without the end event),
        ``dec_in (B, T + 1, 4)`` decoder input (BOS, then the phrase),
        ``targets (B, T + 1, 4)`` decoder targets (the phrase, then the end event; :data:`PAD`
        where ignored: padding, and the duration and velocity of rests and of the end event, and
        the end event's shift).
    """
    n = len(token_lists)
    longest = max(len(t) for t in token_lists)  # events + end
    enc = np.zeros((n, longest - 1, 4), np.int64)
    dec_in = np.zeros((n, longest, 4), np.int64)
    targets = np.full((n, longest, 4), PAD, np.int64)
    lengths = np.zeros(n, np.int64)
    for i, tokens in enumerate(token_lists):
        tokens = tokens.copy()
        if shifts is not None and shifts[i]:
            pitched = tokens[:, 1] < 128
            tokens[pitched, 1] += shifts[i]
        body = tokens[:-1]
        lengths[i] = len(body)
        enc[i, : len(body)] = body
        dec_in[i, 0] = codec.bos()
        dec_in[i, 1 : len(tokens)] = body
        target = tokens.copy()
        none = target[:, 1] >= 128  # rests and the end event
        target[none, 2:] = PAD
        target[-1, 0] = PAD
        targets[i, : len(tokens)] = target
    return enc, lengths, dec_in, targets
