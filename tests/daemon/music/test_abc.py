"""The daemon's ABC reader and writer: notes, keys, bars, errors, and real corpus tunes against music21."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from daemon.errors import AntiphonError
from daemon.music.abc import AbcError, bar_check, parse_tune, split_tunes
from daemon.music.abc_keys import parse_abc_key
from daemon.music.abc_writer import notes_to_abc, spell
from daemon.music.grid import Grid
from daemon.music.notes import Note


def tune(body: str, meter: str = "4/4", length: str = "1/8", key: str = "C") -> str:
    return f"X:1\nT:test\nM:{meter}\nL:{length}\nK:{key}\n{body}\n"


def pitches(text: str) -> list[int]:
    return [n.pitch for n in parse_tune(text).notes]


def onsets(text: str) -> list[tuple[Fraction, int, Fraction]]:
    return [(n.start, n.pitch, n.duration) for n in parse_tune(text).notes]


def test_letters_and_octave_marks_give_midi_pitches():
    assert pitches(tune("C, C c c' B,, z |")) == [48, 60, 72, 84, 47]


def test_key_signature_and_modes_set_the_accidentals():
    assert pitches(tune("F c f |", key="G")) == [66, 72, 78]
    assert pitches(tune("F c B |", key="Dmix")) == [66, 72, 71]  # D mixolydian: F#, C natural
    assert pitches(tune("F c B |", key="Ador")) == [66, 72, 71]  # A dorian: F#
    assert pitches(tune("B e |", key="Gm")) == [70, 75]  # G minor: Bb, Eb
    assert pitches(tune("F C G |", key="E Dorian")) == [66, 61, 67]  # E dorian = D major


def test_accidentals_carry_to_the_bar_end_for_the_same_octave_only():
    assert pitches(tune("^F F f | F")) == [66, 66, 77, 65]
    assert pitches(tune("=F F | F", key="G")) == [65, 65, 66]
    assert pitches(tune("__B ^^C _E |")) == [69, 62, 63]


def test_an_accidental_for_one_note_only_is_how_music21_reads_it():
    assert pitches(tune("^F F |") ) == [66, 66]
    assert [n.pitch for n in parse_tune(tune("^F F |"), carry_accidentals=False).notes] == [66, 65]


def test_lengths_scale_the_unit_note_length():
    got = onsets(tune("A2 B/2 c/ d// e3/2 f/4 z4 |", length="1/8"))
    durations = [d for _, _, d in got]
    assert durations == [Fraction(1, 4), Fraction(1, 16), Fraction(1, 16), Fraction(1, 32), Fraction(3, 16),
                         Fraction(1, 32)]
    assert parse_tune(tune("A2 B/2 c/ d// e3/2 f/4 z4 |")).end == Fraction(1, 4 * 8) * 0 + sum(durations) + Fraction(1, 2)


def test_broken_rhythm_dots_the_first_and_halves_the_second():
    got = [d for _, _, d in onsets(tune("A>B c<d e>>f |"))]
    assert got == [Fraction(3, 16), Fraction(1, 16), Fraction(1, 16), Fraction(3, 16), Fraction(7, 32), Fraction(1, 32)]


def test_ties_join_the_same_pitch_across_a_bar_line_and_ignore_another():
    assert onsets(tune("A4 B2 c2- | c2 d2 e2-f2 |")) == [
        (Fraction(0), 69, Fraction(1, 2)), (Fraction(1, 2), 71, Fraction(1, 4)),
        (Fraction(3, 4), 72, Fraction(1, 2)), (Fraction(5, 4), 74, Fraction(1, 4)),
        (Fraction(3, 2), 76, Fraction(1, 4)), (Fraction(7, 4), 77, Fraction(1, 4))]


def test_triplets_fit_three_notes_in_the_time_of_two():
    got = onsets(tune("(3ABc d2 (3:2:3efg a2 |", meter="2/4"))
    assert [d for _, _, d in got] == [Fraction(1, 12)] * 3 + [Fraction(1, 4)] + [Fraction(1, 12)] * 3 + [Fraction(1, 4)]
    parsed = parse_tune(tune("(3ABc d2 | (3efg a2 |", meter="2/4"))
    assert [length for length, _ in parsed.bars] == [Fraction(1, 2), Fraction(1, 2)]


def test_chords_give_every_note_and_last_as_long_as_their_first():
    got = onsets(tune("[CEG]2 [C2E2]/2 d |"))
    assert got[:3] == [(Fraction(0), 60, Fraction(1, 4))] + [(Fraction(0), 64, Fraction(1, 4)),
                                                            (Fraction(0), 67, Fraction(1, 4))]
    assert got[3:5] == [(Fraction(1, 4), 60, Fraction(1, 8)), (Fraction(1, 4), 64, Fraction(1, 8))]
    assert got[5] == (Fraction(3, 8), 74, Fraction(1, 8))


def test_grace_notes_decorations_annotations_and_slurs_are_skipped():
    plain = onsets(tune("A B c d |"))
    assert onsets(tune('{g}A ~B "Am"(c !trill!d) |')) == plain
    assert onsets(tune("A .B uc vd |")) == plain


def test_repeats_and_endings_are_played_as_written_and_counted():
    parsed = parse_tune(tune("|: A4 B4 |1 c8 :|2 d8 || e8 |]"))
    assert [n.pitch for n in parsed.notes] == [69, 71, 72, 74, 76]
    assert parsed.repeats == 3
    assert parse_tune(tune("A4 B4 | c8 |]")).repeats == 0


def test_bar_check_accepts_pickups_at_section_boundaries_and_counts_a_wrong_bar():
    parsed = parse_tune(tune("A | B4 c4 | d4 e3 | f7 :|", meter="4/4"))
    assert [str(length) for length, _ in parsed.bars] == ["1/8", "1", "7/8", "7/8"]
    assert bar_check(parsed) == (3, 4)  # the pickup and the last bar (its complement) are right; bar 3 is short
    assert bar_check(parse_tune(tune("A8 | B9 |", meter="4/4"))) == (1, 2)


def test_multi_bar_rests_fill_whole_bars():
    parsed = parse_tune(tune("Z2 | A8 |"))
    assert parsed.notes[0].start == Fraction(2)


def test_default_unit_length_follows_the_meter():
    assert parse_tune("X:1\nM:2/4\nK:C\nA B |\n").unit == Fraction(1, 16)
    assert parse_tune("X:1\nM:6/8\nK:C\nA B |\n").unit == Fraction(1, 8)


def test_to_piece_puts_the_pickup_before_the_first_bar_line():
    piece = parse_tune(tune("A | B8 |", meter="4/4")).to_piece(ticks_per_beat=12)
    assert piece.grid == Grid(12, 4, 4)
    assert [(n.start, n.pitch, n.duration) for n in piece.notes] == [(42, 69, 6), (48, 71, 48)]


@pytest.mark.parametrize(("text", "words"), [
    ("X:1\nT:no key\n", "no tune found"),
    ("X:1\nM:4/4\nE:what\nK:C\nA|\n", "unknown header field E:"),
    ("X:1\nM:4/4\nK:C\nA [CE B|\n", "not closed"),
    ("X:1\nM:4/4\nK:C\nA B & c|\n", "'&' is not ABC music"),
    ("X:1\nM:4/4\nK:C\nA B c\u00e9|\n", "not ASCII"),
    ("X:1\nM:4/4\nK:Hp\nA B|\n", "not a key"),
    ("X:1\nM:4/4\nK:C\nA B|\nK:G\nA|\n", "changes inside the tune"),
    ("X:1\nM:4/4\nK:C\nV:1\nA B|\n", "several voices"),
    ("X:1\nM:4/4\nK:C\n> A B|\n", "broken rhythm"),
    ("X:1\nM:seven\nK:C\nA B|\n", "not a meter"),
])
def test_bad_text_raises_a_clear_abc_error(text, words):
    with pytest.raises(AbcError, match=words) as caught:
        split_tunes(text)
        parse_tune(text)
    assert isinstance(caught.value, AntiphonError)


def test_split_tunes_finds_every_tune_of_a_file():
    text = "% a book\nX:1\nM:4/4\nK:C\nA|\n\nX:2\nM:3/4\nK:G\nB|\n"
    assert [parse_tune(t).meter for t in split_tunes(text)] == [(4, 4), (3, 4)]


def test_keys_spell_their_signature_and_canonical_name():
    assert parse_abc_key("E Minor").name() == "Em"
    assert parse_abc_key("A Mixolydian").name() == "Amix"
    assert parse_abc_key("F#m").fifths == 3
    assert parse_abc_key("Bb").fifths == -2
    assert parse_abc_key("Ddor").fifths == 0


def test_writer_spells_from_the_key_and_marks_other_pitches():
    key = parse_abc_key("D")
    assert spell(66, key) == ("F", 1, 4)
    assert spell(70, parse_abc_key("F")) == ("B", -1, 4)
    assert spell(65, key) == ("F", 0, 4)


def test_notes_written_as_abc_read_back_the_same():
    grid = Grid(12, 6, 8)
    notes = [Note(0, 62, 6), Note(6, 66, 6), Note(12, 65, 6), Note(18, 65, 18), Note(36, 74, 30),
             Note(66, 69, 12), Note(84, 50, 6), Note(84, 57, 6)]
    text = notes_to_abc(notes, grid, key="D")
    assert text.splitlines()[1:4] == ["M:6/8", "L:1/8", "K:D"]
    back = parse_tune(text).to_piece(ticks_per_beat=12)
    assert [(n.start, n.pitch, n.duration) for n in back.notes] == [(n.start, n.pitch, n.duration) for n in notes]


def test_writer_estimates_the_key_when_none_is_given():
    notes = [Note(i * 6, p, 6) for i, p in enumerate([67, 71, 74, 72, 71, 69, 67, 66, 67, 62, 67, 71])]
    assert "K:G" in notes_to_abc(notes, Grid(12, 4, 4))


# Real tunes with grace notes, slurs, decorations, chords and endings. (music21 joins a tie
# between two different pitches into one note, which O'Neill's transcriptions use as a slur, so
# those are not compared here.)
CORPUS_TUNES = (("airdsAirs/book1.abc", 12), ("ryansMammoth/7thRegimentReel.abc", 1),
                ("ryansMammoth/AcaciaReel.abc", 1), ("ryansMammoth/AdmiralsHornpipe.abc", 1))


@pytest.mark.parametrize(("name", "count"), CORPUS_TUNES)
def test_real_corpus_tunes_read_as_music21_reads_them(name, count):
    music21 = pytest.importorskip("music21")
    from music21 import converter

    text = (Path(music21.__file__).parent / "corpus" / name).read_text(encoding="latin-1")
    for abc in split_tunes(text)[:count]:
        ours = sorted((n.start * 4, n.pitch) for n in parse_tune(abc, carry_accidentals=False).notes)
        score = converter.parse(abc, format="abc").stripTies()
        theirs = sorted((Fraction(n.offset).limit_denominator(96), p.midi) for n in score.flatten().notes
                        if not n.duration.isGrace for p in n.pitches)
        assert len(ours) > 20
        assert ours == theirs
