"""The session memory measured on the bundled folk model: real test-split tunes, second half with and without it.

The tunes are read with music21 from O'Neill's Music of Ireland (1850; public domain; music21's corpus files
``oneills1850/*.abc``, in order), each checked to be in the test split the bundled model never trained on.
"""

from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import presets
from daemon.models.lstm import load_lstm
from daemon.music.grid import Grid
from daemon.music.notes import Note
from training.lstm import memory_eval

MODEL = Path(presets.__file__).resolve().parent / "folk-events.onnx"
COLLECTION = "oneills1850"
TICKS_PER_BEAT = 12
CORPUS_VELOCITY = 80  # every note of the folk corpus the model learned from has this velocity
MEMORY_WEIGHT = 0.3  # the value the model card recommends, chosen on the validation split
TUNES = 8


def held_out_tunes(n: int) -> list[tuple[str, list[Note], Grid]]:
    """The first ``n`` tunes of the collection that are in the test split: (id, notes, grid)."""
    music21 = pytest.importorskip("music21")
    from training.data.records import split_of

    paths = sorted(p for p in music21.corpus.getPaths(fileExtensions=("abc",)) if p.parent.name == COLLECTION)
    tunes: list[tuple[str, list[Note], Grid]] = []
    blocks = ((path.stem, block) for path in paths for block in re.split(r"(?m)^(?=X:)", path.read_text("latin-1")))
    for stem, block in blocks:
        number = re.match(r"X:\s*(\d+)\s*$", block.splitlines()[0]) if block.strip() else None
        meter = re.search(r"(?m)^M:\s*(\d+)/(\d+)", block)
        piece_id = f"oneills/{stem}/{number.group(1)}" if number else ""
        if number is None or meter is None or split_of(piece_id) != "test":
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = music21.converter.parse(block, format="abc").stripTies()
        notes = [Note(round(float(n.offset) * TICKS_PER_BEAT), n.pitch.midi,
                      max(1, round(float(n.quarterLength) * TICKS_PER_BEAT)), CORPUS_VELOCITY, 0)
                 for n in score.flatten().notes if n.isNote]
        tunes.append((piece_id, notes,
                      Grid(TICKS_PER_BEAT, int(meter.group(1)), int(meter.group(2)))))
        if len(tunes) == n:
            break
    return tunes


@pytest.mark.skipif(not MODEL.is_file(), reason="presets/folk-events.onnx is not bundled")
def test_the_memory_of_the_first_half_lowers_the_second_halfs_bits_on_real_test_tunes(report) -> None:
    model = load_lstm(MODEL)
    weights = np.array([0.0, MEMORY_WEIGHT])
    tunes = held_out_tunes(TUNES)
    assert len(tunes) == TUNES
    scores = [memory_eval.score_piece(model, piece_id, notes, grid, weights, memory_eval.MEMORY_ORDER)
              for piece_id, notes, grid in tunes]
    scores = [s for s in scores if s is not None]
    assert len(scores) == TUNES, "every tune is long enough to score"
    summary = memory_eval.summarise(scores, weights)
    for reading in memory_eval.READINGS:
        figures = summary[reading]["log-linear"]
        alone, leaning = figures["bits_per_event"]
        assert leaning < alone - 0.1, f"{reading}: {alone:.3f} -> {leaning:.3f} bits/event"
        assert figures["improved"][1] >= TUNES * 3 // 4, f"{reading}: {figures['improved'][1]}/{TUNES} improved"
        assert figures["pitch_accuracy"][1] > figures["pitch_accuracy"][0]
    live = summary["live"]["log-linear"]["bits_per_event"]
    report(f"session memory {MEMORY_WEIGHT} on {TUNES} real test tunes (live reading): second half "
           f"{live[0]:.2f} -> {live[1]:.2f} bits/event")


def test_the_command_says_what_to_do_without_the_corpus(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    memory_eval.configure(parser)
    args = parser.parse_args(["--model", str(MODEL), "--data", str(tmp_path / "none"), "--split", "valid"])
    if not MODEL.is_file():
        pytest.skip("presets/folk-events.onnx is not bundled")
    with pytest.raises(SystemExit, match="antiphon train data"):
        memory_eval.main(args)
    with pytest.raises(SystemExit, match="--weights takes numbers 0-1"):
        memory_eval.parse_weights("0.1,2")
    assert memory_eval.parse_weights("0.3,0.1,0").tolist() == [0.0, 0.1, 0.3]
