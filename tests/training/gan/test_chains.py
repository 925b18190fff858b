"""``antiphon train gan-chains``: long chains of a real exported file (onnxruntime), window by window."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from daemon.models.gan import open_gan
from daemon.music.harmony import chord_vector, parse_progression
from tests.export.tiny_gan import cached_tiny_gan
from training.gan import data as gan_data
from training.gan.chains import derive_rules, harmony, play_chains
from training.gan.data import build_bar_set, groove_spec, synthetic_pieces

SPEC = groove_spec()


def groove_bars() -> object:
    pieces = [dataclasses.replace(p, id=f"grooves/x/{i}") for i, p in enumerate(synthetic_pieces(8, 8))]
    return build_bar_set(pieces, SPEC)


def test_harmony_is_the_share_of_bass_and_chord_notes_in_their_bars_chord() -> None:
    bars = np.zeros((2, *SPEC.bar_shape), bool)
    bass, chords = SPEC.tracks[1], SPEC.tracks[2]
    bars[0, 1, 0:4, 48 - bass.lowest_pitch] = True  # C: in C
    bars[0, 2, 0:8, 64 - chords.lowest_pitch] = True  # E: in C
    bars[0, 2, 8:16, 66 - chords.lowest_pitch] = True  # F#: not in C
    bars[1, 1, 0:4, 50 - bass.lowest_pitch] = True  # D under Am: out
    chords_given = chord_vector(list(parse_progression("C Am")))
    figure = harmony(bars, chords_given, SPEC)
    assert figure["bass"] == 0.5 and figure["chords"] == 0.5 and figure["all"] == 0.5
    assert np.isnan(harmony(bars, np.zeros((2, 13), np.float32), SPEC)["all"]), "no chord: not counted"


def test_rules_come_from_the_training_bars_percentiles() -> None:
    bars = groove_bars()
    rules = derive_rules(bars, "drums=1,bass=3", 4, percent=0.0)
    assert rules.revive_after == (1, 3, 0) and rules.candidates == 4
    cells = bars.bars.sum(axis=(2, 3))
    assert rules.bounds[1] is not None and rules.bounds[1].cells == (cells[:, 1].min(), cells[:, 1].max())
    assert rules.bounds[0] is not None and rules.bounds[0].pitch_classes is None, "drums have no pitch classes"
    with pytest.raises(gan_data.GanDataError, match="no track"):
        derive_rules(bars, "piano=2", 1)
    with pytest.raises(gan_data.GanDataError, match="whole number"):
        derive_rules(bars, "bass=x", 1)


def test_rules_re_strike_weigh_and_warm_up_as_told_and_learn_the_chord_tones_share() -> None:
    bars = groove_bars()
    rules = derive_rules(bars, "drums=1", 4, restrike_from="chords=0/8", gap_weights="bass.PP=2", warm_up_bars=8)
    assert rules.restrike_from == ((), (), (0, 8)) and rules.weights()[1, 3] == 2.0 and rules.warm_up_bars == 8
    assert bars.chords is not None and bars.chords[:, -1].any()
    assert rules.chord_tones is not None and 0 < rules.chord_tones[0] <= rules.chord_tones[1]
    assert rules.bass_tones == (), "the bass is kept near its chord tones only when asked"
    bass = derive_rules(bars, "drums=1", 4, tone_tracks="bass").bass_tones
    assert bass[0] is None and bass[2] is None and bass[1] is not None and 0 < bass[1][0] <= bass[1][1]
    for wrong in ("drums", "chords"):
        with pytest.raises(gan_data.GanDataError, match="pitched tracks other than"):
            derive_rules(bars, "drums=1", 4, tone_tracks=wrong)
    with pytest.raises(gan_data.GanDataError, match="STEP"):
        derive_rules(bars, "drums=1", 4, restrike_from="chords=late")
    with pytest.raises(gan_data.GanDataError, match="track.STAT"):
        derive_rules(bars, "drums=1", 4, gap_weights="bass.XX=2")
    with pytest.raises(gan_data.GanDataError, match="no track"):
        derive_rules(bars, "drums=1", 4, gap_weights="piano.PP=2")


def test_chains_are_played_as_the_daemon_plays_them_over_the_progression(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    gan = open_gan(cached_tiny_gan(tmp_path_factory, "grooves-chords")[1])
    bars, _ = play_chains(gan, 3, 8, seed=0, progression=parse_progression("C F"))
    again, _ = play_chains(gan, 3, 8, seed=0, progression=parse_progression("C F"))
    assert bars.shape == (3, 8, *SPEC.bar_shape) and np.array_equal(bars, again), "a seed gives the same chains"


def test_the_command_writes_the_window_table_the_checks_and_a_picture(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from training.gan import chains

    bars = groove_bars()
    monkeypatch.setattr(gan_data, "load_bar_set", lambda *a, **k: bars)
    onnx_path = cached_tiny_gan(tmp_path_factory, "grooves-chords")[1]
    parser = argparse.ArgumentParser()
    chains.configure(parser)
    args = parser.parse_args(["--model", str(onnx_path), "--chains", "4", "--bars", "16", "--window", "8",
                              "--chords", "C Am F G7", "--out", str(tmp_path)])
    status = chains.main(args)
    result = json.loads((tmp_path / "chains.json").read_text())
    assert status == (0 if all(result["checks"].values()) else 1), "the exit status says whether every check passed"
    assert [w["bars"] for w in result["windows"]] == [[1, 8], [9, 16]]
    assert result["progression"] == ["C", "Am", "F", "G7"] and "all" in result["harmony"]
    assert 0.0 < result["reference_harmony"]["all"] < 1.0, "random-root triads over C Am F G7: some in, some out"
    assert (tmp_path / "chain.png").stat().st_size > 1000 and "| bass EB |" in (tmp_path / "chains.md").read_text()
