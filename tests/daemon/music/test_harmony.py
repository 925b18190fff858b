"""Chord symbols, the chord a player holds, chord vectors and the note-in-chord share."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.music.harmony import (
    CHORD_DIM,
    Chord,
    ChordError,
    chord_vector,
    note_in_chord,
    parse_chord,
    parse_progression,
    recognise,
)


@pytest.mark.parametrize(("symbol", "root", "quality"), [
    ("C", 0, ""), ("Am", 9, "m"), ("G7", 7, "7"), ("F#m7", 6, "m7"), ("Bbmaj7", 10, "maj7"), ("Ddim", 2, "dim"),
    ("Ebsus4", 3, "sus4"), ("cmin", 0, "m"),
])
def test_a_chord_symbol_gives_its_root_and_quality(symbol: str, root: int, quality: str) -> None:
    assert parse_chord(symbol) == Chord(root, quality)


def test_a_dominant_seventh_has_four_pitch_classes_and_names_itself() -> None:
    g7 = parse_chord("G7")
    assert g7.pitch_classes == {7, 11, 2, 5} and g7.name == "G7"
    assert g7.transposed(5) == Chord(0, "7")


@pytest.mark.parametrize("bad", ["", "H", "Cxyz", "C##", "7"])
def test_an_unreadable_symbol_says_what_a_chord_looks_like(bad: str) -> None:
    with pytest.raises(ChordError, match="chord symbol"):
        parse_chord(bad)


def test_a_progression_is_one_chord_a_bar_whatever_separates_them() -> None:
    assert [c.name for c in parse_progression("C | Am, F  G7")] == ["C", "Am", "F", "G7"]
    with pytest.raises(ChordError, match="empty"):
        parse_progression(" | ")


def test_held_triads_and_sevenths_are_recognised_in_any_voicing() -> None:
    assert recognise([60, 64, 67]) == Chord(0, "")
    assert recognise([45, 60, 64, 69]) == Chord(9, "m")  # A C E, doubled
    assert recognise([43, 59, 62, 65]) == Chord(7, "7")
    assert recognise([64, 67]) in (Chord(0, ""), Chord(4, "m")), "two notes of a triad: a chord with both"


def test_a_single_note_is_no_chord() -> None:
    assert recognise([60]) is None and recognise([]) is None


def test_a_chord_vector_marks_the_pitch_classes_and_the_flag() -> None:
    vectors = chord_vector([parse_chord("Am"), None])
    assert vectors.shape == (2, CHORD_DIM) and vectors.dtype == np.float32
    assert np.flatnonzero(vectors[0, :12]).tolist() == [0, 4, 9] and vectors[0, -1] == 1.0
    assert not vectors[1].any(), "no chord: all zeros"


def test_note_in_chord_counts_the_notes_whose_pitch_class_is_in_the_chord() -> None:
    assert note_in_chord([48, 52, 55, 62], parse_chord("C")) == (3, 4)
