"""Tiny random-weight LSTMs, exported to ONNX once per test session, for export and daemon tests.

Needs torch (the [train] extra); callers skip with ``pytest.importorskip("torch")`` first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.music.chords import ChordCodec, ChordVocabulary
from daemon.music.events import NoteEventCodec
from daemon.music.grid import Grid

TINY_HIDDEN = 32
TINY_LAYERS = 2
EVENT_EMBED_DIMS = (4, 8, 4, 4)
CHORD_EMBED_DIMS = (8, 4)

_CACHE: dict[tuple[str, str], tuple[Path, Path]] = {}


def tiny_chord_codec() -> ChordCodec:
    """A chord codec over a small C-major-ish vocabulary (rest, triads, a held chord, F#)."""
    chords = ((), (60, 64, 67), (62, 65, 69), (59, 62, 67), (60, 65, 69), (188, 192, 195), (66,), (61, 66, 70))
    return ChordCodec(Grid(), ChordVocabulary(chords, (3, 6, 12, 24, 48)))


def make_tiny_model(folder: Path, codec: NoteEventCodec | ChordCodec, seed: int = 0,
                    quantize: bool = False) -> tuple[Path, Path]:
    """Write ``tiny.pt`` and export ``tiny.onnx`` (and ``tiny.int8.onnx``) into ``folder``."""
    from export.lstm import export_lstm
    from export.lstm_checkpoint import random_lstm_checkpoint

    dims = EVENT_EMBED_DIMS if isinstance(codec, NoteEventCodec) else CHORD_EMBED_DIMS
    checkpoint = random_lstm_checkpoint(folder / "tiny.pt", codec, hidden_size=TINY_HIDDEN, num_layers=TINY_LAYERS,
                                        embed_dims=dims, seed=seed)
    return checkpoint, export_lstm(checkpoint, folder / "tiny.onnx", quantize=quantize)


def cached_tiny_model(factory: pytest.TempPathFactory, kind: str = "events") -> tuple[Path, Path]:
    """(checkpoint, onnx) of a tiny ``"events"`` or ``"chords"`` model, built once per session."""
    pytest.importorskip("torch")
    key = (str(factory.getbasetemp()), kind)
    if key not in _CACHE:
        codec = NoteEventCodec() if kind == "events" else tiny_chord_codec()
        _CACHE[key] = make_tiny_model(factory.mktemp(f"tiny-{kind}"), codec, quantize=kind == "events")
    return _CACHE[key]
