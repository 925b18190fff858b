"""Figures of ABC tunes: repeat structure, pitch classes, readers, and their summary."""

from __future__ import annotations

import math

import pytest

from daemon.music.abc import parse_tune
from training.abc.metrics import (
    has_repeat_structure,
    in_written_key,
    pitch_class_entropy,
    scale_consistency,
    summarise,
    tune_figures,
)

JIG = "R:jig\nM:6/8\nL:1/8\nK:D\ndfa afd|gbg fed|cBA ABc|d3 d3:|\n|:fga agf|gfe efg|afd gec|d3 d3:|\n"


@pytest.mark.parametrize(("text", "expected"), [
    (JIG, True),
    ("M:4/4\nL:1/8\nK:G\nGABc dBGB|[1 A4 A4|[2 G8||\n", True),
    ("M:4/4\nL:1/8\nK:G\nGABc dBGB|ABcA BGGA||\ngabg fdBd|c2A2 G4|]\n", True),  # an A part before a B part
    ("M:4/4\nL:1/8\nK:G\nGABc dBGB|ABcA BGGA|\ngabg fdBd|c2A2 G4|]\n", False),  # one part, ended once
])
def test_repeat_structure_is_a_repeat_an_ending_or_a_part_end_before_the_last_line(text, expected):
    assert has_repeat_structure(text) is expected


def test_pitch_class_figures_of_a_scale_and_of_one_pitch():
    scale = parse_tune("M:4/4\nL:1/8\nK:C\nCDEF GAB z|\n")
    assert pitch_class_entropy(scale) == pytest.approx(math.log2(7))
    assert scale_consistency(scale) == 1.0 and in_written_key(scale) == 1.0
    chromatic = parse_tune("M:4/4\nL:1/8\nK:C\nC^CD^D EF^FG|^GA^AB z4|\n")
    assert pitch_class_entropy(chromatic) == pytest.approx(math.log2(12))
    assert scale_consistency(chromatic) == pytest.approx(7 / 12)


def test_summary_pools_bars_and_counts_what_each_reader_read():
    good = tune_figures(JIG)
    broken = tune_figures("M:6/8\nL:1/8\nK:D\ndfa [afd|\n")
    unfinished = tune_figures("M:6/8\nL:1/8\nK:D\ndfa", ended=False)
    assert good.parsed is not None and good.abc2midi == "" and good.music21 == ""
    assert broken.parsed is None and broken.abc2midi != ""
    assert unfinished.abc2midi is None  # never ended: not given to the readers
    summary = summarise([good, broken, unfinished])
    assert summary["read_by_both"] == pytest.approx(1 / 3)
    assert summary["ended"] == pytest.approx(2 / 3)
    assert summary["bars"] == 8 + 1 and summary["bars_right_length"] == pytest.approx(9 / 9)
