"""``antiphon run`` refusing what it cannot play: exit status 2, one line saying what to do, no traceback.

These faults are found before any MIDI port opens, so no MIDI system is needed. Most cases run
the command in-process (:func:`daemon.cli.main`); one runs the real subprocess end to end.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.control.presets import PRESETS_ENV

REPO_ROOT = Path(__file__).resolve().parents[3]


def run_in_process(presets_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                   *args: str) -> tuple[int, str]:
    monkeypatch.setenv(PRESETS_ENV, str(presets_dir))
    status = main(["run", "--no-osc", *args])
    return status, capsys.readouterr().err


@pytest.mark.parametrize(("toml", "expected"), [
    ('[model]\nfile = "m.onnx"\n[respond]\nanswer_bar = 2\n', "unknown key respond.answer_bar"),
    ('[model]\nfile = "m.onnx"\n[sampling]\ntemprature = 0.9\n', "unknown key sampling.temprature"),
    ('[model]\nfile = "m.onnx"\n[clok]\nbpm = 90\n', "unknown key or table 'clok'"),
    ('[model]\nfile = "m.onnx"\n[midi]\nchannel = 0\n', "midi.channel must be a MIDI channel 1-16"),
])
def test_a_preset_with_a_typo_is_refused_by_the_keys_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str], toml: str,
                                                           expected: str) -> None:
    (tmp_path / "typo.toml").write_text(toml)
    status, err = run_in_process(tmp_path, monkeypatch, capsys, "--preset", "typo")
    assert status == 2 and expected in err


@pytest.mark.parametrize(("model", "expected"), [
    (None, "does not exist"),
    ("this is text, not a model\n", "is not an ONNX model onnxruntime can load"),
])
def test_a_missing_or_broken_model_is_refused_before_any_port_opens(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], model: str | None,
        expected: str) -> None:
    (tmp_path / "p.toml").write_text('[model]\nfile = "m.onnx"\n')
    if model is not None:
        (tmp_path / "m.onnx").write_text(model)
    status, err = run_in_process(tmp_path, monkeypatch, capsys, "--preset", "p", "--midi-api", "alsa")
    assert status == 2 and expected in err and "m.onnx" in err
    assert "ALSA" not in err, "a port was tried before the model was checked"


def test_a_preset_name_that_is_not_there_lists_those_that_are(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine.toml").write_text('mode = "thru"\n')
    status, err = run_in_process(tmp_path, monkeypatch, capsys, "--preset", "yours")
    assert status == 2 and "no preset called 'yours'" in err and "mine" in err


def test_the_command_exits_2_with_the_keys_name_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "typo.toml").write_text('[model]\nfile = "m.onnx"\n[respond]\nphrase_end_beat = 1\n')
    done = subprocess.run([sys.executable, "-m", "daemon", "run", "--preset", "typo"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin", PRESETS_ENV: str(tmp_path)})
    assert done.returncode == 2
    assert "unknown key respond.phrase_end_beat" in done.stderr
    assert "Traceback" not in done.stderr
