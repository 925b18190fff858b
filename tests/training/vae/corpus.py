"""A tiny folk corpus on disk, as `antiphon train data` writes it: 4/4 reels and a 6/8 jig per source."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from daemon.music.grid import Grid
from daemon.music.notes import Note

SOURCES = ("oneills", "ryans", "airds")
SCALE = (62, 64, 66, 67, 69, 71, 73, 74)


def reel(piece_id: str, source: str, seed: int, bars: int = 8, meter: tuple[int, int] = (4, 4)):
    """Eighth notes on a D major walk (every fourth one a quarter), a bass channel to ignore."""
    from training.data.records import PieceRecord

    rng = np.random.default_rng(seed)
    grid = Grid(12, *meter)
    notes, degree, t = [], 0, 0
    while t < bars * grid.ticks_per_bar:
        degree = int(np.clip(degree + rng.choice([-2, -1, 1, 2]), 0, len(SCALE) - 1))
        duration = 12 if len(notes) % 4 == 3 else 6
        notes.append(Note(t, SCALE[degree], duration, 80, 0))
        t += duration
    notes += [Note(b * grid.ticks_per_bar, 50, grid.ticks_per_bar, 60, 1) for b in range(bars)]
    return PieceRecord(id=piece_id, source=source, name=piece_id, notes=tuple(sorted(notes)), grid=grid, bpm=110.0,
                       roles={0: "melody", 1: "other"})


def write_corpus(data: Path, per_split: int = 3) -> dict[str, dict[str, list[str]]]:
    """Write ``per_split`` 4/4 tunes per split and source, plus one 6/8 tune each; returns ids by source and split."""
    from training.data.corpus import write_source
    from training.data.records import split_of

    ids: dict[str, dict[str, list[str]]] = {}
    for s, source in enumerate(SOURCES):
        pieces, index = [], 0
        counts = {"train": 0, "valid": 0, "test": 0}
        ids[source] = {k: [] for k in counts}
        while min(counts.values()) < per_split:
            piece_id = f"{source}/synthetic/{index}"
            split = split_of(piece_id)
            if counts[split] < per_split:
                pieces.append(reel(piece_id, source, seed=1000 * s + index))
                counts[split] += 1
                ids[source][split].append(piece_id)
            index += 1
        pieces.append(reel(f"{source}/synthetic/jig", source, seed=7, meter=(6, 8)))
        write_source(data, source, pieces, transpose=0)
    return ids
