"""Small synthetic corpora for training tests: four-voice chorale-like pieces and folk-like tunes.

Pieces quack like :class:`training.data.records.PieceRecord` (id, source, name, notes, grid, bpm,
roles), so the training code cannot tell them from parsed ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from daemon.music.grid import Grid
from daemon.music.notes import Note

SATB = {0: "soprano", 1: "alto", 2: "tenor", 3: "bass"}
# Diatonic triads of C major as (bass, tenor, alto, soprano) voicings.
VOICINGS = (
    (48, 55, 64, 72), (53, 57, 65, 72), (55, 59, 62, 67), (57, 60, 64, 69),
    (50, 57, 62, 65), (52, 55, 64, 67), (43, 55, 62, 71),
)


@dataclass(frozen=True)
class SyntheticPiece:
    id: str
    source: str
    name: str
    notes: tuple[Note, ...]
    grid: Grid
    bpm: float
    roles: Mapping[int, str]


def chorale(index: int, bars: int = 10, seed: int = 0, piece_id: str = "") -> SyntheticPiece:
    """Four voices of quarter-note chords (half notes at cadences), 4/4, 12 ticks per beat."""
    rng = np.random.default_rng((seed, index))
    grid = Grid(12, 4, 4)
    notes = []
    for beat in range(bars * 4):
        if beat % 8 == 7:
            continue
        duration = 24 if beat % 8 == 6 else 12
        voicing = VOICINGS[int(rng.integers(len(VOICINGS)))] if beat % 8 else VOICINGS[0]
        for voice, pitch in enumerate(reversed(voicing)):
            notes.append(Note(beat * 12, pitch, duration, 80, voice))
    return SyntheticPiece(piece_id or f"synthetic-chorale/{index}", "bach", f"chorale {index}", tuple(notes), grid,
                          90.0, SATB)


def tune(index: int, bars: int = 12, seed: int = 0, piece_id: str = "") -> SyntheticPiece:
    """A 6/8 eighth-note melody on a D major scale walk, with a chord-symbol channel to ignore."""
    rng = np.random.default_rng((seed, index, 1))
    grid = Grid(12, 6, 8)
    scale = [62, 64, 66, 67, 69, 71, 73, 74]
    notes = []
    degree = 0
    for step in range(bars * 6):
        degree = int(np.clip(degree + rng.choice([-1, 1, 2, -2]), 0, len(scale) - 1))
        notes.append(Note(step * 6, scale[degree], 6, 80, 0))
    notes += [Note(bar * 36, 50, 36, 60, 1) for bar in range(bars)]
    return SyntheticPiece(piece_id or f"synthetic-tune/{index}", "oneills", f"tune {index}", tuple(notes), grid,
                          110.0, {0: "melody", 1: "other"})


def corpus(kind: str = "chorale", n: int = 12) -> dict[str, list[SyntheticPiece]]:
    """Pieces per split: ``n`` train, 3 valid, 3 test."""
    make = chorale if kind == "chorale" else tune
    pieces = [make(i) for i in range(n + 6)]
    return {"train": pieces[:n], "valid": pieces[n:n + 3], "test": pieces[n + 3:]}


def corpus_by_hash(kind: str = "chorale", sizes: Mapping[str, int] | None = None) -> dict[str, list[SyntheticPiece]]:
    """Like :func:`corpus`, but with ids that :func:`training.data.records.split_of` puts in the right split."""
    from training.data.records import split_of

    want = dict(sizes or {"train": 12, "valid": 3, "test": 3})
    make = chorale if kind == "chorale" else tune
    out: dict[str, list[SyntheticPiece]] = {s: [] for s in want}
    index = 0
    while any(len(out[s]) < n for s, n in want.items()):
        piece_id = f"{'bach' if kind == 'chorale' else 'oneills'}/synthetic-{index}"
        split = split_of(piece_id)
        if len(out[split]) < want[split]:
            out[split].append(make(index, piece_id=piece_id))
        index += 1
    return out
