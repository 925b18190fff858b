"""``antiphon continue``: real files through the real command, good and bad input alike."""

from __future__ import annotations

import shutil
from pathlib import Path

import mido
import pytest

import presets
from daemon.cli import main as antiphon
from daemon.control.presets import PRESETS_ENV, list_presets, load_preset
from daemon.music.grid import DRUM_CHANNEL, Grid
from daemon.music.midi_files import read_midi, write_midi
from daemon.music.notes import Note
from daemon.music.scales import SCALES
from daemon.offline.render import SOUNDFONT_ENV, find_soundfont

GRID = Grid(12, 4, 4)
C_MAJOR_TUNE = [60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72, 71, 67, 65, 64]


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.export.tiny_lstm import cached_tiny_model

    return cached_tiny_model(tmp_path_factory, "events")[1]


def midi(path: Path, notes: list[Note], bpm: float = 120.0, grid: Grid = GRID) -> Path:
    write_midi(notes, grid, bpm, path=path)
    return path


def tune(channel: int = 0, n: int = 16, transpose: int = 0) -> list[Note]:
    return [Note(i * 6, C_MAJOR_TUNE[i % 16] + transpose, 6, 90, channel) for i in range(n)]


def run(*argv: str | Path) -> int:
    return antiphon(["continue", *map(str, argv)])


def test_continues_a_melody_into_a_valid_file(tiny_onnx: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    src = midi(tmp_path / "in.mid", tune(channel=4), bpm=96)
    out = tmp_path / "out.mid"
    assert run(src, "-o", out, "--model", tiny_onnx, "--bars", 2, "--temperature", 0.9, "--top-p", 0.95,
               "--seed", 3) == 0
    piece = read_midi(out)
    assert piece.bpm == pytest.approx(96, abs=0.01)
    prompt_end = 16 * 6
    assert [n for n in piece.notes if n.start < prompt_end] == tune(channel=4)
    continuation = [n for n in piece.notes if n.start >= prompt_end]
    assert all(n.channel == 4 and n.end <= 2 * 48 + prompt_end for n in continuation)
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "seed 3" in printed


def test_same_seed_same_file(tiny_onnx: Path, tmp_path: Path) -> None:
    src = midi(tmp_path / "in.mid", tune())
    for name in ("a.mid", "b.mid"):
        assert run(src, "-o", tmp_path / name, "--model", tiny_onnx, "--seed", 11) == 0
    assert read_midi(tmp_path / "a.mid").notes == read_midi(tmp_path / "b.mid").notes


def test_a_file_without_notes_is_a_clear_error(tiny_onnx: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    src = midi(tmp_path / "empty.mid", [])
    assert run(src, "-o", tmp_path / "out.mid", "--model", tiny_onnx) == 2
    assert "has no notes to continue" in capsys.readouterr().err
    assert not (tmp_path / "out.mid").exists()


def test_a_single_note_is_enough(tiny_onnx: Path, tmp_path: Path) -> None:
    src = midi(tmp_path / "one.mid", [Note(0, 67, 12)])
    assert run(src, "-o", tmp_path / "out.mid", "--model", tiny_onnx, "--seed", 1) == 0
    assert read_midi(tmp_path / "out.mid").notes[0] == Note(0, 67, 12)


def test_five_hundred_notes(tiny_onnx: Path, tmp_path: Path) -> None:
    notes = [Note(i * 3, 40 + (i * 5) % 48, 3, 70, 0) for i in range(500)]
    src = midi(tmp_path / "long.mid", notes)
    assert run(src, "-o", tmp_path / "out.mid", "--model", tiny_onnx, "--seed", 2) == 0
    assert len(read_midi(tmp_path / "out.mid").notes) >= 500


def test_notes_outside_the_presets_range_are_kept_and_the_answer_stays_in_range(
        tiny_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "presets"
    folder.mkdir()
    shutil.copy(tiny_onnx, folder / "tiny.onnx")
    (folder / "narrow.toml").write_text('[model]\nfile = "tiny.onnx"\n[sampling]\npitch_low = 55\n'
                                        'pitch_high = 79\n', encoding="utf-8")
    monkeypatch.setenv(PRESETS_ENV, str(folder))
    extreme = [Note(i * 6, p, 6) for i, p in enumerate([2, 5, 9, 120, 124, 127, 60, 62])]
    src = midi(tmp_path / "wide.mid", extreme)
    assert run(src, "-o", tmp_path / "out.mid", "--preset", "narrow", "--seed", 4) == 0
    continuation = [n for n in read_midi(tmp_path / "out.mid").notes if n.start >= 48]
    assert all(55 <= n.pitch <= 79 for n in continuation)
    assert "outside the pitch range 55-79" in caplog.text


def test_only_drums_is_a_clear_error(tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    beat = [Note(i * 3, 36 if i % 4 == 0 else 42, 1, 100, DRUM_CHANNEL) for i in range(32)]
    src = midi(tmp_path / "drums.mid", beat)
    assert run(src, "-o", tmp_path / "out.mid", "--model", tiny_onnx) == 2
    assert "only drum notes (channel 10)" in capsys.readouterr().err


def test_drums_beside_a_melody_are_ignored(tiny_onnx: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    beat = [Note(i * 6, 36, 1, 100, DRUM_CHANNEL) for i in range(16)]
    src = midi(tmp_path / "band.mid", [*tune(channel=1), *beat])
    assert run(src, "-o", tmp_path / "out.mid", "--model", tiny_onnx, "--seed", 5) == 0
    notes = read_midi(tmp_path / "out.mid").notes
    assert all(n.channel == 1 for n in notes)
    assert "ignoring 16 drum notes" in caplog.text


def test_top_prompt_takes_the_highest_channels_top_line(tiny_onnx: Path, tmp_path: Path) -> None:
    bass = [Note(i * 12, 36, 12, 80, 2) for i in range(8)]
    chords = [Note(i * 12, p, 12, 80, 0) for i in range(8) for p in (64, 67, 72)]
    src = midi(tmp_path / "song.mid", [*bass, *chords])
    assert run(src, "-o", tmp_path / "out.mid", "--model", tiny_onnx, "--prompt", "top", "--seed", 6) == 0
    notes = read_midi(tmp_path / "out.mid").notes
    prompt = [n for n in notes if n.start < 96]
    assert prompt == [Note(i * 12, 72, 12, 80, 0) for i in range(8)]


def test_a_tempo_of_300_bpm_is_kept(tiny_onnx: Path, tmp_path: Path) -> None:
    src = midi(tmp_path / "fast.mid", tune(), bpm=300)
    assert run(src, "-o", tmp_path / "out.mid", "--model", tiny_onnx, "--bars", 8, "--seed", 7) == 0
    out = mido.MidiFile(str(tmp_path / "out.mid"))
    tempos = [m.tempo for m in out.tracks[0] if m.type == "set_tempo"]
    assert tempos == [mido.bpm2tempo(300)]


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = midi(tmp_path / "in.mid", tune())
    assert run(src, "-o", tmp_path / "out.mid", "--model", tmp_path / "nowhere.onnx") == 2
    assert "nowhere.onnx does not exist" in capsys.readouterr().err


def test_a_file_that_is_not_onnx_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = midi(tmp_path / "in.mid", tune())
    assert run(src, "-o", tmp_path / "out.mid", "--model", src) == 2
    assert "is not an ONNX model" in capsys.readouterr().err


def test_a_missing_or_corrupt_input_is_a_clear_error(tiny_onnx: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path / "none.mid", "-o", tmp_path / "out.mid", "--model", tiny_onnx) == 2
    assert "cannot read MIDI file" in capsys.readouterr().err
    junk = tmp_path / "junk.mid"
    junk.write_bytes(b"not midi at all")
    assert run(junk, "-o", tmp_path / "out.mid", "--model", tiny_onnx) == 2
    assert "cannot read MIDI file" in capsys.readouterr().err


def test_bad_sampling_flags_and_presets_are_clear_errors(tiny_onnx: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = midi(tmp_path / "in.mid", tune())
    assert run(src, "-o", tmp_path / "o.mid", "--model", tiny_onnx, "--temperature", "-1") == 2
    assert "temperature must be 0.05-5" in capsys.readouterr().err
    assert run(src, "-o", tmp_path / "o.mid", "--model", tiny_onnx, "--scale", "major") == 2
    assert "needs a key_root" in capsys.readouterr().err
    assert run(src, "-o", tmp_path / "o.mid", "--preset", "../../etc/passwd") == 2
    assert "not a preset name" in capsys.readouterr().err


def test_no_preset_or_model_uses_the_bundled_default(tmp_path: Path) -> None:
    src = midi(tmp_path / "in.mid", tune())
    assert run(src, "-o", tmp_path / "o.mid", "--seed", "3") == 0
    assert len(read_midi(tmp_path / "o.mid").notes) > len(read_midi(src).notes)


def test_the_output_folder_must_exist(tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = midi(tmp_path / "in.mid", tune())
    assert run(src, "-o", tmp_path / "no" / "out.mid", "--model", tiny_onnx) == 2
    assert "cannot write" in capsys.readouterr().err


def test_wav_preview_or_a_clear_reason(tiny_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    src = midi(tmp_path / "in.mid", tune())
    wav = tmp_path / "out.wav"
    monkeypatch.setenv(SOUNDFONT_ENV, str(tmp_path / "missing.sf2"))
    assert run(src, "-o", tmp_path / "out.mid", "--model", tiny_onnx, "--wav", wav) == 2
    err = capsys.readouterr().err
    assert ("no General MIDI soundfont" in err or "fluidsynth program is not installed" in err) and "was written" in err
    assert (tmp_path / "out.mid").is_file()
    monkeypatch.delenv(SOUNDFONT_ENV)
    if shutil.which("fluidsynth") is None or find_soundfont() is None:
        pytest.skip("fluidsynth or a GM soundfont is not installed")
    assert run(src, "-o", tmp_path / "out.mid", "--model", tiny_onnx, "--wav", wav, "--bars", 1) == 0
    assert wav.read_bytes()[:4] == b"RIFF" and wav.stat().st_size > 10_000


# ---------------------------------------------------------------- bundled models


def _bundled_lstm_presets() -> list[str]:
    """Bundled presets whose model file exists and is an LSTM (GAN presets are tested elsewhere)."""
    from daemon.models.onnx_file import open_session

    names = []
    for name in list_presets(presets.PRESETS_DIR):
        preset = load_preset(name, presets_dir=presets.PRESETS_DIR)
        if preset.model_path.is_file() and open_session(preset.model_path)[1].kind == "lstm":
            names.append(name)
    return names


BUNDLED = _bundled_lstm_presets()


@pytest.mark.parametrize("preset_name", BUNDLED or [pytest.param(None, marks=pytest.mark.skip(
    reason="no bundled LSTM model yet (presets/*.toml naming an existing LSTM .onnx)"))])
def test_bundled_model_stays_in_key(preset_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trained model continuing a C-major tune mostly stays in C major, without a scale mask."""
    monkeypatch.delenv(PRESETS_ENV, raising=False)
    src = midi(tmp_path / "c_major.mid", tune(n=32))
    in_key = total = 0
    for seed in range(4):
        out = tmp_path / f"out{seed}.mid"
        assert run(src, "-o", out, "--preset", preset_name, "--bars", 4, "--seed", seed, "--temperature", 0.8) == 0
        continuation = [n for n in read_midi(out).notes if n.start >= 32 * 6]
        total += len(continuation)
        in_key += sum(n.pitch % 12 in SCALES["major"] for n in continuation)
    assert total > 0, "the model answered with silence"
    assert in_key / total >= 0.8, f"only {in_key}/{total} continuation notes are in C major"


def test_auto_prompt_follows_what_the_model_learned() -> None:
    from types import SimpleNamespace

    from daemon.models.continuator import prompt_mode
    from daemon.music.events import NoteEventCodec
    from tests.export.tiny_lstm import tiny_chord_codec

    def model(codec: object, **training: object) -> SimpleNamespace:
        return SimpleNamespace(codec=codec, info=SimpleNamespace(training=training))

    assert prompt_mode("auto", model(NoteEventCodec(), voices="melody")) == "top"
    assert prompt_mode("auto", model(NoteEventCodec(), voices="all")) == "all"
    assert prompt_mode("auto", model(NoteEventCodec(), polyphonic=False)) == "top"
    assert prompt_mode("auto", model(NoteEventCodec())) == "all"
    assert prompt_mode("auto", model(tiny_chord_codec(), voices="melody")) == "all"
    assert prompt_mode("top", model(NoteEventCodec(), voices="all")) == "top"
