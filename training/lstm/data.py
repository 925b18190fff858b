"""Training sequences for the LSTM: corpus pieces -> token sequences -> fixed-length windows.

What the model learns from is decided here, once, for training and evaluation alike:

* which notes of a piece count (every pitched channel for polyphonic sources such as the Bach
  chorales; only the ``melody`` channels for the folk collections);
* where a piece's token sequence starts: at the bar line before its first note, so the first
  shift says where in the bar the music begins, and (for ``note-events``) after a BOS event;
* the windows cut from each piece (``window`` inputs and the ``window`` targets one event
  later; consecutive windows overlap by ``window - stride`` events) and the random
  transposition applied per window on the training split.

Numpy only: this module must not import torch (the training loop hands :class:`WindowSet` to
a DataLoader with length-grouped batches, see :func:`length_grouped_batches`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from daemon.errors import AntiphonError
from daemon.music.chords import ChordCodec, ChordVocabulary, chordify
from daemon.music.events import NoteEventCodec
from daemon.music.grid import Grid
from daemon.music.notes import Chord, Note

if TYPE_CHECKING:
    from training.data.records import PieceRecord

log = logging.getLogger(__name__)

NOTE_EVENTS = NoteEventCodec.NAME
CHORD = ChordCodec.NAME
REPRESENTATIONS = (NOTE_EVENTS, CHORD)

PAD = -100  # target value the loss ignores (torch's default ignore_index)
MELODIC_SOURCES = frozenset({"oneills", "ryans", "airds", "essen"})  # single-line folk collections
UNPITCHED_ROLES = frozenset({"drums"})
MELODY_ROLE = "melody"
VOICES = ("auto", "all", "melody")  # which channels of a piece a model learns from
DEFAULT_TRANSPOSE = (-5, 6)  # semitones, inclusive: every key once around the circle
DEFAULT_MAX_CHORDS = 1500


class TrainingDataError(AntiphonError):
    """Training data that is missing or unusable; the message says which command builds it."""


# --------------------------------------------------------------------------------------------
# Pieces -> notes
# --------------------------------------------------------------------------------------------


def resolve_voices(voices: str, sources: Sequence[str]) -> str:
    """``auto`` -> ``melody`` when every source is a melodic folk collection, else ``all``."""
    if voices not in VOICES:
        raise TrainingDataError(f"unknown voices {voices!r}; use one of {', '.join(VOICES)}")
    if voices != "auto":
        return voices
    return "melody" if sources and all(s in MELODIC_SOURCES for s in sources) else "all"


def piece_notes(piece: PieceRecord, voices: str) -> list[Note]:
    """The notes of ``piece`` a model learns from, sorted by (start, pitch).

    Args:
        piece: a corpus piece.
        voices: ``all`` keeps every pitched channel (drums dropped), ``melody`` keeps channels
            whose role is ``melody`` (all pitched channels of a piece that names none); any other
            role name (``soprano``) keeps the channels of that role only (none in a piece without it).
    """
    roles = dict(piece.roles)
    pitched = {ch for ch, role in roles.items() if role not in UNPITCHED_ROLES}
    if voices == "melody":
        melody = {ch for ch, role in roles.items() if role == MELODY_ROLE}
        keep = melody or pitched
    elif voices == "all":
        keep = pitched
    else:
        keep = {ch for ch, role in roles.items() if role == voices}
    notes = [n for n in piece.notes if (n.channel in keep if roles else True)]
    return sorted(notes, key=lambda n: (n.start, n.pitch, n.channel))


def bar_origin(notes: Sequence[Note], grid: Grid) -> int:
    """Tick of the bar line at or before the first note (0 for no notes)."""
    if not notes:
        return 0
    first = min(n.start for n in notes)
    return first - first % grid.ticks_per_bar


# --------------------------------------------------------------------------------------------
# Codecs and encoding
# --------------------------------------------------------------------------------------------


def ticks_per_beat_of(pieces: Iterable[PieceRecord]) -> int:
    """The one grid resolution every piece shares; raises if they differ."""
    found = {p.grid.ticks_per_beat for p in pieces}
    if len(found) != 1:
        raise TrainingDataError(
            f"pieces use {sorted(found) or 'no'} ticks per beat; rebuild the data with one grid "
            "(antiphon train data ...)")
    return found.pop()


def build_codec(representation: str, train_notes: Sequence[Sequence[Note]], ticks_per_beat: int,
                max_chords: int = DEFAULT_MAX_CHORDS, transpose: tuple[int, int] | None = None,
                **codec_args: Any) -> NoteEventCodec | ChordCodec:
    """The codec a model is trained with; a chord vocabulary is fitted on ``train_notes`` only.

    Args:
        representation: ``note-events`` or ``chord``.
        train_notes: notes of each training piece (used by ``chord`` only).
        ticks_per_beat: grid resolution of the corpus.
        max_chords: most chords a chord vocabulary keeps, the rest included; rarer chords map
            to the nearest kept one.
        transpose: for ``chord``, fit the vocabulary on every transposition of the training
            pieces in this inclusive semitone range (the chords a transposed window can hold).
        codec_args: extra :class:`NoteEventCodec` arguments (``max_shift_ticks``, ...).
    """
    grid = Grid(ticks_per_beat)
    if representation == NOTE_EVENTS:
        return NoteEventCodec(grid, **codec_args)
    if representation == CHORD:
        pieces = [moved for notes in train_notes for _, moved in transpositions(notes, transpose)]
        vocabulary = ChordVocabulary.fit((chordify(notes) for notes in pieces), max_chords=max_chords)
        log.info("chord vocabulary: %d chords, %d durations", len(vocabulary.chords), len(vocabulary.durations))
        return ChordCodec(grid, vocabulary)
    raise TrainingDataError(f"unknown representation {representation!r}; use one of {', '.join(REPRESENTATIONS)}")


class ChordLookup:
    """:meth:`ChordVocabulary.chord_index` for many chords at once, with the same answers.

    The vocabulary's own method searches the nearest chord one query at a time (tens of
    milliseconds each); a corpus has thousands of unseen chords. Here every unseen chord of a
    batch is costed against every known one with matrix products of 0/1 indicators (the cost
    terms are multiples of 0.5, so the arithmetic is exact and ties break the same way) and
    answers are remembered.
    """

    def __init__(self, vocabulary: ChordVocabulary) -> None:
        self.vocabulary = vocabulary
        self._known: dict[Chord, int] = {c: i for i, c in enumerate(vocabulary.chords)}
        rows = np.zeros((len(vocabulary.chords) - 1, 256), np.float64)  # (V - 1, 256): the rest is never nearest
        for i, chord in enumerate(vocabulary.chords[1:]):
            rows[i, list(chord)] = 1.0
        struck, pitches, classes = self._planes(rows)
        self._struck_t, self._pitches_t, self._classes_t = (np.ascontiguousarray(a.T) for a in (struck, pitches, classes))
        self._n_pitches, self._n_classes = pitches.sum(1)[None], classes.sum(1)[None]  # (1, V - 1) each

    @staticmethod
    def _planes(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        struck = rows[:, :128]
        pitches = struck + rows[:, 128:]
        classes = np.pad(pitches, ((0, 0), (0, 4))).reshape(len(rows), 11, 12).max(1)
        return struck, pitches, classes

    def indices(self, chords: Sequence[Chord]) -> np.ndarray:
        """``(N,)`` vocabulary index of each chord (nearest known chord for unseen ones)."""
        unseen = sorted({c for c in chords if c not in self._known and c})
        if unseen and len(self.vocabulary.chords) > 1:
            query = np.zeros((len(unseen), 256), np.float64)
            for i, chord in enumerate(unseen):
                query[i, list(chord)] = 1.0
            q_struck, q_pitches, q_classes = self._planes(query)  # (M, 128), (M, 128), (M, 12)
            pitch_diff = q_pitches.sum(1)[:, None] + self._n_pitches - 2 * q_pitches @ self._pitches_t
            struck_flip = q_struck @ self._pitches_t + q_pitches @ self._struck_t - 2 * q_struck @ self._struck_t
            class_diff = q_classes.sum(1)[:, None] + self._n_classes - 2 * q_classes @ self._classes_t
            nearest = 1 + np.argmin(2.0 * pitch_diff + struck_flip + 0.5 * class_diff, axis=1)  # (M,)
            self._known.update(zip(unseen, nearest.tolist()))
        return np.array([self._known.get(c, 0) for c in chords], np.int64)

    def encode(self, notes: Sequence[Note], origin: int) -> np.ndarray:
        """Like :meth:`ChordCodec.encode`: ``(N, 2)`` (chord, duration) indices."""
        segments = chordify(notes, origin)
        chords = self.indices([c for c, _ in segments])
        durations = np.array([self.vocabulary.duration_index(d) for _, d in segments], np.int64)
        return np.stack([chords, durations], axis=1).reshape(-1, 2)


def transpositions(notes: Sequence[Note], bounds: tuple[int, int] | None) -> list[tuple[int, list[Note]]]:
    """``(semitones, notes)`` for every shift in the inclusive ``bounds`` that keeps all pitches
    in 0-127 (0 first); just ``(0, notes)`` when ``bounds`` is None."""
    out = [(0, list(notes))]
    if bounds is None or not notes:
        return out
    low, high = min(n.pitch for n in notes), max(n.pitch for n in notes)
    for k in range(bounds[0], bounds[1] + 1):
        if k != 0 and 0 <= low + k and high + k <= 127:
            out.append((k, [Note(n.start, n.pitch + k, n.duration, n.velocity, n.channel) for n in notes]))
    return out


def encode_piece(codec: NoteEventCodec | ChordCodec, notes: Sequence[Note], grid: Grid,
                 lookup: ChordLookup | None = None) -> np.ndarray:
    """One piece as ``(N, F)`` int64 tokens from the bar line before its first note.

    ``note-events`` sequences begin with the BOS event; ``chord`` sequences have none (pass a
    :class:`ChordLookup` of the codec's vocabulary to encode many pieces fast).
    """
    origin = bar_origin(notes, grid)
    if isinstance(codec, NoteEventCodec):
        return np.concatenate([codec.bos()[None], codec.encode(notes, origin)])  # (N + 1, 4)
    if lookup is not None:
        return lookup.encode(notes, origin)  # (N, 2)
    return codec.encode(notes, origin)  # (N, 2)


def ignored_none_fields(codec: NoteEventCodec | ChordCodec) -> tuple[int, ...]:
    """Fields whose value 0 means "none" (REST/BOS duration and velocity) and is not a target."""
    if isinstance(codec, NoteEventCodec):
        return (codec.FIELDS.index("duration"), codec.FIELDS.index("velocity"))
    return ()


def note_event_mask(codec: NoteEventCodec | ChordCodec, tokens: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: which events are notes (every chord event counts as one)."""
    if isinstance(codec, NoteEventCodec):
        return tokens[:, 1] < 128
    return np.ones(len(tokens), bool)


def targets_of(codec: NoteEventCodec | ChordCodec, tokens: np.ndarray) -> np.ndarray:
    """Targets for the loss: ``tokens`` with "none" fields and padding set to :data:`PAD`."""
    targets = tokens.copy()
    for f in ignored_none_fields(codec):
        targets[targets[:, f] == 0, f] = PAD
    return targets


# --------------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------------


@dataclass
class WindowSet:
    """Fixed-length training windows over encoded pieces, indexable like a torch Dataset.

    Item ``i`` is ``(inputs, targets)``, each ``(window, F)`` int64: ``inputs`` are events
    ``s .. s+window-1`` of one piece, ``targets`` the events one later with "none" fields and
    padding (past a piece's end) set to :data:`PAD`; padded inputs are 0.

    Attributes:
        sequences: each piece's ``(N_i, F)`` tokens.
        codec: the codec that made them.
        window: events per window (model inputs).
        stride: events between consecutive window starts in a piece.
        transpose: inclusive semitone range drawn uniformly per window, narrowed so every pitch
            stays within 0-127; None leaves pitches alone. ``note-events`` tokens are moved
            directly; ``chord`` windows pick one of the piece's :attr:`variants`.
        seed: with :attr:`epoch` and the item index, fixes each window's transposition.
        epoch: set by the training loop so each epoch draws new transpositions.
        variants: ``chord`` only: per piece, its tokens transposed by each shift of ``transpose``
            that stays in range (see :func:`encode_variants`); same lengths as ``sequences``.
    """

    sequences: list[np.ndarray]
    codec: NoteEventCodec | ChordCodec
    window: int
    stride: int
    transpose: tuple[int, int] | None = None
    seed: int = 0
    epoch: int = 0
    variants: list[list[np.ndarray]] | None = None

    def __post_init__(self) -> None:
        if self.window < 1 or self.stride < 1:
            raise TrainingDataError(f"window ({self.window}) and stride ({self.stride}) must be at least 1")
        if self.transpose is not None and not isinstance(self.codec, NoteEventCodec) and self.variants is None:
            raise TrainingDataError("chord windows are transposed by picking pre-encoded variants; pass variants")
        starts = []
        for p, seq in enumerate(self.sequences):
            last = max(0, len(seq) - 1 - self.window)  # start of the window that ends the piece
            for s in [*range(0, last, self.stride), last]:
                if len(seq) >= 2:
                    starts.append((p, s))
        self.starts = np.array(sorted(set(starts)), np.int64).reshape(-1, 2)  # (W, 2) piece, start
        self.n_fields = len(self.codec.FIELDS)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        piece, start = (int(v) for v in self.starts[i])
        chunk = self.sequences[piece][start:start + self.window + 1].copy()  # (<= window + 1, F)
        if self.transpose is not None:
            rng = np.random.default_rng((self.seed, self.epoch, i))
            if self.variants is not None:
                options = self.variants[piece]
                chunk = options[int(rng.integers(len(options)))][start:start + self.window + 1].copy()
            else:
                shift = int(rng.integers(*_allowed_shift(chunk, self.transpose), endpoint=True))
                chunk = transpose_tokens(chunk, shift)
        inputs = np.zeros((self.window, self.n_fields), np.int64)
        targets = np.full((self.window, self.n_fields), PAD, np.int64)
        inputs[: len(chunk) - 1] = chunk[:-1]
        targets[: len(chunk) - 1] = targets_of(self.codec, chunk[1:])
        return inputs, targets

    @property
    def n_events(self) -> int:
        """Events in the underlying pieces (each counted once, BOS included)."""
        return int(sum(len(s) for s in self.sequences))

    def lengths(self) -> np.ndarray:
        """``(W,)`` targets in each window (the rest is padding)."""
        sizes = np.array([len(s) for s in self.sequences], np.int64)
        return np.minimum(self.window, sizes[self.starts[:, 0]] - 1 - self.starts[:, 1])


def length_grouped_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                           group_batches: int = 32) -> list[list[int]]:
    """Shuffled batches of window indices whose windows have similar lengths.

    Indices are shuffled, cut into groups of ``group_batches`` batches, sorted by length inside
    each group and cut into batches; the batches are shuffled again. Padding per batch shrinks
    (see :func:`trim_batch`) while the order stays random.
    """
    order = rng.permutation(len(lengths))
    batches: list[list[int]] = []
    span = batch_size * group_batches
    for g in range(0, len(order), span):
        group = order[g:g + span]
        group = group[np.argsort(-lengths[group], kind="stable")]
        batches.extend(group[b:b + batch_size].tolist() for b in range(0, len(group), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def trim_batch(inputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the time steps every window of a ``(B, T, F)`` batch only pads."""
    used = (targets != PAD).any(axis=(0, 2))  # (T,)
    length = int(np.flatnonzero(used)[-1]) + 1 if used.any() else 1
    return inputs[:, :length], targets[:, :length]


def _allowed_shift(tokens: np.ndarray, bounds: tuple[int, int]) -> tuple[int, int]:
    pitches = tokens[:, 1][tokens[:, 1] < 128]
    if len(pitches) == 0:
        return 0, 0
    low = max(bounds[0], -int(pitches.min()))
    high = min(bounds[1], 127 - int(pitches.max()))
    return (low, high) if low <= high else (0, 0)


def transpose_tokens(tokens: np.ndarray, semitones: int) -> np.ndarray:
    """``note-events`` tokens with every note's pitch moved by ``semitones`` (REST/BOS kept)."""
    out = tokens.copy()
    pitched = out[:, 1] < 128
    out[pitched, 1] += semitones
    if pitched.any() and not (0 <= out[pitched, 1].min() and out[pitched, 1].max() <= 127):
        raise TrainingDataError(f"transposing by {semitones} semitones leaves the MIDI range")
    return out


# --------------------------------------------------------------------------------------------
# Loading a corpus
# --------------------------------------------------------------------------------------------


@dataclass
class SplitData:
    """The pieces of one split for a model, as notes and as tokens.

    Attributes:
        pieces: corpus records, in the order of ``notes`` and ``tokens``.
        notes: the notes each piece contributes (see :func:`piece_notes`).
        tokens: each piece's ``(N_i, F)`` tokens.
    """

    pieces: list[PieceRecord]
    notes: list[list[Note]]
    tokens: list[np.ndarray]

    @property
    def n_events(self) -> int:
        return int(sum(len(t) for t in self.tokens))

    @property
    def n_note_events(self) -> int:
        return int(sum(len(n) for n in self.notes))


def encode_variants(codec: ChordCodec, data: SplitData, transpose: tuple[int, int]) -> list[list[np.ndarray]]:
    """Per piece of ``data``, its ``chord`` tokens at every in-range transposition (untransposed first)."""
    lookup = ChordLookup(codec.vocabulary)
    moved = [transpositions(n, transpose) for n in data.notes]
    lookup.indices([c for p, versions in zip(data.pieces, moved) for _, n in versions
                    for c, _ in chordify(n, bar_origin(n, p.grid))])  # resolve every unseen chord in one batch
    return [[encode_piece(codec, n, p.grid, lookup) for _, n in versions] for p, versions in zip(data.pieces, moved)]


def load_pieces(data_dir: str | Path, sources: Sequence[str], split: str, voices: str,
                min_notes: int = 8) -> tuple[list[PieceRecord], list[list[Note]]]:
    """Corpus pieces of ``split`` from every source with their selected notes.

    Pieces with fewer than ``min_notes`` selected notes are left out.

    Raises:
        TrainingDataError: the data folder or a source's split is missing.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise TrainingDataError(
            f"no training data in {root}; run `antiphon train data --source {','.join(sources)} --out {root}` first")
    from training.data.records import load_split  # imported only when asked, as the corpus modules are
    pieces: list[PieceRecord] = []
    notes: list[list[Note]] = []
    for source in sources:
        try:
            records = load_split(root, source, split)
        except FileNotFoundError as exc:
            raise TrainingDataError(
                f"no {split!r} split of {source!r} in {root} ({exc}); "
                f"run `antiphon train data --source {source} --out {root}` first") from exc
        dropped = 0
        for record in records:
            selected = piece_notes(record, voices)
            if len(selected) < min_notes:
                dropped += 1
                continue
            pieces.append(record)
            notes.append(selected)
        log.info("%s/%s: %d pieces (%d with fewer than %d notes left out)", source, split,
                 len(records) - dropped, dropped, min_notes)
    if not pieces:
        hint = "" if voices in ("all", "melody") else f" (no piece has {min_notes} notes in a part of the role {voices!r})"
        raise TrainingDataError(f"the {split!r} split of {', '.join(sources)} in {root} has no usable pieces{hint}")
    return pieces, notes


def encode_split(codec: NoteEventCodec | ChordCodec, pieces: list[PieceRecord],
                 notes: list[list[Note]]) -> SplitData:
    """Encode every piece of a split with ``codec``."""
    lookup = None
    if isinstance(codec, ChordCodec):
        lookup = ChordLookup(codec.vocabulary)
        lookup.indices([c for p, n in zip(pieces, notes) for c, _ in chordify(n, bar_origin(n, p.grid))])  # one batch
    tokens = [encode_piece(codec, n, p.grid, lookup) for p, n in zip(pieces, notes)]
    return SplitData(pieces, notes, tokens)
