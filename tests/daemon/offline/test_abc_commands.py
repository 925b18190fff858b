"""``antiphon compose --abc`` and ``antiphon continue tune.abc`` with the bundled folk-abc model."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from daemon.cli import main as antiphon
from daemon.music.abc import bar_check, parse_tune, split_tunes
from daemon.music.midi_files import read_midi
from daemon.offline.abc_tunes import first_part

TUNE = """X:1
T:A test jig
C:trad
M:6/8
L:1/8
K:D
"D"~A|dfa afd|"G"gbg fed|"A"cBA ABc|"D"d3 d2:|
|:e|fga agf|gfe efg|afd gec|d3 d2:|
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_compose_writes_tunes_in_the_asked_meter_key_and_rhythm(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "tunes.abc"
    assert antiphon(["compose", "--abc", "-n", "2", "--meter", "6/8", "--key", "Dmix", "--rhythm", "jig",
                     "-o", str(out), "--seed", "1"]) == 0
    tunes = split_tunes(out.read_text())
    assert len(tunes) == 2
    for text in tunes:
        parsed = parse_tune(text)
        assert parsed.meter == (6, 8) and parsed.key.name() == "Dmix" and parsed.fields["R"] == "jig"
        assert len(parsed.notes) >= 8
    assert "seeds 1-2" in capsys.readouterr().out


def test_compose_to_midi_writes_one_file_per_tune(tmp_path: Path):
    assert antiphon(["compose", "--abc", "-n", "2", "--meter", "4/4", "--key", "G", "--rhythm", "reel",
                     "-o", str(tmp_path / "t.mid"), "--seed", "5"]) == 0
    for name in ("t-01.mid", "t-02.mid"):
        piece = read_midi(tmp_path / name)
        assert len(piece.notes) >= 8 and (piece.grid.numerator, piece.grid.denominator) == (4, 4)


def test_compose_needs_abc_and_a_key_it_can_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert antiphon(["compose", "-o", str(tmp_path / "x.abc")]) == 2
    assert "--abc" in capsys.readouterr().err
    assert antiphon(["compose", "--abc", "--key", "H#", "-o", str(tmp_path / "x.abc")]) == 2
    assert "not a key" in capsys.readouterr().err


def test_an_unseen_key_is_warned_about_and_still_composed(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        assert antiphon(["compose", "--abc", "--key", "C#lyd", "-o", str(tmp_path / "x.abc"), "--seed", "2"]) == 0
    assert "never saw the key K:C#lyd" in caplog.text
    assert parse_tune(split_tunes((tmp_path / "x.abc").read_text())[0]).key.name() == "C#lyd"


def test_continue_keeps_the_first_part_and_writes_the_rest(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    src = write(tmp_path / "jig.abc", TUNE)
    out = tmp_path / "out.abc"
    assert antiphon(["continue", str(src), "-o", str(out), "--seed", "4"]) == 0
    text = split_tunes(out.read_text())[0]
    assert "R:" not in text and "K:D\nA|dfa afd|gbg fed|cBA ABc|d3 d2:|\n" in text
    parsed = parse_tune(text)
    assert len(parsed.bars) > 5
    assert "A test jig (continued by Antiphon, seed 4)" in text
    assert "first 5 bars" in capsys.readouterr().out


def test_continue_picks_a_tune_of_several_and_writes_midi(tmp_path: Path):
    src = write(tmp_path / "two.abc", TUNE + "\nX:2\nT:Second\nM:4/4\nL:1/8\nK:G\nGABc dBGB|ABcA BGGA|GABc dBGB|cAFA G4||\n")
    assert antiphon(["continue", str(src), "--tune", "2", "-o", str(tmp_path / "out.mid"), "--seed", "1"]) == 0
    piece = read_midi(tmp_path / "out.mid")
    assert (piece.grid.numerator, piece.grid.denominator) == (4, 4) and len(piece.notes) > 16
    assert antiphon(["continue", str(src), "--tune", "3", "-o", str(tmp_path / "out.mid")]) == 2


@pytest.mark.parametrize(("text", "message"), [
    ("% only a comment\n", "no tune found"),
    ("X:1\nE:what\nM:6/8\nK:D\nABc def|\n", "unknown header field E:"),
    ("X:1\nM:6/8\nK:D\nABc d\u00e9f|\n", "not ASCII"),
    ("X:1\nM:6/8\nK:D\nABc [def|\n", "line 4, column 5"),
    ("X:1\nM:6/8\nK:D\nV:2\nABc def|\n", "several voices"),
])
def test_bad_abc_files_end_with_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], text, message):
    src = write(tmp_path / "bad.abc", text)
    assert antiphon(["continue", str(src), "-o", str(tmp_path / "out.abc")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_bar_of_the_wrong_length_is_named_and_the_tune_continued(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture):
    src = write(tmp_path / "short.abc", "X:1\nM:6/8\nL:1/8\nK:D\ndfa afd|gbg fe|cBA ABc|d3 d3|]\n")
    with caplog.at_level(logging.WARNING):
        assert antiphon(["continue", str(src), "-o", str(tmp_path / "out.abc"), "--seed", "2"]) == 0
    assert "1 of 4 bars do not fit M:6/8" in caplog.text


def test_first_part_ends_at_the_first_repeat_or_after_some_bars():
    normal = "M:6/8\nL:1/8\nK:D\nA|dfa afd|gbg fed:|\n|:e|fga agf|\n"
    assert first_part(normal) == "M:6/8\nL:1/8\nK:D\nA|dfa afd|gbg fed:|\n"
    plain = "M:4/4\nL:1/8\nK:G\n" + "GABc dBGB|" * 12 + "\n"
    assert bar_check(parse_tune(first_part(plain)))[1] == 6
