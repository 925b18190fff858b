"""A pianoroll of a morph: the decoded phrases along an interpolation, the real ends outlined."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from daemon.music.notes import Note


def morph_picture(path: Path, phrases: Sequence[Sequence[Note]], first: Sequence[Note], last: Sequence[Note],
                  length: int, ticks_per_beat: int, title: str) -> None:
    """Write a PNG: each decoded phrase in its own 2-bar slot (blue), ``first`` outlined under the
    first slot and ``last`` under the last (orange), bar lines thin and phrase lines dark."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(14, 4.5), dpi=100)
    slots = len(phrases)
    outlined = ((0, first), (slots - 1, last))
    for slot, notes in outlined:
        for n in notes:
            ax.add_patch(plt.Rectangle(((slot * length + n.start) / ticks_per_beat, n.pitch - 0.45),
                                       n.duration / ticks_per_beat, 0.9, facecolor="none", edgecolor="tab:orange",
                                       linewidth=1.0))
    for slot, notes in enumerate(phrases):
        for n in notes:
            ax.add_patch(plt.Rectangle(((slot * length + n.start) / ticks_per_beat, n.pitch - 0.35),
                                       n.duration / ticks_per_beat, 0.7, facecolor="tab:blue", edgecolor="none",
                                       alpha=0.8))
    everything = [n for notes in [*phrases, first, last] for n in notes]
    low = min((n.pitch for n in everything), default=60) - 2
    high = max((n.pitch for n in everything), default=72) + 2
    beats = length / ticks_per_beat
    for bar in range(2 * slots + 1):
        ax.axvline(bar * beats / 2, color="0.3" if bar % 2 == 0 else "0.85", linewidth=0.8)
    ax.set_xticks([(s + 0.5) * beats for s in range(slots)])
    ax.set_xticklabels([f"t = {s / max(1, slots - 1):.2f}" for s in range(slots)], fontsize=8)
    ax.set_xlim(0, slots * beats)
    ax.set_ylim(low, high)
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
