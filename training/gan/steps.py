"""One optimiser step of each network of the bar GAN, as ``antiphon train gan`` runs it.

:func:`critic_step` and :func:`generator_step` are the steps of the training loop
(:mod:`training.gan.train`) and the ones ``benchmarks/training_speed.py`` times, so a change
here shows in both. A step's batch comes from :func:`draw_batch`; :func:`build_networks` makes
the networks and optimisers they update. No files, no logging, no command line: batches draw
from the numpy generator passed in, noise, thinning and the penalty's mixing weights from
torch's global generator, in the order the loop has always drawn them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from daemon.errors import AntiphonError
from training.gan.conditioning import own_previous, thickened_previous, thinned_previous
from training.gan.data import BarSet, make_batch
from training.gan.model import (
    Critic,
    GanConfig,
    Generator,
    bar_statistics,
    binary_neuron,
    critic_loss,
    generator_loss,
    likeliest_rows,
    statistics_loss,
)

ADAM_BETAS = (0.5, 0.9)  # both networks' Adam (WGAN-GP's usual momentum terms)
MIN_STATISTIC_SCALE = 0.05  # floor of a statistic's standard deviation in statistics_loss's units


def _keep(module: nn.Module) -> None:
    """One process: nothing to share between ranks."""


@dataclass(frozen=True)
class StepSettings:
    """What a step is told by the command line (see :func:`training.gan.train.configure`).

    Attributes:
        transpose: transpose each pair by a random interval (pitched tracks).
        gp_weight: the gradient penalty's weight (lambda).
        thin_condition: share of a batch whose generator hears a thinned previous bar.
        thin_rate: most notes a thinned previous bar loses (a share, drawn per pair).
        thicken_condition: share, after the thinned pairs, whose generator hears a thickened bar.
        thicken_rate: most of the moved notes a thickened previous bar gains.
        match_stats: weight of the statistics-matching term in the generator's loss (0: off).
        ema_decay: decay of the generator weights' moving average.
        self_condition: share of a batch (its last pairs) whose generator hears the moving
            average's own bar made from the bar before the previous one
            (:func:`~training.gan.conditioning.own_previous`).
    """

    transpose: bool
    gp_weight: float
    thin_condition: float
    thin_rate: float
    thicken_condition: float
    thicken_rate: float
    match_stats: float
    ema_decay: float
    self_condition: float = 0.0


@dataclass
class Networks:
    """The two networks in training, the generator's moving average and both optimisers."""

    generator: Generator
    critic: Critic
    average: Generator  # exponential moving average of the generator's weights: what is saved and shipped
    optim_g: torch.optim.Optimizer
    optim_d: torch.optim.Optimizer


@dataclass(frozen=True)
class PairBatch:
    """One step's (previous bar, bar) pairs on the training device."""

    real: torch.Tensor  # (B, T, S, P) the real bars
    previous: torch.Tensor  # (B, T, S, P) the bars before them (zeros where none): what the critic sees
    condition: torch.Tensor  # (B, 13) the previous bars' condition vectors (+ 13: the chord, for a chord model)
    seen_previous: torch.Tensor  # (B, T, S, P) what the generator hears of the previous bar
    seen_condition: torch.Tensor  # (B, 13 [+ 13])


@dataclass(frozen=True)
class StatisticsTarget:
    """The training bars' statistics the generator's bars are matched to (``--match-stats``)."""

    mean: torch.Tensor  # (F,) per statistic of training.gan.model.bar_statistics
    scale: torch.Tensor  # (F,) standard deviation, at least MIN_STATISTIC_SCALE
    voice_tracks: tuple[int, ...]  # tracks measured as the daemon plays a voice (one row per step)


@dataclass(frozen=True)
class GeneratorLosses:
    """What one generator step reports."""

    loss: float  # the loss stepped on: the critic's, plus the weighted statistics term
    statistics: float | None  # the statistics term before weighting; None when not matching


def build_networks(config: GanConfig, lr: float, device: torch.device,
                   share: Callable[[nn.Module], None] = _keep) -> Networks:
    """Freshly initialised networks on ``device`` (drawn from torch's global generator: seed it first).

    ``share`` is applied to both networks before the average is copied from the generator (the
    ranks' broadcast from rank 0 under ``torchrun``).
    """
    generator, critic = Generator(config).to(device), Critic(config).to(device)
    share(generator)
    share(critic)
    average = copy.deepcopy(generator).eval()
    for p in average.parameters():
        p.requires_grad_(False)
    return Networks(generator, critic, average,
                    torch.optim.Adam(generator.parameters(), lr=lr, betas=ADAM_BETAS),
                    torch.optim.Adam(critic.parameters(), lr=lr, betas=ADAM_BETAS))


def draw_batch(bars: BarSet, indices: np.ndarray, rng: np.random.Generator, config: GanConfig,
               settings: StepSettings, device: torch.device, own: nn.Module | None = None) -> PairBatch:
    """The pairs ``indices`` of ``bars`` on ``device`` (transposed, condition dropped at ``config``'s
    rate: :func:`training.gan.data.make_batch`), and what the generator hears of them
    (:func:`~training.gan.conditioning.thinned_previous`, then
    :func:`~training.gan.conditioning.thickened_previous`, and with ``own`` and
    ``settings.self_condition``, :func:`~training.gan.conditioning.own_previous`)."""
    chained = own is not None and settings.self_condition > 0
    batch = make_batch(bars, indices, rng, settings.transpose, config.cond_dropout,
                       config.chord_dropout if config.hears_chords else None, with_before=chained)
    real, prev, cond = (torch.from_numpy(batch.bars).to(device), torch.from_numpy(batch.previous).to(device),
                        torch.from_numpy(batch.condition).to(device))
    seen_prev, seen_cond = thinned_previous(prev, cond, settings.thin_condition, settings.thin_rate, bars.spec)
    seen_prev, seen_cond = thickened_previous(seen_prev, seen_cond, settings.thin_condition,
                                              settings.thicken_condition, settings.thicken_rate, bars.spec)
    if chained:
        assert own is not None and batch.before is not None
        chord = None if batch.previous_chord is None else torch.from_numpy(batch.previous_chord).to(device)
        seen_prev, seen_cond = own_previous(own, seen_prev, seen_cond, torch.from_numpy(batch.before).to(device),
                                            chord, settings.self_condition, bars.spec)
    if config.hears_chords:  # the chord of the bar being made, after the previous bar's condition
        chord = torch.from_numpy(batch.chord).to(device)
        cond, seen_cond = torch.cat([cond, chord], dim=1), torch.cat([seen_cond, chord], dim=1)
    return PairBatch(real, prev, cond, seen_prev, seen_cond)


def critic_step(nets: Networks, batch: PairBatch, settings: StepSettings,
                share_gradients: Callable[[nn.Module], None] = _keep) -> dict[str, float]:
    """One critic update on ``batch``: ``D(fake) - D(real) + gp_weight * GP``, the fake bars made
    (without gradients) from what the generator hears, judged against the real previous bar.

    ``share_gradients`` runs between backward and the optimiser step (the ranks' gradient
    average). Returns the loss's parts: ``d_loss``, ``wasserstein``, ``gp``.
    """
    config = nets.generator.config
    noise = torch.randn(len(batch.real), config.z_dim, device=batch.real.device)  # (B, Z)
    with torch.no_grad():
        fake = binary_neuron(nets.generator(noise, batch.seen_previous, batch.seen_condition), config.binary_neuron,
                             config.voices)
    loss, parts = critic_loss(nets.critic, batch.real, fake, batch.previous, batch.condition, settings.gp_weight)
    nets.optim_d.zero_grad(set_to_none=True)
    loss.backward()
    share_gradients(nets.critic)
    nets.optim_d.step()
    return parts


def generator_step(nets: Networks, batch: PairBatch, settings: StepSettings, step: int,
                   target: StatisticsTarget | None = None,
                   share_gradients: Callable[[nn.Module], None] = _keep) -> GeneratorLosses:
    """One generator update on ``batch``: ``-D(fake)`` (plus ``match_stats`` times the statistics
    term when ``target`` is given), then the moving average moved toward the new weights.

    ``step`` counts the generator steps before this one (it warms up the average's decay:
    :func:`update_average`); ``share_gradients`` as in :func:`critic_step`.
    """
    config = nets.generator.config
    noise = torch.randn(len(batch.real), config.z_dim, device=batch.real.device)  # (B, Z)
    probs = nets.generator(noise, batch.seen_previous, batch.seen_condition)  # (B, T, S, P)
    fake = binary_neuron(probs, config.binary_neuron, config.voices)
    loss = generator_loss(nets.critic, fake, batch.previous, batch.condition)
    statistics = None
    if target is not None:  # measured on the bars as the daemon plays them
        matched = statistics_loss(fake * likeliest_rows(probs, target.voice_tracks), target.mean, target.scale)
        statistics = float(matched.detach())
        loss = loss + settings.match_stats * matched
    nets.optim_g.zero_grad(set_to_none=True)
    loss.backward()
    share_gradients(nets.generator)
    nets.optim_g.step()
    update_average(nets.average, nets.generator, step, settings.ema_decay)
    return GeneratorLosses(float(loss.detach()), statistics)


def update_average(average: nn.Module, generator: nn.Module, step: int, decay: float) -> None:
    """Move ``average``'s weights toward ``generator``'s (decay warmed up as ``(1 + step) / (10 + step)``)
    and copy its batch-norm statistics."""
    rate = min(decay, (1.0 + step) / (10.0 + step))
    with torch.no_grad():
        for p_avg, p in zip(average.parameters(), generator.parameters()):
            p_avg.lerp_(p, 1.0 - rate)
        for b_avg, b in zip(average.buffers(), generator.buffers()):
            b_avg.copy_(b)


def statistics_target(bars: np.ndarray, voice_tracks: Sequence[int], device: torch.device,
                      chunk: int = 2048) -> StatisticsTarget:
    """The training bars' mean and standard deviation (at least :data:`MIN_STATISTIC_SCALE`) of each
    of :func:`~training.gan.model.bar_statistics`, on ``device``."""
    if not len(bars):
        raise AntiphonError("--match-stats: no training bars")
    values = torch.cat([bar_statistics(torch.from_numpy(np.asarray(bars[start:start + chunk], np.float32)))
                        for start in range(0, len(bars), chunk)])  # (N, F)
    return StatisticsTarget(values.mean(dim=0).to(device),
                            values.std(dim=0, correction=0).clamp_min(MIN_STATISTIC_SCALE).to(device),
                            tuple(voice_tracks))
