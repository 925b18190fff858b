"""``antiphon restyle``: real test-split grooves of the mma library (rendered here with mma, never
trained on) through the bundled restyle model, and the files it must refuse in one line."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest

from daemon.cli import main
from daemon.music.grid import DRUM_CHANNEL, Grid
from daemon.music.midi_files import read_midi, write_midi
from daemon.music.notes import Note
from tests.daemon.mma_groove import LATIN_TEST, ROCK_TEST, render

BUNDLED = Path(__file__).resolve().parents[3] / "presets" / "restyle-grooves.onnx"
CHANNELS = {DRUM_CHANNEL, 1, 2}  # the model's drums, bass, chords


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["restyle", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("source", "to"), [(ROCK_TEST, "latin"), (LATIN_TEST, "rock"), (ROCK_TEST, "swing")],
                         ids=["rock", "latin", "rock-to-swing"])
def test_a_real_groove_is_restyled_bar_by_bar_at_its_tempo_and_meter(
        source: tuple[str, str], to: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    played = render(*source, tmp_path / "mma")
    out = tmp_path / "out.mid"
    code, stdout, err = run(capsys, str(played), "--to", to, "-o", str(out))
    assert code == 0, err
    assert f"as {to}" in stdout
    before, after = read_midi(played), read_midi(out)
    assert after.bpm == pytest.approx(before.bpm, abs=0.01)
    assert (after.grid.numerator, after.grid.denominator) == (4, 4)
    assert {n.channel for n in after.notes} <= CHANNELS
    bar = after.grid.ticks_per_bar
    played_bars = {n.start // bar for n in before.notes}
    restyled_bars = {n.start // bar for n in after.notes}
    assert restyled_bars <= played_bars and len(restyled_bars) >= len(played_bars) - 1
    assert any(n.channel == DRUM_CHANNEL for n in after.notes) and any(n.channel == 1 for n in after.notes)
    assert after.notes != before.notes


def test_a_file_in_three_four_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    waltz = tmp_path / "waltz.mid"
    write_midi([Note(0, 36, 3, 100, DRUM_CHANNEL), Note(0, 48, 36, 90, 1)], Grid(12, 3, 4), 120.0, path=waltz)
    code, _, err = run(capsys, str(waltz), "-o", str(tmp_path / "o.mid"))
    assert code == 2
    assert "3/4" in err and "4/4" in err and "Traceback" not in err
    assert not (tmp_path / "o.mid").exists()


def test_an_unknown_style_names_the_styles_the_models_make(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    played = tmp_path / "in.mid"
    write_midi([Note(0, 36, 3, 100, DRUM_CHANNEL)], Grid(12), 120.0, path=played)
    code, _, err = run(capsys, str(played), "--to", "polka", "-o", str(tmp_path / "o.mid"))
    assert code == 2 and "rock, latin, swing" in err and "polka" in err
    code, _, err = run(capsys, str(played), "--to", "swing", "--model", str(BUNDLED), "-o", str(tmp_path / "o.mid"))
    assert code == 2 and "rock or latin" in err and "swing" in err


@pytest.mark.parametrize(("case", "message"), [("missing", "does not exist"), ("corrupt", "cannot read MIDI"),
                                                 ("empty", "no notes")])
def test_a_file_with_nothing_to_restyle_is_one_clear_line(case: str, message: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / f"{case}.mid"
    if case == "corrupt":
        path.write_bytes(b"MThd not really")
    elif case == "empty":
        mido.MidiFile().save(str(path))
    code, _, err = run(capsys, str(path), "-o", str(tmp_path / "o.mid"))
    assert code == 2 and message in err and "Traceback" not in err


def test_drums_only_and_silent_bars_come_back_as_drums_and_silence(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    grid = Grid(12)
    bar = grid.ticks_per_bar
    drums = [Note(b * bar + 6 * k, 42, 3, 90, DRUM_CHANNEL) for b in (0, 2) for k in range(8)]
    drums += [Note(b * bar + 12 * k, 36 if k % 2 == 0 else 38, 3, 110, DRUM_CHANNEL) for b in (0, 2) for k in range(4)]
    played = tmp_path / "drums.mid"
    write_midi(drums, grid, 100.0, path=played)  # bar 2 (index 1) is silent
    out = tmp_path / "out.mid"
    code, stdout, err = run(capsys, str(played), "--to", "latin", "-o", str(out))
    assert code == 0, err
    assert "1 silent bars kept silent" in stdout
    notes = read_midi(out).notes
    assert notes and not any(bar <= n.start < 2 * bar for n in notes)
    assert any(n.channel == DRUM_CHANNEL for n in notes)


def test_the_bundled_model_file_is_there() -> None:
    assert BUNDLED.is_file() and BUNDLED.stat().st_size < 20e6
