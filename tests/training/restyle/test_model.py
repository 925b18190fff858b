"""The restyle networks at initialisation: shapes, masked rows, the content path, straight-through bars."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training.gan.data import groove_spec
from training.restyle.model import (
    Critic,
    Generator,
    RestyleConfig,
    StyleClassifier,
    binarise_straight_through,
    from_sequence,
    row_mask,
    to_sequence,
)

SPEC = groove_spec()
CONFIG = RestyleConfig(*SPEC.bar_shape, tuple(t.rows for t in SPEC.tracks), g_channels=16, g_blocks=2,
                       d_channels=16, c_channels=16)


def random_bars(n: int, density: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Sparse 0/1 bars, nothing in the rows a track lacks."""
    rng = np.random.default_rng(seed)
    bars = (rng.random((n, *SPEC.bar_shape)) < density).astype(np.float32)
    bars *= row_mask(CONFIG).numpy()
    return torch.from_numpy(bars)


def test_the_spec_gives_the_config_the_groove_bar_shape() -> None:
    assert (CONFIG.n_tracks, CONFIG.n_steps, CONFIG.n_pitches) == (3, 16, 60)
    assert CONFIG.track_rows == (9, 48, 60)
    assert CONFIG.cells == 180


def test_a_bar_survives_the_trip_to_a_step_sequence_and_back() -> None:
    bars = random_bars(3)
    seq = to_sequence(bars)
    assert seq.shape == (3, 180, 16)
    assert torch.equal(from_sequence(seq, CONFIG), bars)


def test_the_generator_gives_a_probability_per_cell_and_none_above_a_tracks_rows() -> None:
    torch.manual_seed(0)
    g = Generator(CONFIG).eval()
    with torch.no_grad():
        out = g(random_bars(5))
    assert out.shape == (5, 3, 16, 60)
    assert ((out >= 0) & (out <= 1)).all()
    assert out[:, 0, :, 9:].max() < 1e-6  # drums have 9 rows
    assert out[:, 1, :, 48:].max() < 1e-6  # bass has 48
    assert out[:, 2].max() > 0.5  # the chords use all 60


def test_at_initialisation_a_held_note_comes_through_more_often_than_a_silent_cell_lights_up() -> None:
    torch.manual_seed(0)
    g = Generator(CONFIG).eval()
    bars = random_bars(16, density=0.1, seed=1)
    with torch.no_grad():
        on = g(bars) > 0.5
    real = row_mask(CONFIG).expand_as(bars).bool()
    held, silent = bars.bool(), ~bars.bool() & real
    kept = on[held].float().mean().item()
    invented = on[silent].float().mean().item()
    assert kept > 0.7, kept
    assert invented < 0.3, invented


def test_the_critic_scores_each_bar_once() -> None:
    torch.manual_seed(0)
    assert Critic(CONFIG)(random_bars(4)).shape == (4,)


def test_the_style_classifier_gives_one_logit_per_family() -> None:
    torch.manual_seed(0)
    net = StyleClassifier(CONFIG).eval()
    assert net(random_bars(4)).shape == (4, 3)
    two = StyleClassifier(RestyleConfig(3, 16, 60, (9, 48, 60), c_channels=16, n_styles=2)).eval()
    assert two(random_bars(2)).shape == (2, 2)


def test_straight_through_bars_are_heard_as_zero_or_one_but_pass_the_gradient() -> None:
    probs = torch.tensor([0.1, 0.49, 0.5, 0.51, 0.9], requires_grad=True)
    bars = binarise_straight_through(probs)
    assert bars.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    (bars * weights).sum().backward()
    assert probs.grad is not None
    assert torch.equal(probs.grad, weights)  # the identity's gradient


def test_the_generator_learns_through_straight_through_bars() -> None:
    torch.manual_seed(0)
    g, critic = Generator(CONFIG), Critic(CONFIG)
    score = critic(binarise_straight_through(g(random_bars(2)))).sum()
    score.backward()
    assert g.inp.weight.grad is not None and g.inp.weight.grad.abs().sum() > 0
    assert g.content_gain.grad is not None
