"""``antiphon train vae-eval`` on a tiny run: every figure is written, and its vectors export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from daemon.cli import build_parser
from tests.training.vae.corpus import write_corpus
from tests.training.vae.test_train import TINY, antiphon_train


def test_evaluation_writes_reconstruction_prior_interpolation_and_attribute_figures(tmp_path: Path) -> None:
    data, run = tmp_path / "data", tmp_path / "run"
    write_corpus(data)
    assert antiphon_train("vae", "--data", str(data), "--out", str(run), "--steps", "4", "--eval-every", "4", *TINY) == 0
    out, vectors = run / "eval.json", run / "attributes.json"
    assert antiphon_train("vae-eval", "--checkpoint", str(run / "best.pt"), "--data", str(data), "--out", str(out),
                          "--samples", "16", "--pairs", "6", "--attributes-out", str(vectors),
                          "--attribute-phrases", "40", "--attribute-tests", "4") == 0
    result = json.loads(out.read_text())
    rec = result["reconstruction"]
    assert 0.0 <= rec["note_accuracy"] <= 1.0 and rec["tunes"] == result["test"]["tunes"] == 9
    assert 0 <= result["active_units"] <= result["latent"] == 8
    assert set(result["prior"]) == {"greedy", "temperature_1"}
    assert {"vae_midpoint", "crossfade", "splice"} <= set(result["interpolation"])
    assert result["interpolation"]["crossfade"]["polyphony"] > 1.0  # two lines at once
    fitted = json.loads(vectors.read_text())["attributes"]
    assert fitted and set(fitted) <= {"density", "register", "busyness", "major"}  # those the phrases vary in
    assert all(len(v) == 8 for v in fitted.values())

    args = build_parser().parse_args(["export", "vae", str(run / "best.pt"), "-o", str(run / "vae.onnx"),
                                      "--attributes", str(vectors), "--phrases", "2"])
    assert args.handler(args) == 0
    from daemon.models.vae import load_vae

    assert set(load_vae(run / "vae.onnx").attributes) == set(fitted)
