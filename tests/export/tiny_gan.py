"""Tiny random-weight GANs, exported to ONNX once per test session, for export and daemon tests.

Needs torch (the [train] extra); callers skip with ``pytest.importorskip("torch")`` first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.music.pianoroll import RollSpec

_CACHE: dict[tuple[str, str], tuple[Path, Path]] = {}


def make_tiny_gan(folder: Path, spec: RollSpec, seed: int = 0, chords: bool = False,
                  chain_rules: object = None) -> tuple[Path, Path]:
    """Write ``tiny.pt`` (random weights, a few channels) and export ``tiny.onnx`` into ``folder``
    (a model that hears chords with ``chords``; with ``chain_rules`` in its file)."""
    import torch

    from export.gan import export_gan
    from training.gan.checkpoint import save_checkpoint
    from training.gan.model import Critic, GanConfig, Generator

    torch.manual_seed(seed)
    config = GanConfig(n_tracks=len(spec.tracks), n_steps=spec.steps_per_bar, n_pitches=spec.n_pitches,
                       track_rows=tuple(t.rows for t in spec.tracks), z_dim=4, g_channels=8, d_channels=8,
                       enc_channels=4, cond_dim=26 if chords else 13)
    generator, critic = Generator(config), Critic(config)
    generator.eval()
    mono = [t.name for t in spec.tracks if t.name in ("soprano", "alto", "tenor")]  # voices: one note per step
    checkpoint = save_checkpoint(folder / "tiny.pt", config, spec, generator, critic,
                                 {"sources": ["synthetic"], "note": "random weights", "monophonic_tracks": mono},
                                 {"epoch": 0})
    return checkpoint, export_gan(checkpoint, folder / "tiny.onnx", chain_rules=chain_rules)  # type: ignore[arg-type]


def cached_tiny_gan(factory: pytest.TempPathFactory, kind: str = "grooves") -> tuple[Path, Path]:
    """(checkpoint, onnx) of a tiny ``"grooves"`` (drums/bass/chords), ``"grooves-chords"`` (the same,
    hearing chords, with chain rules) or ``"chorales"`` GAN, built once."""
    pytest.importorskip("torch")
    from training.gan.data import chorale_spec, groove_spec

    key = (str(factory.getbasetemp()), kind)
    if key not in _CACHE:
        spec = chorale_spec() if kind == "chorales" else groove_spec()
        rules = None
        if kind == "grooves-chords":
            from daemon.models.gan_chain import ChainRules, TrackBounds

            rules = ChainRules((1, 2, 2), (TrackBounds((4, 60)), TrackBounds((2, 40), (1, 4)),
                                           TrackBounds((4, 120), (2, 6))), candidates=3)
        _CACHE[key] = make_tiny_gan(factory.mktemp(f"tiny-gan-{kind}"), spec, chords=kind == "grooves-chords",
                                    chain_rules=rules)
    return _CACHE[key]
