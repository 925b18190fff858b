"""The LSTM training configuration: one frozen dataclass, the defaults per encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.lstm.data import (
    DEFAULT_MAX_CHORDS,
    DEFAULT_TRANSPOSE,
)

# Per representation: (window, embed_dims) defaults.
DEFAULTS: dict[str, tuple[int, tuple[int, ...]]] = {
    "note-events": (128, (16, 48, 24, 8)),  # shift, pitch, duration, velocity
    "chord": (32, (96, 16)),  # chord, duration
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run is told. Durations in seconds or minutes as named.

    Attributes:
        data: folder written by ``antiphon train data``.
        sources: corpus sources trained on together.
        representation: ``note-events`` or ``chord``.
        out: run folder.
        voices: ``all`` pitched channels or the ``melody`` only (``auto`` picks by source).
        window: events per training window.
        stride: events between window starts (default: half a window).
        transpose: inclusive semitone range of the per-window random transposition, or None
            (for ``chord`` the vocabulary is then fitted on the transposed training pieces too).
        max_chords: size cap of a chord vocabulary.
        epochs: passes over the training windows.
        batch_size: windows per optimiser step (per process under DDP).
        hidden: LSTM width.
        layers: stacked LSTM layers.
        dropout: dropout probability.
        embed_dims: embedding width per token field.
        lr: peak learning rate (AdamW), warmed up linearly then cosine-decayed to a tenth.
        weight_decay: AdamW weight decay.
        clip: gradient-norm clip.
        seed: fixes initialisation, shuffling, transpositions and samples.
        resume: continue from ``out/last.pt``.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        patience: epochs without a better validation score before stopping.
        threads: torch CPU threads.
        max_minutes: stop (after validating and saving) once training has run this long.
        samples: validation continuations written per epoch.
        command: the command line, recorded in the checkpoint.
    """

    data: Path
    sources: tuple[str, ...]
    representation: str
    out: Path
    voices: str = "auto"
    window: int = 128
    stride: int = 64
    transpose: tuple[int, int] | None = DEFAULT_TRANSPOSE
    max_chords: int = DEFAULT_MAX_CHORDS
    epochs: int = 30
    batch_size: int = 16
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.2
    embed_dims: tuple[int, ...] = (16, 48, 24, 8)
    lr: float = 3e-3
    weight_decay: float = 0.01
    clip: float = 1.0
    seed: int = 0
    resume: bool = False
    device: str = "auto"
    patience: int = 4
    threads: int = 1
    max_minutes: float | None = None
    samples: int = 3
    command: str = ""
