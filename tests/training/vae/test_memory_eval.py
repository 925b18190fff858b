"""The VAE's session memory measured on real test-split folk tunes (Ryan's Mammoth Collection, read
with abc2midi as the data step reads it; none trained on) through the bundled ONNX files: each
second-half phrase under the code its answer would come from, with and without the memory of the
phrases before it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from daemon.models.vae import load_vae
from daemon.music.events import NoteEventCodec
from daemon.music.grid import Grid
from training.vae.data import PHRASE_METERS, tune_phrases
from training.vae.memory_eval import answer_code, score_tune

BUNDLED = Path(__file__).resolve().parents[3] / "presets" / "folk-vae.onnx"
WEIGHT = 0.5
TUNES = 10


def test_the_answer_code_is_the_morph_moved_toward_the_mean() -> None:
    a, b, c = np.eye(3, dtype=np.float32)
    assert np.allclose(answer_code([a], 0.7), a)
    mid = answer_code([a, b], 0.0)
    assert np.allclose(mid, answer_code([b, a], 0.0)) and np.isclose(np.linalg.norm(mid), 1.0)  # slerp halfway
    assert np.allclose(answer_code([a, b, c], 1.0), (a + b + c) / 3)


def test_tunes(count: int) -> list[list]:
    """The two-bar phrases (every other bar line) of the first ``count`` test-split tunes of Ryan's
    collection in 4/4, 2/2 or 2/4 with four phrases or more."""
    from training.data.records import split_of
    from training.data.sources.abc import list_items, parse_item
    from training.lstm.data import piece_notes

    codec = NoteEventCodec(Grid(12))
    items, _ = list_items("ryans", 12)
    tunes = []
    for item in items:
        if split_of(f"{item.label}/1") != "test":  # a file's first tune's id; checked again below
            continue
        for piece in parse_item(item).pieces:
            if split_of(piece.id) != "test" or (piece.grid.numerator, piece.grid.denominator) not in PHRASE_METERS:
                continue
            phrases = tune_phrases(piece.id, piece_notes(piece, "melody"), piece.grid, codec, 2, Counter())
            if len(phrases) >= 4:
                tunes.append(phrases)
        if len(tunes) >= count:
            return tunes[:count]
    return tunes


test_tunes.__test__ = False  # a helper, not a test


def test_the_memory_of_the_phrases_before_predicts_the_next_phrase_on_real_test_tunes(report) -> None:
    model = load_vae(BUNDLED)
    weights = np.array([0.0, WEIGHT])
    scored = [s for s in (score_tune(model, phrases, weights) for phrases in test_tunes(TUNES)) if s is not None]
    assert len(scored) == TUNES
    per_note = np.stack([bits / notes for bits, notes in scored])
    alone, remembered = per_note.mean(0)
    improved = int((per_note[:, 1] < per_note[:, 0]).sum())
    report(f"VAE session memory {WEIGHT} on {len(scored)} real test tunes (Ryan's): second-half phrases "
           f"{alone:.2f} -> {remembered:.2f} bits/note under the answer's code; {improved} of {len(scored)} tunes lower")
    assert remembered < alone - 0.1 and improved >= len(scored) // 2
