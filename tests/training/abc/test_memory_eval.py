"""The session memory of the ABC model, measured on real test-split tunes (Aird's collection,
music21's corpus, normalised as the model's training text; none of them trained on): each
tune's second half scored by the bundled ONNX file with and without a memory of its first half."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.models.abc import load_abc
from daemon.models.abc_answer import ABC_MEMORY_ORDER
from daemon.offline.abc_tunes import DEFAULT_ABC_MODEL
from training.abc.memory_eval import score_tune, split_tune, summarise

TUNES = 16
WEIGHT = 0.3  # the value the model card recommends (valid split: 0.3 and 0.4 within 0.004 bits/char)


def test_a_tune_is_cut_after_a_whole_bar_line_past_the_middle_of_its_body() -> None:
    text = "M:4/4\nL:1/8\nK:G\nGABc dedB | dcBA GFGA :| BGBd gdBG | AGFE D4 |]\n"
    header, first, second = split_tune(text)
    assert header == "M:4/4\nL:1/8\nK:G\n"
    body = text[len(header):]
    assert first + second == body and first.endswith("|") and len(first) >= len(body) // 2
    assert not second.startswith(("|", ":", "]"))  # a bar line is never split
    _, first, second = split_tune("M:4/4\nK:G\nGABc dedB dcBA GFGA GFGA :|: BGBd gdBG AGFE D4 |]\n")
    assert first.endswith(":|:") and second.startswith(" BGBd")
    assert split_tune("M:4/4\nK:G\nGABc dedB dcBA GFGA GFGA BGBd gdBG AGFE D4 |]\n") is None  # no note after
    assert split_tune("M:4/4\nK:G\nGABc |\n") is None  # too short to score


def test_the_memory_of_the_first_half_lowers_the_second_halfs_bits_on_real_test_tunes(report) -> None:
    pytest.importorskip("music21")
    from training.abc.data import collect

    tunes = [t for t in collect(check_readers=False, sources=("airds",))[0] if t.split == "test"][:TUNES]
    model = load_abc(DEFAULT_ABC_MODEL)
    weights = np.array([0.0, WEIGHT])
    scores = [s for s in (score_tune(model, t.id, t.text, weights, [ABC_MEMORY_ORDER]) for t in tunes) if s]
    assert len(scores) >= TUNES // 2
    live = summarise(scores, weights, [ABC_MEMORY_ORDER])["live"][str(ABC_MEMORY_ORDER)]["log-linear"]
    alone, remembered = live["bits_per_event"]
    report(f"ABC session memory {WEIGHT} on {len(scores)} real test tunes (Aird's, live reading): second half "
           f"{alone:.3f} -> {remembered:.3f} bits/char; {live['improved'][1]} of {len(scores)} tunes lower")
    assert remembered < alone - 0.1
    assert live["improved"][1] >= 0.75 * len(scores)


def test_bad_orders_or_a_missing_model_are_one_clear_line(tmp_path) -> None:
    import argparse

    from training.abc import memory_eval

    parser = argparse.ArgumentParser()
    memory_eval.configure(parser)
    with pytest.raises(SystemExit, match="--orders takes whole numbers"):
        memory_eval.main(parser.parse_args(["--orders", "0", "--data", str(tmp_path)]))
    with pytest.raises(SystemExit, match="missing.onnx"):
        memory_eval.main(parser.parse_args(["--model", str(tmp_path / "missing.onnx"), "--data", str(tmp_path)]))
