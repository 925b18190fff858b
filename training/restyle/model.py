"""The restyle networks: two bar-to-bar generators, two critics (CycleGAN) and a style classifier.

Side-effect free: a dataclass config and ``nn.Module``s. Checkpoints store ``asdict(config)``.

A bar is ``(B, T, S, P)`` (tracks, steps, pitch rows; :mod:`daemon.music.pianoroll`). Every
network reads it as a sequence of ``S`` steps, each step the ``T * P`` cells of every track,
and convolves over time: a groove's style is mostly *when* things sound (a bossa bass against
a rock bass, a swung ride against straight eighths), and a 16-step bar is short enough that four
dilated layers see all of it from every step.

Generator: ``T*P -> C`` input convolution, residual blocks of dilated convolutions (dilations
1, 2, 4, 8, ...), ``C -> T*P`` output, plus a *content path*: each track's input cells enter the
output logits with a learned gain, so keeping the source's notes is the easy default and the
convolutions learn what to change. Rows a track does not have are held at 0.

Critic (WGAN-GP by default, or LSGAN): three time convolutions (the second and third stride 2) and a linear score, on
bars the generator has binarised with straight-through gradients, as a player would hear them.

Classifier: the same stem, average- and max-pooled over time, to one logit per family; trained
on real bars only, it judges transfers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

MASKED_LOGIT = -30.0  # a row the track does not have: sigmoid is 0 in float32
CONTENT_GAIN = 2.0  # initial weight of the content path: a held note enters at logit +2 (p = 0.88)


@dataclass(frozen=True)
class RestyleConfig:
    """Constructor arguments of every network here.

    Attributes:
        n_tracks, n_steps, n_pitches: the bar shape (T, S, P).
        track_rows: rows each track really has (drums 9); higher rows are held at 0.
        g_channels: generator width; g_blocks: residual blocks (dilation 2**i).
        d_channels: critic width.
        c_channels: classifier width; n_styles: classifier outputs.
        dropout: classifier dropout.
    """

    n_tracks: int
    n_steps: int
    n_pitches: int
    track_rows: tuple[int, ...]
    g_channels: int = 128
    g_blocks: int = 4
    d_channels: int = 128
    c_channels: int = 128
    n_styles: int = 3
    dropout: float = 0.3

    @property
    def cells(self) -> int:
        return self.n_tracks * self.n_pitches


def row_mask(config: RestyleConfig) -> torch.Tensor:
    """``(1, T, 1, P)`` 1 where a track has the row, 0 above its range."""
    mask = torch.zeros(1, config.n_tracks, 1, config.n_pitches)
    for t, rows in enumerate(config.track_rows):
        mask[0, t, 0, :rows] = 1.0
    return mask


def to_sequence(bar: torch.Tensor) -> torch.Tensor:
    """``(B, T, S, P)`` -> ``(B, T*P, S)``, the cells of each step as channels."""
    b, t, s, p = bar.shape
    return bar.permute(0, 1, 3, 2).reshape(b, t * p, s)


def from_sequence(seq: torch.Tensor, config: RestyleConfig) -> torch.Tensor:
    """``(B, T*P, S)`` -> ``(B, T, S, P)``."""
    b = seq.shape[0]
    return seq.reshape(b, config.n_tracks, config.n_pitches, config.n_steps).permute(0, 1, 3, 2)


class ResidualBlock(nn.Module):
    """Two dilated time convolutions with a skip."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, 3, padding=1)
        self.norm1 = nn.GroupNorm(1, channels)
        self.norm2 = nn.GroupNorm(1, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.norm1(self.conv1(x)), 0.2)
        return x + self.norm2(self.conv2(h))


class Generator(nn.Module):
    """A bar in one style to the same bar in another: probabilities ``(B, T, S, P)``."""

    def __init__(self, config: RestyleConfig) -> None:
        super().__init__()
        self.config = config
        c = config.g_channels
        self.inp = nn.Conv1d(config.cells, c, 3, padding=1)
        self.blocks = nn.Sequential(*(ResidualBlock(c, 2 ** (i % 4)) for i in range(config.g_blocks)))
        self.out = nn.Conv1d(c, config.cells, 3, padding=1)
        self.content_gain = nn.Parameter(torch.full((1, config.n_tracks, 1, 1), CONTENT_GAIN))
        self.register_buffer("mask", row_mask(config))

    def logits(self, bar: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.inp(to_sequence(bar)), 0.2)  # (B, C, S)
        change = from_sequence(self.out(F.leaky_relu(self.blocks(h), 0.2)), self.config)  # (B, T, S, P)
        logits = change + self.content_gain * (2.0 * bar - 1.0)
        return logits * self.mask + MASKED_LOGIT * (1.0 - self.mask)

    def forward(self, bar: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(bar))


def _sn(layer: nn.Module) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(layer)


class Critic(nn.Module):
    """The critic of one style (WGAN-GP or LSGAN loss, see training.restyle.train): a score per bar, ``(B,)``."""

    def __init__(self, config: RestyleConfig) -> None:
        super().__init__()
        d = config.d_channels
        self.config = config
        self.convs = nn.ModuleList([
            _sn(nn.Conv1d(config.cells, d, 3, padding=1)),
            _sn(nn.Conv1d(d, d, 3, stride=2, padding=1)),
            _sn(nn.Conv1d(d, d, 3, stride=2, padding=1)),
        ])
        self.head = _sn(nn.Linear(d * (config.n_steps // 4), 1))

    def forward(self, bar: torch.Tensor) -> torch.Tensor:
        h = to_sequence(bar)
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)
        return self.head(h.flatten(1)).squeeze(1)


class StyleClassifier(nn.Module):
    """Logits over the style families, ``(B, n_styles)``."""

    def __init__(self, config: RestyleConfig) -> None:
        super().__init__()
        c = config.c_channels
        self.conv1 = nn.Conv1d(config.cells, c, 3, padding=1)
        self.conv2 = nn.Conv1d(c, c, 3, padding=2, dilation=2)
        self.conv3 = nn.Conv1d(c, c, 3, padding=4, dilation=4)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * c, config.n_styles)

    def forward(self, bar: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1(to_sequence(bar)))
        h = F.relu(self.conv2(h))
        h = F.relu(self.conv3(h))
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
        return self.head(self.drop(pooled))


def binarise_straight_through(probs: torch.Tensor) -> torch.Tensor:
    """0/1 at 0.5 in the forward pass, the identity's gradient backwards (as heard, still trainable)."""
    hard = (probs > 0.5).to(probs.dtype)
    return probs + (hard - probs).detach()


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
