"""``antiphon morph``, ``vary`` and ``sample``: real files through the real commands, good and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.cli import main as antiphon
from daemon.music.grid import DRUM_CHANNEL, Grid
from daemon.music.midi_files import read_midi, write_midi
from daemon.music.notes import Note

GRID = Grid(12, 4, 4)
REEL = [62, 66, 69, 66, 74, 69, 66, 69, 67, 71, 74, 71, 69, 66, 64, 62]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a VAE without attributes, one carrying ``density``)."""
    pytest.importorskip("torch")
    from tests.export.tiny_vae import tiny_vae

    return (tiny_vae(tmp_path_factory.mktemp("plain"), seed=1)[1],
            tiny_vae(tmp_path_factory.mktemp("attr"), attributes=True, seed=1)[1])


def midi(path: Path, notes: list[Note], bpm: float = 100.0) -> Path:
    write_midi(notes, GRID, bpm, path=path)
    return path


def reel(bars: int = 2, channel: int = 0, transpose: int = 0) -> list[Note]:
    return [Note(i * 6, REEL[i % 16] + transpose, 6, 90, channel) for i in range(bars * 8)]


def test_morph_writes_one_two_bar_phrase_per_step_on_the_first_files_channel(
        models: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = midi(tmp_path / "a.mid", reel(6, channel=3)), midi(tmp_path / "b.mid", reel(2, transpose=5))
    out = tmp_path / "out.mid"
    assert antiphon(["morph", str(a), str(b), "--model", str(models[0]), "--steps", "5", "-o", str(out)]) == 0
    piece = read_midi(out)
    assert piece.bpm == pytest.approx(100.0)
    assert all(n.channel == 3 and n.start < 5 * 96 for n in piece.notes)
    assert "5 phrases of 2 bars" in capsys.readouterr().out


def test_sample_draws_phrases_from_the_prior_the_same_way_for_a_seed(models: tuple[Path, Path], tmp_path: Path) -> None:
    outs = [tmp_path / "one.mid", tmp_path / "two.mid"]
    for out in outs:
        assert antiphon(["sample", "--vae", str(models[0]), "--count", "3", "--temperature", "1", "--seed", "4",
                         "-o", str(out)]) == 0
    first, second = (read_midi(p).notes for p in outs)
    assert first == second and all(n.start < 3 * 96 for n in first)


def test_vary_writes_the_phrase_then_its_variations_and_moves_along_an_attribute(
        models: tuple[Path, Path], tmp_path: Path) -> None:
    src = midi(tmp_path / "in.mid", reel(4))
    out = tmp_path / "out.mid"
    assert antiphon(["vary", str(src), "--model", str(models[1]), "--amount", "0.5", "--count", "2", "--seed", "1",
                     "--attribute", "density=+1.0", "-o", str(out)]) == 0
    notes = read_midi(out).notes
    assert [(n.start, n.pitch) for n in notes if n.start < 96] == [(i * 6, p) for i, p in enumerate(REEL)]
    assert all(n.start < 3 * 96 for n in notes)


def bad(tmp_path: Path, name: str, notes: list[Note]) -> Path:
    return midi(tmp_path / name, notes)


@pytest.mark.parametrize(("argv", "message"), [
    (lambda d, m: ["vary", str(bad(d, "one.mid", [Note(0, 60, 12)])), "--model", str(m), "-o", str(d / "o.mid")],
     "1 note in its last 2 bars"),
    (lambda d, m: ["vary", str(bad(d, "empty.mid", [])), "--model", str(m), "-o", str(d / "o.mid")], "has no notes"),
    (lambda d, m: ["vary", str(bad(d, "drums.mid", [Note(i * 12, 36, 6, 100, DRUM_CHANNEL) for i in range(8)])),
                   "--model", str(m), "-o", str(d / "o.mid")], "only drum notes"),
    (lambda d, m: ["morph", str(bad(d, "a.mid", reel())), str(d / "missing.mid"), "--model", str(m),
                   "-o", str(d / "o.mid")], "missing.mid does not exist"),
    (lambda d, m: ["morph", str(bad(d, "a.mid", reel())), str(d / "corrupt.mid"), "--model", str(m),
                   "-o", str(d / "o.mid")], "not a MIDI file"),
    (lambda d, m: ["vary", str(bad(d, "a.mid", reel())), "--model", str(m), "--attribute", "density=1",
                   "-o", str(d / "o.mid")], "carries no attribute 'density'"),
    (lambda d, m: ["vary", str(bad(d, "a.mid", reel())), "--model", str(m), "--amount", "9", "-o", str(d / "o.mid")],
     "--amount must be"),
    (lambda d, m: ["sample", "--vae", str(d / "nothing.onnx"), "-o", str(d / "o.mid")], "does not exist"),
])
def test_bad_input_ends_with_one_line_and_status_2(models: tuple[Path, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str], argv, message: str) -> None:
    (tmp_path / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01garbage")
    assert antiphon(argv(tmp_path, models[0])) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_file_longer_than_two_bars_is_read_from_its_last_two(models: tuple[Path, Path], tmp_path: Path) -> None:
    from daemon.models.vae import load_vae
    from daemon.offline.vae_phrases import read_phrase

    notes = reel(2, transpose=-12) + [Note(n.start + 4 * 48, n.pitch, n.duration, n.velocity) for n in reel(2)]
    phrase = read_phrase(midi(tmp_path / "long.mid", notes), load_vae(models[0]))
    assert [n.pitch for n in phrase.notes] == REEL and phrase.notes[0].start == 0
