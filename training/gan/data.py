"""Pianoroll bar pairs (previous bar, bar) for the GAN, from the cached corpora.

Two bar layouts (``pianoroll/1`` specs) are defined here, each stored in every checkpoint and
model file:

* grooves (mma library, optionally freedoom): drums / bass / chords, sixteenth-note steps;
* chorales (Bach): soprano / alto / tenor / bass, sixteenth-note steps.

Only 4/4 pieces are used; bars of other meters are counted and skipped. A piece's bars are
kept in order so that each bar knows its previous bar (the first bar of a piece has none).
Splits are the corpus's piece-level splits, so a piece never straddles train and test.

The roll the model learns is the ``active`` plane with one change, the *articulation gap*: a
pitched note immediately followed by a new onset of the same pitch loses its last step, so
that repeated notes stay separate notes when the roll (which has no onset plane) is turned
back into notes. Metrics on real data are measured on this same roll.

This module does not import torch; the training loop turns the arrays into tensors.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from daemon.errors import AntiphonError
from daemon.music.bar_features import articulate, condition_features
from daemon.music.grid import DRUM_CHANNEL, Grid
from daemon.music.harmony import CHORD_DIM, chord_vector, parse_chord
from daemon.music.notes import Note
from daemon.music.pianoroll import RollSpec, TrackSpec, notes_to_bars

log = logging.getLogger(__name__)

TICKS_PER_BEAT = 12  # grid resolution of the corpus cache (a divisor of 24 ppqn)
SIXTEENTH_TICKS = 3  # one step = a sixteenth note at 12 ticks per beat
GROOVE_SOURCES = ("grooves", "freedoom")
CHORALE_SOURCES = ("bach",)
TRANSPOSE_RANGE = (-5, 6)  # inclusive semitone range of augmentation: every key once


class GanDataError(AntiphonError):
    """Training data for the GAN that is missing or unusable."""


def groove_spec(ticks_per_step: int = SIXTEENTH_TICKS) -> RollSpec:
    """Drums (9 classes, channel 10), bass (C1-B4, channel 2, fingered bass) and chords
    (C2-B6, channel 3, piano) in 4/4 bars of ``48 / ticks_per_step`` steps."""
    return RollSpec(
        tracks=(
            TrackSpec("drums", drums=True, channel=DRUM_CHANNEL, program=0),
            TrackSpec("bass", lowest_pitch=24, n_pitches=48, channel=1, program=33),
            TrackSpec("chords", lowest_pitch=36, n_pitches=60, channel=2, program=0),
        ),
        grid=Grid(TICKS_PER_BEAT, 4, 4),
        ticks_per_step=ticks_per_step,
    )


def chorale_spec(ticks_per_step: int = SIXTEENTH_TICKS) -> RollSpec:
    """Soprano, alto, tenor and bass, four octaves each, choir programs, channels 1-4, in 4/4 bars.

    Every voice's window starts on a C, so row ``r`` is the same pitch class in all four voices
    and the networks' 12-semitone cells line up across them: a vertical interval is a local
    feature, not a per-voice rotation to learn. Four octaves hold Bach's ranges moved by the
    +-6 semitones of transposition (soprano 52-87, alto 48-80, tenor 43-75, bass 31-70).
    """
    return RollSpec(
        tracks=(
            TrackSpec("soprano", lowest_pitch=48, n_pitches=48, channel=0, program=52),
            TrackSpec("alto", lowest_pitch=36, n_pitches=48, channel=1, program=52),
            TrackSpec("tenor", lowest_pitch=36, n_pitches=48, channel=2, program=52),
            TrackSpec("bass", lowest_pitch=24, n_pitches=48, channel=3, program=52),
        ),
        grid=Grid(TICKS_PER_BEAT, 4, 4),
        ticks_per_step=ticks_per_step,
    )


def spec_for(sources: Sequence[str], ticks_per_step: int = SIXTEENTH_TICKS) -> RollSpec:
    """The bar layout for a set of corpus sources (grooves-like or chorales, not both)."""
    if all(s in GROOVE_SOURCES for s in sources):
        return groove_spec(ticks_per_step)
    if all(s in CHORALE_SOURCES for s in sources):
        return chorale_spec(ticks_per_step)
    raise GanDataError(f"sources {', '.join(sources)} do not share a bar layout; train grooves "
                       f"({', '.join(GROOVE_SOURCES)}) and chorales ({', '.join(CHORALE_SOURCES)}) separately")


@dataclass
class BarSet:
    """Bars of many pieces, in order, with a link from each bar to its previous bar.

    Attributes:
        spec: the bar layout.
        bars: bool ``(N, tracks, steps, pitches)``, the roll the model learns.
        previous: int64 ``(N,)``, index of the bar before each bar in the same piece, -1 for none.
        piece: int32 ``(N,)``, index into ``piece_ids``.
        piece_ids: the corpus id of each piece.
        counts: what was read and what was skipped, by reason.
        chords: float32 ``(N, 13)``, the chord each bar was played over
            (:func:`daemon.music.harmony.chord_vector`; zeros where the source says none).
    """

    spec: RollSpec
    bars: np.ndarray
    previous: np.ndarray
    piece: np.ndarray
    piece_ids: tuple[str, ...]
    counts: Counter[str] = field(default_factory=Counter)
    chords: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.chords is None:
            self.chords = np.zeros((len(self.bars), CHORD_DIM), np.float32)

    def __len__(self) -> int:
        return int(self.bars.shape[0])

    @property
    def pair_indices(self) -> np.ndarray:
        """Indices of bars that have a previous bar, ``(M,)``."""
        return np.flatnonzero(self.previous >= 0)


def _track_of_role(spec: RollSpec) -> dict[str, int]:
    return {t.name: i for i, t in enumerate(spec.tracks)}


def piece_tracks(notes: Iterable[Note], roles: Mapping[int, str], spec: RollSpec, source_ticks_per_beat: int,
                 counts: Counter[str] | None = None) -> list[list[Note]]:
    """Split a piece's notes into the spec's tracks by the role of their channel.

    Notes of channels whose role the spec has no track for (``other``, ``melody`` in a groove)
    are dropped and counted; note times are rescaled to the spec's grid.
    """
    by_name = _track_of_role(spec)
    out: list[list[Note]] = [[] for _ in spec.tracks]
    scale_num, scale_den = spec.grid.ticks_per_beat, source_ticks_per_beat
    for n in notes:
        role = roles.get(n.channel, "other")
        index = by_name.get(role)
        if index is None:
            if counts is not None:
                counts[f"notes dropped ({role})"] += 1
            continue
        start = n.start * scale_num // scale_den
        duration = max(1, n.duration * scale_num // scale_den)
        out[index].append(Note(start, n.pitch, duration, n.velocity, spec.tracks[index].channel))
    return out


def piece_chords(piece_id: str, n_bars: int) -> np.ndarray:
    """``(n_bars, 13)`` the chord of each bar of a piece, where its source says: a groove is rendered
    over ``training.data.sources.grooves.CHORDS``, one chord a bar; other sources say none (zeros)."""
    from training.data.sources.grooves import CHORDS  # the progression the renders were made over

    if not str(piece_id).startswith("grooves/"):
        return np.zeros((n_bars, CHORD_DIM), np.float32)
    chords = [parse_chord(CHORDS[b % len(CHORDS)]) for b in range(n_bars)]
    return chord_vector(chords)


def transpose_chords(chords: np.ndarray, semitones: np.ndarray) -> np.ndarray:
    """``chords`` ``(B, 13)`` with each row's pitch classes moved up ``semitones[b]`` (the flag kept)."""
    out = np.array(chords, np.float32, copy=True)
    for b, k in enumerate(np.asarray(semitones, np.int64)):
        out[b, :-1] = np.roll(chords[b, :-1], int(k))
    return out


def is_common_time(grid: Grid) -> bool:
    """True for 4/4."""
    return grid.numerator == 4 and grid.denominator == 4


def build_bar_set(pieces: Iterable[Any], spec: RollSpec, max_bars_per_piece: int | None = None) -> BarSet:
    """Lay out pieces (``training.data.records.PieceRecord``-like: ``id``, ``notes``, ``grid``, ``roles``)
    as consecutive 4/4 bars.

    Pieces in another meter are skipped and their bars counted under ``bars skipped (meter N/D)``.
    """
    counts: Counter[str] = Counter()
    bars: list[np.ndarray] = []
    previous: list[np.ndarray] = []
    piece_index: list[np.ndarray] = []
    piece_ids: list[str] = []
    chords: list[np.ndarray] = []
    total = 0
    for piece in pieces:
        grid: Grid = piece.grid
        counts["pieces read"] += 1
        if not is_common_time(grid):
            n_skipped = -(-max((n.end for n in piece.notes), default=0) // grid.ticks_per_bar)
            counts[f"bars skipped (meter {grid.numerator}/{grid.denominator})"] += n_skipped
            counts["pieces skipped (meter)"] += 1
            continue
        tracks = piece_tracks(piece.notes, piece.roles, spec, grid.ticks_per_beat, counts)
        if not any(tracks):
            counts["pieces skipped (no notes in the tracks)"] += 1
            continue
        rolls = notes_to_bars(tracks, spec)
        if max_bars_per_piece is not None:
            rolls = type(rolls)(rolls.active[:max_bars_per_piece], rolls.onset[:max_bars_per_piece],
                                rolls.velocity[:max_bars_per_piece])
        n = len(rolls)
        if n == 0:
            continue
        bars.append(articulate(rolls.active, rolls.onset, spec))
        prev = np.arange(total - 1, total - 1 + n, dtype=np.int64)
        prev[0] = -1
        previous.append(prev)
        piece_index.append(np.full(n, len(piece_ids), np.int32))
        piece_ids.append(str(piece.id))
        chords.append(piece_chords(str(piece.id), n))
        total += n
        counts["pieces used"] += 1
        counts["bars used"] += n
    counts["pairs (bar with a previous bar)"] = max(0, total - counts["pieces used"])
    if not bars:
        return BarSet(spec, np.zeros((0, *spec.bar_shape), bool), np.zeros(0, np.int64), np.zeros(0, np.int32),
                      (), counts)
    return BarSet(spec, np.concatenate(bars), np.concatenate(previous), np.concatenate(piece_index),
                  tuple(piece_ids), counts, np.concatenate(chords))


def load_bar_set(data_dir: str | Path, sources: Sequence[str], split: str, spec: RollSpec | None = None,
                 max_bars_per_piece: int | None = None) -> BarSet:
    """Read ``split`` of each source from the corpus cache under ``data_dir`` as one bar set.

    Raises:
        GanDataError: the cache is missing (run ``antiphon train data`` first) or holds no 4/4 bar.
    """
    from training.data import (
        records,  # the corpus cache reader; imported lazily (it is a sibling helper's module)
    )

    spec = spec or spec_for(sources)
    pieces: list[Any] = []
    for source in sources:
        try:
            pieces.extend(records.load_split(Path(data_dir), source, split))
        except FileNotFoundError as exc:
            raise GanDataError(f"no {source} {split} data under {data_dir} ({exc}); "
                               f"run 'antiphon train data --out {data_dir}' first") from exc
    bar_set = build_bar_set(pieces, spec, max_bars_per_piece)
    if not len(bar_set):
        raise GanDataError(f"no 4/4 bar in the {split} split of {', '.join(sources)} under {data_dir}")
    return bar_set


MONOPHONIC_MAX_SHARE = 0.01  # a track is monophonic when at most 1% of its sounding steps hold two rows or more


def monophonic_tracks(bar_set: BarSet, max_share: float = MONOPHONIC_MAX_SHARE) -> list[str]:
    """Names of the pitched tracks that (nearly) never sound two rows at once in the data."""
    out = []
    for t, track in enumerate(bar_set.spec.tracks):
        if track.drums:
            continue
        counts = bar_set.bars[:, t].sum(axis=2)  # (N, S) rows sounding per step
        sounding = int((counts >= 1).sum())
        if sounding and (counts >= 2).sum() / sounding <= max_share:
            out.append(track.name)
    return out


def describe(bar_set: BarSet, title: str) -> str:
    """A small table of counts for the terminal."""
    lines = [f"{title}: {len(bar_set)} bars from {len(bar_set.piece_ids)} pieces, bar shape {bar_set.spec.bar_shape}"]
    for key, value in sorted(bar_set.counts.items()):
        lines.append(f"  {key:<44} {value:>9,d}")
    if len(bar_set):
        empty = ~bar_set.bars.any(axis=(2, 3))  # (N, T)
        for t, track in enumerate(bar_set.spec.tracks):
            lines.append(f"  {'bars with ' + track.name:<44} {int((~empty[:, t]).sum()):>9,d}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Augmentation and batches (numpy; the training loop converts to tensors)
# --------------------------------------------------------------------------------------------


def _shift_matrix(rows: int, semitones: int) -> np.ndarray:
    """``(rows, rows)`` 0/1: row ``r`` moves to ``r + semitones``, folded by octaves into range."""
    out = np.zeros((rows, rows), np.float32)
    for r in range(rows):
        d = r + semitones
        while d < 0:
            d += 12
        while d >= rows:
            d -= 12
        out[r, max(0, d)] = 1.0
    return out


def transpose_rolls(rolls: np.ndarray, semitones: np.ndarray, spec: RollSpec) -> np.ndarray:
    """Transpose the pitched tracks of each roll by its own number of semitones.

    Args:
        rolls: bool or 0/1 ``(B, tracks, steps, pitches)``.
        semitones: int ``(B,)``, one shift per roll (within +-11).
        spec: the layout; drum tracks are not moved, pitches leaving a track fold by octaves.

    Returns:
        bool ``(B, tracks, steps, pitches)``.
    """
    rolls = np.asarray(rolls)
    out = rolls.astype(bool, copy=True)
    semitones = np.asarray(semitones, np.int64)
    for k in np.unique(semitones):
        if k == 0:
            continue
        idx = np.flatnonzero(semitones == k)
        for t, track in enumerate(spec.tracks):
            if track.drums:
                continue
            rows = track.n_pitches
            part = rolls[idx, t, :, :rows].astype(np.float32)  # (b, S, rows)
            out[idx, t, :, :rows] = (part @ _shift_matrix(rows, int(k))) > 0
    return out


@dataclass
class Batch:
    """One training batch (float32 numpy arrays).

    Attributes:
        bars: ``(B, tracks, steps, pitches)`` 0/1, the real bars.
        previous: ``(B, tracks, steps, pitches)`` 0/1, their previous bars (zeros where none).
        condition: ``(B, 13)`` pitch-class profile of ``previous`` and the has-previous flag.
        chord: ``(B, 13)`` the chord each bar is played over (transposed with it), zeros where
            none or dropped (:func:`daemon.music.harmony.chord_vector`).
        before: ``(B, tracks, steps, pitches)`` 0/1, the bar before each previous bar (zeros where
            none or the pair is unconditioned), when asked for (``with_before``).
        previous_chord: ``(B, 13)`` the chord the previous bar was played over (transposed), with ``before``.
    """

    bars: np.ndarray
    previous: np.ndarray
    condition: np.ndarray
    chord: np.ndarray
    before: np.ndarray | None = None
    previous_chord: np.ndarray | None = None


def make_batch(bar_set: BarSet, indices: np.ndarray, rng: np.random.Generator, transpose: bool = True,
               cond_dropout: float = 0.0, chord_dropout: float | None = None, with_before: bool = False) -> Batch:
    """Real (previous, bar) pairs for ``indices``, randomly transposed and with conditioning dropout.

    Args:
        bar_set: where the bars come from.
        indices: int ``(B,)`` bar indices.
        rng: random source for transposition and dropout.
        transpose: draw one shift per pair from :data:`TRANSPOSE_RANGE` (same for both bars).
        cond_dropout: probability of replacing a pair's condition with the zero (unconditioned) one.
        chord_dropout: probability of giving a pair no chord; None: no chords at all (the rng
            draws nothing for them, as before chords existed).
        with_before: also lay out the bar before each previous bar and the previous bar's chord
            (no random draws: the same batch either way).
    """
    indices = np.asarray(indices, np.int64)
    bars = bar_set.bars[indices]  # (B, T, S, P)
    prev_index = bar_set.previous[indices]
    has_prev = prev_index >= 0
    if cond_dropout > 0:
        has_prev &= rng.random(len(indices)) >= cond_dropout
    previous = np.zeros_like(bars)
    previous[has_prev] = bar_set.bars[prev_index[has_prev]]
    assert bar_set.chords is not None
    chord = np.zeros((len(indices), CHORD_DIM), np.float32)
    if chord_dropout is not None:
        chord = bar_set.chords[indices] * (rng.random(len(indices)) >= chord_dropout)[:, None]
    if transpose:
        shifts = rng.integers(TRANSPOSE_RANGE[0], TRANSPOSE_RANGE[1] + 1, len(indices))
        bars = transpose_rolls(bars, shifts, bar_set.spec)
        previous = transpose_rolls(previous, shifts, bar_set.spec)
        chord = transpose_chords(chord, shifts)
    before = previous_chord = None
    if with_before:
        before_index = np.where(has_prev, bar_set.previous[np.maximum(prev_index, 0)], -1)
        before = np.zeros_like(bars)
        before[before_index >= 0] = bar_set.bars[before_index[before_index >= 0]]
        previous_chord = np.where(has_prev[:, None], bar_set.chords[np.maximum(prev_index, 0)], 0.0)
        if chord_dropout is None:
            previous_chord = np.zeros_like(previous_chord)
        if transpose:
            before = transpose_rolls(before, shifts, bar_set.spec)
            previous_chord = transpose_chords(previous_chord, shifts)
        before = before.astype(np.float32)
        previous_chord = previous_chord.astype(np.float32)
    prev_f, cond = condition_features(previous, bar_set.spec)
    prev_f[~has_prev] = 0.0
    cond[~has_prev] = 0.0
    return Batch(bars.astype(np.float32), prev_f, cond, chord.astype(np.float32), before, previous_chord)


def synthetic_pieces(n_pieces: int = 6, bars_per_piece: int = 4, seed: int = 0, meter: tuple[int, int] = (4, 4),
                     kind: str = "grooves") -> list[Any]:
    """Tiny random pieces in the corpus's record shape, for tests and smoke runs."""
    rng = np.random.default_rng(seed)
    grid = Grid(TICKS_PER_BEAT, *meter)

    @dataclass(frozen=True)
    class _Piece:
        id: str
        notes: tuple[Note, ...]
        grid: Grid
        roles: Mapping[int, str]

    out = []
    for i in range(n_pieces):
        notes: list[Note] = []
        bar = grid.ticks_per_bar
        root = int(rng.integers(0, 12))
        for b in range(bars_per_piece):
            t0 = b * bar
            if kind == "grooves":
                for beat in range(grid.numerator):
                    notes.append(Note(t0 + beat * 12, 36 if beat % 2 == 0 else 38, 3, 100, DRUM_CHANNEL))
                    notes.append(Note(t0 + beat * 12 + 6, 42, 3, 70, DRUM_CHANNEL))
                    notes.append(Note(t0 + beat * 12, 36 + root, 6, 90, 1))
                for p in (48, 52, 55):
                    notes.append(Note(t0, p + root, 24, 80, 2))
            else:
                for beat in range(grid.numerator):
                    base = 60 + root + int(rng.integers(-2, 3))
                    for ch, off in enumerate((7, 0, -5, -12)):
                        notes.append(Note(t0 + beat * 12, base + off, 12, 80, ch))
        roles = ({DRUM_CHANNEL: "drums", 1: "bass", 2: "chords"} if kind == "grooves"
                 else {0: "soprano", 1: "alto", 2: "tenor", 3: "bass"})
        out.append(_Piece(f"synthetic-{kind}-{i}", tuple(sorted(notes)), grid, roles))
    return out
