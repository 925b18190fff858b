"""Groove bars by style family and split, for the restyle CycleGAN and the style classifier.

Every bar is a ``pianoroll/1`` groove bar (:func:`training.gan.data.groove_spec`: drums, bass,
chords, sixteenth steps, 4/4), laid out exactly as the bar GAN's training bars. Pieces come from
all three splits of the corpus cache and are re-split by library file, within each family
(:func:`training.restyle.families.assign_splits`), so no file has grooves on both sides.

This module does not import torch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from daemon.music.pianoroll import RollSpec
from training.gan.data import GanDataError, build_bar_set, groove_spec, transpose_rolls
from training.restyle.families import FAMILIES, assign_splits, family_of, library_file

CORPUS_SPLITS = ("train", "valid", "test")
TRANSPOSE_SEMITONES = (-5, 6)  # inclusive augmentation range: every key once


@dataclass
class StyleBars:
    """The bars of one split, by family.

    Attributes:
        spec: the groove bar layout.
        bars: family -> bool ``(N, T, S, P)``.
        files: family -> the library files its bars came from.
        counts: what was read and skipped.
    """

    spec: RollSpec
    bars: dict[str, np.ndarray]
    files: dict[str, tuple[str, ...]]
    counts: Counter[str]

    def describe(self, split: str) -> str:
        parts = [f"{family} {len(b):,} bars from {len(self.files[family])} files" for family, b in self.bars.items()]
        return f"{split}: " + "; ".join(parts)


def load_style_bars(data_dir: str | Path, split: str, families: Sequence[str] = tuple(FAMILIES)) -> StyleBars:
    """The groove bars of ``split`` (by library file) of each family, from the corpus cache.

    Raises:
        GanDataError: the groove cache is missing, a family is unknown, or a family has no bar.
    """
    from training.data import records

    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise GanDataError(f"unknown style famil{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; "
                           f"known: {', '.join(FAMILIES)}")
    spec = groove_spec()
    everything: dict[str, list] = {f: [] for f in families}
    counts: Counter[str] = Counter()
    for corpus_split in CORPUS_SPLITS:
        try:
            records_ = records.load_split(Path(data_dir), "grooves", corpus_split)
        except FileNotFoundError as exc:
            raise GanDataError(f"no grooves data under {data_dir} ({exc}); "
                               f"run 'antiphon train data --out {data_dir}' first") from exc
        for piece in records_:
            family = family_of(piece.id)
            if family is None or family not in everything:
                counts["pieces in no family"] += 1
                continue
            everything[family].append(piece)
    pieces: dict[str, list] = {}
    for family, family_pieces in everything.items():
        split_of_file = assign_splits(library_file(p.id) or "" for p in family_pieces)
        pieces[family] = [p for p in family_pieces if split_of_file[library_file(p.id) or ""] == split]
    bars: dict[str, np.ndarray] = {}
    files: dict[str, tuple[str, ...]] = {}
    for family, family_pieces in pieces.items():
        bar_set = build_bar_set(family_pieces, spec)
        counts.update({f"{family}: {k}": v for k, v in bar_set.counts.items()})
        if not len(bar_set):
            raise GanDataError(f"the {split} split has no 4/4 bar of the {family} family")
        keep = bar_set.bars.reshape(len(bar_set), -1).any(axis=1)  # an empty bar has no style
        counts[f"{family}: empty bars left out"] += int((~keep).sum())
        bars[family] = bar_set.bars[keep]
        files[family] = tuple(sorted({library_file(p.id) or "" for p in family_pieces}))
    return StyleBars(spec, bars, files, counts)


def sample_bars(bars: np.ndarray, n: int, rng: np.random.Generator, spec: RollSpec,
                transpose: bool = True) -> np.ndarray:
    """``n`` bars drawn with replacement, each moved to a random key when ``transpose``; float32."""
    picked = bars[rng.integers(0, len(bars), n)]
    if transpose:
        low, high = TRANSPOSE_SEMITONES
        picked = transpose_rolls(picked, rng.integers(low, high + 1, n), spec)
    return picked.astype(np.float32)
