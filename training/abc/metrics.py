"""Figures of ABC tunes, generated or real: read by abc2midi and music21, bar lengths, repeats,
pitch classes. No torch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from daemon.music.abc import AbcError, ParsedTune, bar_check, parse_tune
from daemon.music.abc_text import is_field_line
from training.abc.data import abc2midi_reads, music21_reads

MAJOR_SCALE = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)
_REPEAT = re.compile(r"\|:|:\||::|\[\d|\|\d")
_PART_END = re.compile(r"\|\||\|\]")


def has_repeat_structure(text: str) -> bool:
    """A repeat sign or an ending (``|: :| :: [1``), or a double bar line before the tune's last
    line, i.e. the end of an A part before a B part."""
    if _REPEAT.search(text):
        return True
    body = [line for line in text.splitlines() if line and not is_field_line(line)]
    return any(_PART_END.search(line) for line in body[:-1])


def pitch_class_histogram(tune: ParsedTune) -> np.ndarray:
    hist = np.zeros(12)
    for note in tune.notes:
        hist[note.pitch % 12] += 1
    return hist


def pitch_class_entropy(tune: ParsedTune) -> float:
    """Shannon entropy in bits of the pitch classes of the notes (0 to log2 12 = 3.58)."""
    hist = pitch_class_histogram(tune)
    p = hist[hist > 0] / hist.sum()
    return float(-(p * np.log2(p)).sum())


def scale_consistency(tune: ParsedTune) -> float:
    """Largest share of notes that fit one major scale (any of the 12; its modes included)."""
    hist = pitch_class_histogram(tune)
    return float(max(hist[np.roll(MAJOR_SCALE, root)].sum() for root in range(12)) / hist.sum())


def in_written_key(tune: ParsedTune) -> float:
    """Share of notes on the seven pitch classes of the tune's own ``K:``."""
    scale = tune.key.scale_pitch_classes()
    return sum(1 for n in tune.notes if n.pitch % 12 in scale) / len(tune.notes)


@dataclass
class TuneFigures:
    """What one tune's text shows; the readers' fields are None when not run."""

    ended: bool
    parsed: ParsedTune | None
    error: str = ""
    abc2midi: str | None = None
    music21: str | None = None
    bars_right: int = 0
    bars: int = 0
    repeats: bool = False


def tune_figures(text: str, ended: bool = True, readers: bool = True) -> TuneFigures:
    try:
        parsed = parse_tune(text)
    except AbcError as exc:
        parsed, error = None, str(exc)
    else:
        error = ""
    figures = TuneFigures(ended=ended, parsed=parsed, error=error, repeats=has_repeat_structure(text))
    if parsed is not None:
        figures.bars_right, figures.bars = bar_check(parsed)
    if readers and ended and text.isascii():
        figures.abc2midi = abc2midi_reads(text) or ""
        figures.music21 = music21_reads(text) or ""
    return figures


def summarise(figures: Sequence[TuneFigures]) -> dict[str, float | None]:
    """Shares and means over tunes (bars pooled over the tunes the daemon's parser reads); the
    readers' shares are None when no reader was run."""
    n = len(figures)
    readers = any(f.abc2midi is not None for f in figures)
    parsed = [f.parsed for f in figures if f.parsed is not None]
    both = sum(1 for f in figures if f.ended and f.abc2midi == "" and f.music21 == "")
    bars = sum(f.bars for f in figures)
    return {
        "tunes": n,
        "ended": sum(f.ended for f in figures) / n,
        "read_by_daemon_parser": len(parsed) / n,
        "read_by_abc2midi": sum(1 for f in figures if f.abc2midi == "") / n if readers else None,
        "read_by_music21": sum(1 for f in figures if f.music21 == "") / n if readers else None,
        "read_by_both": both / n if readers else None,
        "bars": bars,
        "bars_right_length": sum(f.bars_right for f in figures) / max(1, bars),
        "repeat_structure": sum(f.repeats for f in figures) / n,
        "pitch_class_entropy": float(np.mean([pitch_class_entropy(p) for p in parsed])) if parsed else float("nan"),
        "scale_consistency": float(np.mean([scale_consistency(p) for p in parsed])) if parsed else float("nan"),
        "in_written_key": float(np.mean([in_written_key(p) for p in parsed])) if parsed else float("nan"),
        "notes_per_tune": float(np.mean([len(p.notes) for p in parsed])) if parsed else float("nan"),
    }
