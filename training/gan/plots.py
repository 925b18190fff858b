"""Pianoroll pictures and MIDI files of bars, for training samples and comparisons.

matplotlib (Agg backend) only; no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from daemon.music.midi_files import write_midi
from daemon.music.pianoroll import Bars, RollSpec, bars_to_notes, binarise

PREVIEW_BPM = 100.0  # tempo of sample MIDI files


def plot_rows(rows: Sequence[np.ndarray], spec: RollSpec, path: str | Path, labels: Sequence[str] | None = None,
              title: str = "") -> Path:
    """Draw rows of consecutive bars as pianorolls, one panel per (row, track).

    Args:
        rows: each bool/float ``(bars, tracks, steps, pitches)``; rows may differ in bar count.
        spec: the layout (track names, rows per track).
        path: PNG to write.
        labels: a label per row ("real", "generated", ...).
        title: figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_tracks = len(spec.tracks)
    heights = [t.rows for t in spec.tracks] * len(rows)
    width = max(len(r) for r in rows) * spec.steps_per_bar
    fig, axes = plt.subplots(len(rows) * n_tracks, 1, figsize=(max(6.0, width / 12), 0.9 + 0.035 * sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for i, row in enumerate(rows):
        row = np.asarray(row, np.float32)
        n_bars = row.shape[0]
        for t, track in enumerate(spec.tracks):
            ax = axes[i * n_tracks + t, 0]
            image = row[:, t, :, :track.rows].reshape(n_bars * spec.steps_per_bar, track.rows).T  # (rows, time)
            full = np.zeros((track.rows, width), np.float32)
            full[:, :image.shape[1]] = image
            ax.imshow(full, aspect="auto", origin="lower", cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
            for b in range(1, max(len(r) for r in rows)):
                ax.axvline(b * spec.steps_per_bar - 0.5, color="tab:red", linewidth=0.5)
            ax.set_yticks([])
            ax.set_xticks([])
            label = f"{labels[i]} · {track.name}" if labels else track.name
            ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_bars_midi(bars: np.ndarray | Bars, spec: RollSpec, path: str | Path, bpm: float = PREVIEW_BPM) -> Path:
    """Write consecutive bars (a 0/1 roll ``(bars, T, S, P)`` or :class:`Bars`) as a MIDI file."""
    if not isinstance(bars, Bars):
        bars = binarise(np.asarray(bars, np.float32), spec, threshold=0.5)
    notes = [n for track in bars_to_notes(bars, spec) for n in track]
    programs = {t.channel: t.program for t in spec.tracks if not t.drums}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_midi(notes, spec.grid, bpm, programs, path)
    return path
