"""Short runs of `antiphon train style-classifier` and `antiphon train restyle` on a tiny groove cache.

The cache is written as `antiphon train data` writes it (``grooves/{train,valid,test}.{npz,json}``),
with real-looking groove ids, so the families, the split by library file and the bar building
are the real ones.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from daemon.music.grid import DRUM_CHANNEL, Grid
from daemon.music.notes import Note
from training.restyle import checkpoint
from training.restyle import classifier as classifier_cli
from training.restyle import train as train_cli
from training.restyle.data import load_style_bars
from training.restyle.families import assign_splits

# three library files per family: one each to test, valid and train (assign_splits)
FILES = {"rock": ("rock", "pop", "punk"), "latin": ("bossanova", "samba", "mambo")}
GROOVES = ("Main", "Sus")
BASS, CHORDS = 1, 2
ROLES = {DRUM_CHANNEL: "drums", BASS: "bass", CHORDS: "chords"}
TINY = ["--steps", "4", "--eval-every", "2", "--batch-size", "4", "--seed", "1"]


def groove(piece_id: str, family: str, root: int, bars: int = 4):
    """Rock: kick/snare backbeat, eighth hats and bass, a held chord. Latin: a bossa kick and
    clave-like rim, a root-fifth bass on dotted quarters, chords off the beat."""
    from training.data.records import PieceRecord

    grid = Grid(12, 4, 4)
    notes: list[Note] = []
    for b in range(bars):
        t0 = b * grid.ticks_per_bar
        if family == "rock":
            for eighth in range(8):
                notes.append(Note(t0 + eighth * 6, 42, 3, 70, DRUM_CHANNEL))
                notes.append(Note(t0 + eighth * 6, 36 + root, 5, 90, BASS))
            for beat in range(4):
                notes.append(Note(t0 + beat * 12, 36 if beat % 2 == 0 else 38, 3, 100, DRUM_CHANNEL))
            notes += [Note(t0, p + root, 48, 80, CHORDS) for p in (48, 52, 55)]
        else:
            for sixteenth in (0, 6, 9, 15):
                notes.append(Note(t0 + sixteenth * 3, 36, 3, 90, DRUM_CHANNEL))
            for sixteenth in (0, 3, 6, 10, 13):
                notes.append(Note(t0 + sixteenth * 3, 37, 3, 80, DRUM_CHANNEL))
            for start, pitch in ((0, 36), (18, 43), (24, 36), (42, 43)):
                notes.append(Note(t0 + start, pitch + root, 6, 85, BASS))
            for start in (6, 18, 30, 42):
                notes += [Note(t0 + start, p + root, 6, 70, CHORDS) for p in (48, 52, 55, 59)]
    return PieceRecord(id=piece_id, source="grooves", name=piece_id, notes=tuple(sorted(notes)), grid=grid,
                       bpm=120.0, roles=ROLES)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus cache with two grooves of three files per family, a swing file and a file in no family."""
    from training.data.corpus import write_source

    folder = tmp_path_factory.mktemp("data")
    pieces = [groove(f"grooves/stdlib/{name}/{name.title()}{suffix}", family, root=i + 2 * j)
              for family, names in FILES.items() for i, name in enumerate(names) for j, suffix in enumerate(GROOVES)]
    pieces += [groove("grooves/stdlib/swing/Swing", "rock", 0), groove("grooves/stdlib/polka/Polka", "rock", 0)]
    write_source(folder, "grooves", pieces, transpose=0)
    return folder


def parse(configure: Callable[[argparse.ArgumentParser], None], argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(argv)


def restyle_args(data: Path, out: Path, *extra: str) -> argparse.Namespace:
    return parse(train_cli.configure, ["--data", str(data), "--out", str(out), "--styles", "rock,latin",
                                       "--g-channels", "16", "--g-blocks", "2", "--d-channels", "16", *TINY,
                                       *extra])


def steps_in(metrics: Path) -> list[int]:
    return [int(row["step"]) for row in csv.DictReader(metrics.open())]


def test_each_family_is_split_by_library_file(data: Path) -> None:
    bars = {split: load_style_bars(data, split, ("rock", "latin")) for split in ("train", "valid", "test")}
    for family, names in FILES.items():
        expected = assign_splits(f"stdlib/{name}" for name in names)
        for split, style_bars in bars.items():
            assert style_bars.files[family] == tuple(f for f, s in expected.items() if s == split)
            assert len(style_bars.bars[family]) == len(GROOVES) * 4  # both grooves of one file, 4 bars each
    assert bars["train"].bars["rock"].shape[1:] == (3, 16, 60)
    assert bars["train"].counts["pieces in no family"] == 2  # swing (not asked for) and polka


def test_the_style_classifier_trains_and_keeps_its_best_checkpoint(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "classifier"
    args = parse(classifier_cli.configure, ["--data", str(data), "--out", str(out), "--families", "rock,latin", *TINY])
    assert classifier_cli.main(args) == 0
    payload = checkpoint.load(out / "best.pt", checkpoint.CLASSIFIER_KIND)
    assert payload["families"] == ["rock", "latin"]
    assert payload["config"].n_styles == 2
    assert payload["step"] in (2, 4)
    assert set(payload["valid_accuracy"]) == {"rock", "latin"}
    assert all(0.0 <= a <= 1.0 for a in payload["valid_accuracy"].values())
    net = checkpoint.classifier(payload)
    assert net(torch.zeros(2, 3, 16, 60)).shape == (2, 2)


def test_a_short_restyle_run_writes_its_checkpoint_metrics_and_pictures(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert train_cli.main(restyle_args(data, out)) == 0
    assert steps_in(out / "metrics.csv") == [2, 4]
    assert (out / "samples" / "step000002.png").is_file() and (out / "samples" / "step000004.png").is_file()
    payload = checkpoint.load(out / "last.pt", checkpoint.RESTYLE_KIND)
    assert payload["step"] == 4 and payload["styles"] == ["rock", "latin"]
    assert payload["config"].g_channels == 16 and payload["config"].track_rows == (9, 48, 60)
    assert payload["files"] == {family: [f for f, split in assign_splits(f"stdlib/{name}" for name in names).items()
                                         if split == "train"] for family, names in FILES.items()}
    with torch.no_grad():
        for g in checkpoint.generators(payload):
            assert g(torch.zeros(1, 3, 16, 60)).shape == (1, 3, 16, 60)
    row = next(csv.DictReader((out / "metrics.csv").open()))
    for direction in ("rock>latin", "latin>rock"):
        for figure in ("chroma", "onsets", "cycle_one_minus_iou", "cycle_cells_wrong", "cells_ratio"):
            assert f"{direction} {figure}" in row
        assert f"{direction} judged_target" not in row  # no --classifier


def test_a_resumed_run_continues_from_the_saved_step_to_the_new_step_count(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert train_cli.main(restyle_args(data, out)) == 0
    assert train_cli.main(restyle_args(data, out, "--steps", "6", "--resume")) == 0
    assert steps_in(out / "metrics.csv") == [2, 4, 6]  # steps 1-4 were not run again
    assert checkpoint.load(out / "last.pt", checkpoint.RESTYLE_KIND)["step"] == 6
    assert train_cli.main(restyle_args(data, out, "--steps", "6", "--resume")) == 0  # nothing left to do
    assert steps_in(out / "metrics.csv") == [2, 4, 6]


def test_a_run_killed_after_a_save_and_resumed_ends_as_the_uninterrupted_run(
        data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    assert train_cli.main(restyle_args(data, straight, "--steps", "6")) == 0
    save = checkpoint.save

    def save_then_die(path: Path, kind: str, config: object, **payload: object) -> None:
        save(path, kind, config, **payload)
        if payload["step"] == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_cli.main(restyle_args(data, interrupted, "--steps", "6"))
    monkeypatch.setattr(checkpoint, "save", save)
    assert train_cli.main(restyle_args(data, interrupted, "--steps", "6", "--resume")) == 0
    assert steps_in(interrupted / "metrics.csv") == [2, 4, 6]
    resumed = checkpoint.load(interrupted / "last.pt", checkpoint.RESTYLE_KIND)
    whole = checkpoint.load(straight / "last.pt", checkpoint.RESTYLE_KIND)
    assert resumed["step"] == whole["step"] == 6
    for name in ("g_ab", "g_ba", "d_a", "d_b"):
        for key, value in whole[name].items():
            torch.testing.assert_close(resumed[name][key], value, msg=f"{name}.{key}")


def test_a_restyle_run_with_a_classifier_reports_how_often_the_transfer_is_judged_the_target(
        data: Path, tmp_path: Path) -> None:
    judge = tmp_path / "classifier"
    assert classifier_cli.main(parse(classifier_cli.configure, ["--data", str(data), "--out", str(judge),
                                                                 "--steps", "2", "--eval-every", "2"])) == 0
    out = tmp_path / "run"
    assert train_cli.main(restyle_args(data, out, "--steps", "2", "--classifier", str(judge / "best.pt"))) == 0
    row = next(csv.DictReader((out / "metrics.csv").open()))
    for direction in ("rock>latin", "latin>rock"):
        assert 0.0 <= float(row[f"{direction} judged_target"]) <= 1.0


def test_two_styles_are_needed(data: Path, tmp_path: Path) -> None:
    for styles in ("rock", "rock,rock", "rock,latin,swing"):
        with pytest.raises(SystemExit, match="two different families"):
            train_cli.main(restyle_args(data, tmp_path / "x", "--styles", styles))


def test_an_unknown_family_is_named(data: Path, tmp_path: Path) -> None:
    from training.gan.data import GanDataError

    with pytest.raises(GanDataError, match="unknown style family polka"):
        train_cli.main(restyle_args(data, tmp_path / "x", "--styles", "rock,polka"))


def test_a_missing_cache_says_how_to_make_one(tmp_path: Path) -> None:
    from training.gan.data import GanDataError

    with pytest.raises(GanDataError, match="antiphon train data"):
        load_style_bars(tmp_path / "nothing", "train", ("rock", "latin"))


def test_restyle_eval_judges_the_exported_file_on_the_held_out_files(data: Path, tmp_path: Path) -> None:
    import json

    pytest.importorskip("onnx")
    from export.restyle import export_restyle
    from training.restyle import evaluate as evaluate_cli

    judge, run = tmp_path / "classifier", tmp_path / "run"
    assert classifier_cli.main(parse(classifier_cli.configure, ["--data", str(data), "--out", str(judge),
                                                                 "--steps", "2", "--eval-every", "2"])) == 0
    assert train_cli.main(restyle_args(data, run, "--steps", "2")) == 0
    model = export_restyle(run / "last.pt", tmp_path / "restyle.onnx")
    out = tmp_path / "eval"
    assert evaluate_cli.main(parse(evaluate_cli.configure, ["--model", str(model), "--classifier",
                                                            str(judge / "best.pt"), "--data", str(data),
                                                            "--out", str(out)])) == 0
    result = json.loads((out / "eval.json").read_text())
    assert result["split"] == "test"
    assert result["files"] == {"rock": 1, "latin": 1} and result["bars"] == {"rock": 8, "latin": 8}
    assert set(result["directions"]) == {"rock -> latin", "latin -> rock"}
    for figures in result["directions"].values():
        assert figures["bars"] == 8
        assert 0.0 <= figures["judged_target"] <= 1.0
        assert 0.0 <= figures["cycle"]["one_minus_iou"] <= 1.0
    assert "Classifier accuracy on real test bars" in (out / "eval.md").read_text()
    assert (out / "restyle.png").is_file()
