"""``antiphon train abc``: a tiny smoke run on a few tunes, then a resume."""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

import pytest

from training.abc.data import AbcTune, write_cache

torch = pytest.importorskip("torch")

TUNES = [
    AbcTune("t/a/1", "airds", "train", "M:6/8\nL:1/8\nK:D\nABc dfa | g2e fdB |]\n"),
    AbcTune("t/a/2", "airds", "train", "R:reel\nM:4/4\nL:1/8\nK:G\nGABc dBGB | A2FA DEFD |]\n"),
    AbcTune("t/a/3", "airds", "valid", "M:3/4\nL:1/8\nK:Em\nE2 GA B2 | e4 d2 |]\n"),
    AbcTune("t/a/4", "airds", "test", "M:6/8\nL:1/8\nK:A\ncBA ecA | f3 e3 |]\n"),
]


def _args(data: Path, out: Path, steps: int, resume: bool = False) -> argparse.Namespace:
    from training.abc.train import configure

    parser = argparse.ArgumentParser()
    configure(parser)
    argv = ["--data", str(data), "--out", str(out), "--steps", str(steps), "--eval-every", "2", "--batch-size", "2",
            "--seq-len", "16", "--hidden", "16", "--layers", "1", "--embed", "8", "--samples", "1", "--log-every", "1"]
    return parser.parse_args(argv + (["--resume"] if resume else []))


def test_a_tiny_run_writes_checkpoints_and_resumes_where_it_stopped(tmp_path: Path):
    from training.abc.checkpoint import load_checkpoint
    from training.abc.train import main

    write_cache(tmp_path / "data", TUNES, Counter())
    out = tmp_path / "run"
    assert main(_args(tmp_path / "data", out, steps=4)) == 0
    first = load_checkpoint(out / "last.pt")
    assert first["step"] == 4 and (out / "best.pt").exists()
    assert set(first["config"]["vocabulary"]) >= set("".join(t.text for t in TUNES))
    assert main(_args(tmp_path / "data", out, steps=6, resume=True)) == 0
    assert load_checkpoint(out / "last.pt")["step"] == 6
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [2, 4, 6]
    assert all(float(r["valid_bits_per_char"]) > 0 for r in rows)
