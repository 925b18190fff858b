"""Real grooves for the restyle tests: one groove of an mma library file of the restyle model's
*test* split (:func:`training.restyle.families.assign_splits`; no bundled model was trained on
it), rendered with mma at test time as the corpus renders it (8 bars over C Am F G7, fixed seed)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from daemon.music.midi_files import read_midi
from daemon.music.notes import Note

MMA_LIB = Path("/usr/share/mma/lib")
ROCK_TEST = ("casio/slowrock", "SlowRock")
LATIN_TEST = ("stdlib/bossanova", "BossaNova")


def render(library_file: str, groove: str, folder: Path) -> Path:
    """The groove's 8 bars as a MIDI file in ``folder`` (skips without mma; fails in CI)."""
    if shutil.which("mma") is None or not MMA_LIB.is_dir():
        if os.environ.get("CI"):
            pytest.fail("mma is not installed (apt-get install mma); CI is set, so this fails", pytrace=False)
        pytest.skip("mma is not installed (apt-get install mma)")
    from training.data.sources.grooves import render as mma_render

    folder.mkdir(parents=True, exist_ok=True)
    midi, complaint = mma_render(MMA_LIB / f"{library_file}.mma", [groove], folder)
    assert midi is not None, complaint
    path = folder / f"{groove}.mid"
    midi.save(str(path))
    return path


def one_bar(path: Path, bar: int = 1) -> list[Note]:
    """Bar ``bar`` (0-based) of a 4/4 file, from tick 0 of a 12-ticks-per-beat grid, notes cut at its end."""
    piece = read_midi(path, ticks_per_beat=12)
    length = piece.grid.ticks_per_bar
    start = bar * length
    return [Note(n.start - start, n.pitch, min(n.duration, start + length - n.start), n.velocity, n.channel)
            for n in piece.notes if start <= n.start < start + length]
