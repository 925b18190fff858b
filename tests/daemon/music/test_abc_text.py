"""The normal form of ABC text the ABC model reads and writes."""

from __future__ import annotations

import pytest

from daemon.music.abc import parse_tune
from daemon.music.abc_keys import AbcError
from daemon.music.abc_text import header_text, normalise_tune, split_numbered

RAW = """X: 7
T:The Test Reel
R:Reel
C:someone
M:C|
L:1/8
Q:1/4=120
Z:a transcriber
K:A Mixolydian % the key
"A"~e2 (cA) !trill!B2 {g}A>B |\\
 "D"d2 .f2 u(3efg a2 |1 A4 A2 :|2 A8 ||
P:B
%%MIDI program 1
x2 ABcd `e`f g2 |]
"""


def test_normal_form_keeps_the_music_fields_and_drops_the_rest():
    text = normalise_tune(RAW.splitlines())
    assert text == ("R:reel\nM:2/2\nL:1/8\nK:Amix\n"
                    "e2 cA B2 A>B | d2 f2 (3efg a2 |[1 A4 A2 :|[2 A8 ||\n"
                    "z2 ABcd ef g2 |]\n")
    assert parse_tune(text).meter == (2, 2)


def test_normal_form_reads_the_same_notes_as_the_text_as_written():
    as_written = [(n.start, n.pitch, n.duration) for n in parse_tune(RAW).notes]
    normal = [(n.start, n.pitch, n.duration) for n in parse_tune(normalise_tune(RAW.splitlines())).notes]
    assert normal == as_written


def test_missing_unit_length_is_written_out_from_the_meter():
    assert "L:1/16" in normalise_tune(["M:2/4", "K:D", "AB cd|"])
    assert "L:1/8" in normalise_tune(["M:6/8", "K:D", "ABc def|"])


@pytest.mark.parametrize(("lines", "reason"), [
    (["M:4/4", "K:D", "AB [K:G] cd|"], "changes inside the tune"),
    (["M:4/4", "K:D", "V:1", "AB cd|"], "several voices"),
    (["M:4/4", "K:HP", "AB cd|"], "key not read"),
    (["K:D", "AB cd|"], "no M: field"),
    (["M:4/4", "K:D", "Z4|"], "multi-bar rest"),
    (["M:4/4", "K:D", '"only words"'], "no notes"),
])
def test_tunes_the_form_cannot_hold_are_refused_with_a_reason(lines, reason):
    with pytest.raises(AbcError, match=reason):
        normalise_tune(lines)


def test_split_numbered_keeps_each_tunes_number():
    assert [n for n, _ in split_numbered("% book\nX:3\nK:D\nA|\nX:\nK:G\nB|\n")] == ["3", "2"]


def test_header_text_spells_the_header_as_the_model_saw_it():
    assert header_text("C", "D Mixolydian", "Jig") == "R:jig\nM:4/4\nL:1/8\nK:Dmix\n"
    assert header_text("2/4", "Ador") == "M:2/4\nL:1/16\nK:Ador\n"
    with pytest.raises(AbcError):
        header_text("6/8", "H")
