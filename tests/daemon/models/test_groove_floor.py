"""The bundled groove model drops the chord pitch classes a bar barely plays and holds its bass notes while their
rows stay likely (onnxruntime on the bundled file, no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from daemon.models.gan import GanModel, open_gan

GROOVES = Path(__file__).resolve().parents[3] / "presets" / "gan-grooves.onnx"
BARS = 256


@pytest.fixture(scope="module")
def grooves() -> GanModel:
    return open_gan(GROOVES)


def _class_weights(part: np.ndarray, lowest_pitch: int) -> np.ndarray:
    """``(N, S, P)`` probabilities -> ``(N, 12)``: each pitch class's probability over the cells that pass 0.5."""
    weight = np.where(part > 0.5, part, 0.0).sum(axis=1)  # (N, P)
    return np.stack([weight[:, (c - lowest_pitch) % 12::12].sum(axis=1) for c in range(12)], axis=1)


def test_every_chord_pitch_class_of_a_bundled_groove_bar_is_strong_or_the_bass_plays_it(grooves: GanModel) -> None:
    names = [t.name for t in grooves.spec.tracks]
    floor = grooves.metadata["training"]["pitch_class_floor"]
    assert floor == {"chords": 0.2}
    bass, chords = (grooves.spec.tracks[names.index(n)] for n in ("bass", "chords"))
    roll = grooves.roll(None, np.random.default_rng(1), n=BARS)  # bars from nothing: the floor is in the graph
    weight = _class_weights(roll[:, names.index("chords")], chords.lowest_pitch)  # (N, 12)
    in_bass = _class_weights(roll[:, names.index("bass")], bass.lowest_pitch) > 0
    sounding = weight > 0
    strong = weight >= floor["chords"] * weight.max(axis=1, keepdims=True) - 1e-6
    assert (sounding & ~(strong | in_bass)).sum() == 0
    used = sounding.sum(axis=1)[sounding.any(axis=1)]
    print(f"chord bars use {used.mean():.2f} pitch classes ({len(used)} of {BARS} bars with chords)")
    assert 2.0 <= used.mean() <= 5.0


def test_a_bundled_groove_bass_note_goes_on_while_its_row_stays_over_the_hold_floor(grooves: GanModel) -> None:
    names = [t.name for t in grooves.spec.tracks]
    floor = grooves.metadata["training"]["hold_floor"]
    assert set(floor) == {"bass"} and 0.0 < floor["bass"] < 0.5
    rng = np.random.default_rng(2)
    first = grooves.roll(None, rng, n=BARS)
    roll = grooves.roll((first > 0.5).astype(np.float32), rng)  # bars answering bars: the band's own
    bass = roll[:, names.index("bass")]  # (N, S, P)
    before, now = bass[:, :-1], bass[:, 1:]
    cut_short = (before > 0.5) & (now > floor["bass"]) & (now <= 0.5)  # a note stopped while its row stayed likely
    held = (before > 0.5) & (now >= 0.75)
    print(f"bass: {int(held.sum())} of {int((before > 0.5).sum())} steps after a sounding step go on")
    assert cut_short.sum() == 0
    chords = roll[:, names.index("chords")]
    assert ((chords[:, :-1] > 0.5) & (chords[:, 1:] > floor["bass"]) & (chords[:, 1:] <= 0.5)).any(), \
        "the chord track is not held: some of its notes stop while the row stays over that floor"
