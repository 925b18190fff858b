"""A band that follows chords and lasts: chords in the bar pairs, the generator hearing its own
bars (scheduled sampling), and a short training run with both."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from daemon.music.harmony import chord_vector, parse_chord
from training.data.sources.grooves import CHORDS
from training.gan import data as gan_data
from training.gan.data import build_bar_set, groove_spec, make_batch, piece_chords, synthetic_pieces

SPEC = groove_spec()


def groove_pieces(n: int = 4, bars: int = 6) -> list[object]:
    """Synthetic pieces named as the groove renders are, so their bars carry the render's chords."""
    return [dataclasses.replace(p, id=f"grooves/stdlib/test/{i}") for i, p in enumerate(synthetic_pieces(n, bars))]


def test_a_groove_bar_carries_the_chord_it_was_rendered_over_and_other_sources_none() -> None:
    chords = piece_chords("grooves/stdlib/rock/RockMain", 10)
    expected = chord_vector([parse_chord(CHORDS[b % len(CHORDS)]) for b in range(10)])
    assert np.array_equal(chords, expected)
    assert not piece_chords("bach/bwv1.6", 3).any()
    bars = build_bar_set(groove_pieces(2, 5), SPEC)
    assert bars.chords is not None and bars.chords.shape == (10, 13) and np.array_equal(bars.chords[5:], expected[:5])


def test_a_transposed_pair_carries_its_chord_transposed_with_it() -> None:
    bars = build_bar_set(groove_pieces(), SPEC)
    idx = bars.pair_indices[:16]
    plain = make_batch(bars, idx, np.random.default_rng(3), transpose=False, chord_dropout=0.0)
    moved = make_batch(bars, idx, np.random.default_rng(3), transpose=True, chord_dropout=0.0)
    chords_track = 2
    for b in range(len(idx)):  # the synthetic chords track holds a triad: its lowest row moves with the shift
        shift = (np.flatnonzero(moved.bars[b, chords_track].any(axis=0))[0]
                 - np.flatnonzero(plain.bars[b, chords_track].any(axis=0))[0]) % 12
        assert np.array_equal(moved.chord[b, :12], np.roll(plain.chord[b, :12], shift)), b
    assert (moved.chord[:, -1] == 1).all()


def test_chords_are_dropped_at_the_asked_rate_and_absent_unless_asked() -> None:
    bars = build_bar_set(groove_pieces(8, 8), SPEC)
    idx = np.resize(bars.pair_indices, 2000)
    batch = make_batch(bars, idx, np.random.default_rng(0), chord_dropout=0.25)
    assert 0.70 < batch.chord[:, -1].mean() < 0.80
    assert not make_batch(bars, idx[:8], np.random.default_rng(0)).chord.any()


def test_scheduled_sampling_gives_the_last_share_the_models_own_bar_made_from_the_bar_before() -> None:
    from training.gan.conditioning import own_previous

    class Loud(torch.nn.Module):
        """Plays every cell of every bar."""

        config = type("C", (), {"z_dim": 2, "hears_chords": False})()

        def forward(self, noise: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
            return torch.ones_like(previous)

    bars = build_bar_set(groove_pieces(), SPEC)
    with_before = np.flatnonzero((bars.previous >= 0) & (bars.previous[np.maximum(bars.previous, 0)] >= 0))
    idx = np.concatenate([with_before[:4], bars.pair_indices[:1][bars.previous[bars.pair_indices[:1]] < 0]])[:4]
    batch = make_batch(bars, idx, np.random.default_rng(0), transpose=False, with_before=True)
    assert batch.before is not None and batch.before.any(axis=(1, 2, 3)).all()
    prev, cond = torch.from_numpy(batch.previous), torch.from_numpy(batch.condition)
    seen, seen_cond = own_previous(Loud(), prev, cond, torch.from_numpy(batch.before), None, 0.5, SPEC)
    assert torch.equal(seen[:2], prev[:2]) and torch.equal(seen_cond[:2], cond[:2]), "the first half as it was"
    assert seen[2:].sum() > prev[2:].sum() and (seen_cond[2:, -1] == 1).all(), "the last half: the model's own bar"


def test_a_short_run_with_chords_and_its_own_bars_trains_and_records_them(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from training.gan import train as train_gan
    from training.gan.checkpoint import load_checkpoint

    pieces = groove_pieces(6, 6)
    monkeypatch.setattr(gan_data, "load_bar_set",
                        lambda data, sources, split, spec=None, max_bars=None: build_bar_set(pieces, spec or SPEC))
    parser = argparse.ArgumentParser()
    train_gan.configure(parser)
    out = tmp_path / "run"
    args = ["--out", str(out), "--batch-size", "8", "--n-critic", "1", "--z-dim", "4", "--g-channels", "8",
            "--d-channels", "8", "--enc-channels", "4", "--steps", "12", "--sample-every", "0",
            "--chords", "--self-condition", "0.5"]
    assert train_gan.main(parser.parse_args(args)) == 0
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt.config.hears_chords and ckpt.config.cond_dim == 26 and ckpt.config.chord_dropout == 0.25
    assert ckpt.training["g_steps"] == 12
