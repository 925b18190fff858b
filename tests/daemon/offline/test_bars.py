"""``antiphon bars``: chained bars from a tiny exported GAN, and conditioning files it cannot hear."""

from __future__ import annotations

import logging
from pathlib import Path

import mido
import pytest

from daemon.cli import main
from daemon.music.grid import DRUM_CHANNEL, Grid
from daemon.music.midi_files import read_midi, write_midi
from daemon.music.notes import Note

pytest.importorskip("torch")

from tests.export.tiny_gan import cached_tiny_gan


@pytest.fixture(scope="module")
def grooves(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cached_tiny_gan(tmp_path_factory, "grooves")[1]


@pytest.fixture(scope="module")
def chorales(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cached_tiny_gan(tmp_path_factory, "chorales")[1]


def groove_file(path: Path, meter: tuple[int, int] = (4, 4), drums_only: bool = False) -> Path:
    grid = Grid(12, *meter)
    notes = []
    for bar in range(2):
        t0 = bar * grid.ticks_per_bar
        for beat in range(meter[0]):
            notes.append(Note(t0 + 12 * beat, 36 if beat % 2 == 0 else 38, 3, 100, DRUM_CHANNEL))
        if not drums_only:
            notes.append(Note(t0, 40, 12, 90, 4))
            notes += [Note(t0, p, 24, 70, 5) for p in (55, 59, 62)]
    write_midi(notes, grid, 96.0, path=path)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["bars", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_unconditioned_bars_are_written_on_the_models_tracks(grooves: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.mid"
    code, text, _ = run(capsys, "-n", "8", "-o", str(out), "--model", str(grooves), "--seed", "3", "--bernoulli")
    assert code == 0
    assert "8 bars" in text and "unconditioned" in text and "seed 3" in text and "Bernoulli" in text
    piece = read_midi(out)
    assert piece.notes, "Bernoulli draws from a random tiny model (p ~ 0.05) still play something"
    assert {n.channel for n in piece.notes} <= {DRUM_CHANNEL, 1, 2}
    assert piece.end <= 8 * piece.grid.ticks_per_bar


def test_the_same_seed_gives_the_same_bars(grooves: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    for path in (a, b):
        assert run(capsys, "-n", "4", "-o", str(path), "--model", str(grooves), "--seed", "11", "--bernoulli")[0] == 0
    assert read_midi(a).notes == read_midi(b).notes


def test_a_four_four_file_conditions_the_first_bar(grooves: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    condition = groove_file(tmp_path / "prev.mid")
    code, text, _ = run(capsys, "-n", "2", "-o", str(tmp_path / "o.mid"), "--model", str(grooves),
                        "--condition", str(condition), "--seed", "1")
    assert code == 0
    assert "conditioned on bar 2" in text
    assert "drums" in text and "bass" in text and "chords" in text
    assert read_midi(tmp_path / "o.mid").bpm == pytest.approx(96.0, abs=0.01)


@pytest.mark.parametrize("case, message", [
    ("three-four", "is in 3/4; this model plays 4/4 bars: sampling unconditioned"),
    ("empty", "has no notes"),
])
def test_a_file_the_model_cannot_hear_falls_back_to_unconditioned(
        case: str, message: str, grooves: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    if case == "three-four":
        condition = groove_file(tmp_path / "waltz.mid", meter=(3, 4))
    else:
        condition = tmp_path / "empty.mid"
        write_midi([], Grid(12), 120.0, path=condition)
    out = tmp_path / "o.mid"
    with caplog.at_level(logging.WARNING):
        code, _, err = run(capsys, "-n", "2", "-o", str(out), "--model", str(grooves), "--condition", str(condition))
    assert code == 0 and out.is_file()
    assert message in caplog.text
    assert "Traceback" not in err


def test_drums_only_condition_a_groove_model_but_not_a_chorale_model(
        grooves: Path, chorales: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    condition = groove_file(tmp_path / "drums.mid", drums_only=True)
    code, text, _ = run(capsys, "-n", "1", "-o", str(tmp_path / "g.mid"), "--model", str(grooves),
                        "--condition", str(condition))
    assert code == 0 and "conditioned on bar 2" in text and "drums" in text
    with caplog.at_level(logging.WARNING):
        code, text, _ = run(capsys, "-n", "1", "-o", str(tmp_path / "c.mid"), "--model", str(chorales),
                            "--condition", str(condition))
    assert code == 0
    assert "only drums" in caplog.text and "sampling unconditioned" in caplog.text
    assert {n.channel for n in read_midi(tmp_path / "c.mid").notes} <= {0, 1, 2, 3}


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("corrupt", "cannot read MIDI file"),
])
def test_an_unreadable_condition_file_is_one_clear_line(case: str, message: str, grooves: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    condition = tmp_path / "prev.mid"
    if case == "corrupt":
        condition.write_bytes(b"MThd garbage")
    code, _, err = run(capsys, "-o", str(tmp_path / "o.mid"), "--model", str(grooves), "--condition", str(condition))
    assert code == 2
    assert message in err and "Traceback" not in err


def test_a_model_that_is_not_a_gan_is_refused(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from tests.export.tiny_lstm import cached_tiny_model

    _, lstm = cached_tiny_model(tmp_path_factory, "chords")
    code, _, err = run(capsys, "-o", str(tmp_path / "o.mid"), "--model", str(lstm))
    assert code == 2 and "not a GAN" in err


def test_bad_arguments_are_refused_by_the_parser(grooves: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["bars", "-n", "0", "-o", str(tmp_path / "o.mid"), "--model", str(grooves)])
    with pytest.raises(SystemExit):
        main(["bars", "--threshold", "1.5", "-o", str(tmp_path / "o.mid"), "--model", str(grooves)])


def test_the_written_file_is_a_type_0_midi_file_with_programs(grooves: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.mid"
    assert run(capsys, "-n", "1", "-o", str(out), "--model", str(grooves), "--seed", "0")[0] == 0
    midi = mido.MidiFile(str(out))
    programs = {(m.channel, m.program) for m in midi.tracks[0] if m.type == "program_change"}
    assert programs == {(1, 33), (2, 0)}


@pytest.mark.parametrize(("preset", "tracks"), [("grooves", "drums"), ("both", "drums"), ("chorale", "soprano")])
def test_every_bundled_preset_with_a_gan_plays_bars(preset: str, tracks: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The chorale preset answers with an LSTM and sings GAN bars beside it: ``bars`` takes the GAN."""
    out_file = tmp_path / f"{preset}.mid"
    code, out, err = run(capsys, "--preset", preset, "-n", "2", "-o", str(out_file), "--seed", "1")
    assert code == 0, err
    assert f"2 bars ({tracks} " in out and read_midi(out_file).notes


def test_a_preset_without_a_gan_is_refused_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--preset", "default", "-o", str(tmp_path / "o.mid"))
    assert code == 2 and "not a GAN" in err and "Traceback" not in err
