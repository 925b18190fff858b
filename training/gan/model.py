"""The bar GAN: a DCGAN-style conditional generator and critic for WGAN-GP training.

Side-effect free: a dataclass config, two ``nn.Module``s and the loss functions. Checkpoints
store ``asdict(config)`` so both networks can be rebuilt from the file alone.

Shapes: a bar is ``(B, T, S, P)`` -- tracks, steps, pitch rows -- with ``P`` a multiple of 12
so that the pitch axis factors into ``O = P / 12`` octaves of 12 semitones.

Both networks see a bar as a grid of ``S x O`` cells (steps x octaves), each cell holding the
12 semitones of every track; their layers are strided convolutions on that grid, written as
``Linear`` layers over a cell's neighbourhood (see the note above :func:`to_cells`).

Generator (DCGAN-style, MidiNet conditioning): a small *conditioner* encodes the previous bar
at three time resolutions (``S``, ``S/2``, ``S/4`` steps x ``O`` octaves); its feature maps are
concatenated to the generator's layers of the same shape, its pooled vector joins the noise
and the 13-d condition (previous bar's pitch-class profile + has-previous flag). Transposed
"convolutions" double the time axis twice (each step's features span every octave), and the
last layer maps each cell -- with its neighbouring steps, the conditioner's features and the
previous bar's same cell -- to its 12 semitones x tracks. The output is a sigmoid roll; rows a
track does not have are masked to 0.

Critic: the bar and the previous bar as ``2T`` tracks, two streams (cells convolved down over
time, and each pitch row over the whole bar folded to octaves), the condition vector and
optionally per-track summaries (``critic_stats``) joined before the last layers; no batch norm
(WGAN-GP), optional spectral norm.

The decoding floors exported with a generator are in :mod:`training.gan.floors`.

Binary neurons (BinaryMuseGAN): during training the generator's output can be binarised
before the critic sees it -- deterministically (> 0.5) or stochastically (Bernoulli) --
with straight-through gradients (the gradient of the sigmoid).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

BINARY_NEURONS = ("none", "deterministic", "stochastic")
CONDITION_DIM = 13  # daemon.music.bar_features.CONDITION_DIM: 12-d pitch-class profile + has-previous flag
CHORD_DIM = 13  # daemon.music.harmony.CHORD_DIM: the chord's 12 pitch classes + has-chord flag
SEMITONES = 12
INITIAL_LOGIT = -3.0  # output bias at initialisation: sigmoid(-3) = 0.05, about the density of real bars


@dataclass(frozen=True)
class GanConfig:
    """Constructor arguments of :class:`Generator` and :class:`Critic`.

    Attributes:
        n_tracks: tracks per bar (T).
        n_steps: steps per bar (S), a multiple of 4.
        n_pitches: pitch rows (P), a multiple of 12.
        track_rows: rows each track really has (drums 9); higher rows are masked to 0.
        z_dim: noise width.
        cond_dim: condition vector width (pitch-class profile + flag).
        g_channels: generator width (features per cell).
        d_channels: critic width.
        enc_channels: conditioner width.
        spectral_norm: spectral normalisation on every critic layer.
        binary_neuron: ``none``, ``deterministic`` or ``stochastic`` binarisation of the
            generator's output during training (straight-through gradients).
        cond_dropout: probability that a training pair's condition is replaced by the zero
            (unconditioned) one, so the same model samples with and without a previous bar.
        critic_stats: give the critic, besides the rolls, two summaries of each track of both
            bars: how many rows sound at each step, and how long each of the 12 rows of an
            octave sounds summed over octaves (a chroma, up to the track's rotation). Monophony,
            density and the number of pitch classes are then one layer away.
        critic_onsets: give the critic a third summary: how many notes of each track start at
            each step (a row sounding that did not sound the step before). Note lengths, which a
            listener hears at once and convolutions over pairs of steps see late, are then one
            layer away.
        critic_beats: give the critic a fourth summary: each track's chroma (12 rows of an octave
            summed over octaves) in each beat. Which pitch classes the voices share beat by beat --
            the harmony, which the tonal distance between tracks measures -- is then one layer away.
        voices: tracks the binary neuron decodes as one voice, as the daemon does
            (``daemon.music.voices.one_per_step``): the critic judges each voice as it will sound.
        chord_dropout: for a model that hears the chord of the bar it makes (``cond_dim`` is
            :data:`CONDITION_DIM` + :data:`CHORD_DIM`: the condition ends with the chord's pitch
            classes and a flag), the probability that a training pair is given no chord, so the
            same model plays with and without one.
    """

    n_tracks: int
    n_steps: int
    n_pitches: int
    track_rows: tuple[int, ...]
    z_dim: int = 32
    cond_dim: int = CONDITION_DIM
    g_channels: int = 64
    d_channels: int = 64
    enc_channels: int = 24
    spectral_norm: bool = False
    binary_neuron: str = "none"
    cond_dropout: float = 0.2
    critic_stats: bool = False
    critic_onsets: bool = False
    critic_beats: bool = False
    voices: tuple[int, ...] = ()
    chord_dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.n_steps % 4 or self.n_steps < 4:
            raise ValueError(f"n_steps={self.n_steps} must be a multiple of 4")
        if self.n_pitches % SEMITONES:
            raise ValueError(f"n_pitches={self.n_pitches} must be a multiple of 12")
        if len(self.track_rows) != self.n_tracks or any(not 0 < r <= self.n_pitches for r in self.track_rows):
            raise ValueError(f"track_rows={self.track_rows} must give 1..{self.n_pitches} rows for each track")
        if self.binary_neuron not in BINARY_NEURONS:
            raise ValueError(f"binary_neuron={self.binary_neuron!r}; choose one of {', '.join(BINARY_NEURONS)}")
        if any(not 0 <= t < self.n_tracks for t in self.voices):
            raise ValueError(f"voices={self.voices} must name tracks 0..{self.n_tracks - 1}")
        if not 0.0 <= self.cond_dropout < 1.0:
            raise ValueError(f"cond_dropout={self.cond_dropout} must be in [0, 1)")
        if self.cond_dim not in (CONDITION_DIM, CONDITION_DIM + CHORD_DIM):
            raise ValueError(f"cond_dim={self.cond_dim} must be {CONDITION_DIM} (previous bar) or "
                             f"{CONDITION_DIM + CHORD_DIM} (previous bar and chord)")
        if not 0.0 <= self.chord_dropout < 1.0:
            raise ValueError(f"chord_dropout={self.chord_dropout} must be in [0, 1)")

    @property
    def hears_chords(self) -> bool:
        """The condition ends with the chord of the bar being made."""
        return self.cond_dim == CONDITION_DIM + CHORD_DIM

    @property
    def octaves(self) -> int:
        return self.n_pitches // SEMITONES


def dims(x: torch.Tensor) -> tuple[int, ...]:
    """``x``'s sizes after the batch axis, as plain ints. Every reshape here takes the batch as
    ``-1`` and the other sizes from this: an exported graph then holds them as constants rather
    than computing them from the input's shape at each call (hundreds of small nodes)."""
    return tuple(int(d) for d in x.shape[1:])


# Cells: the networks see a bar as a grid of (steps x octaves) cells, each with the 12 semitones
# of every track as features, and work channels-last, (B, S, O, C). Every layer is a Linear
# over a small neighbourhood (a pair of steps with all octaves, or a cell with its neighbouring
# steps): the same operator as a strided convolution on this tiny grid, but matrix products run
# several times faster than small convolutions on one CPU thread, double backward included.


def to_cells(bar: torch.Tensor) -> torch.Tensor:
    """``(B, T, S, P)`` -> ``(B, S, O, 12*T)``: semitone-major, track-minor features per cell."""
    t, s, p = dims(bar)
    return bar.reshape(-1, t, s, p // SEMITONES, SEMITONES).permute(0, 2, 3, 4, 1).reshape(
        -1, s, p // SEMITONES, SEMITONES * t)


def from_cells(cells: torch.Tensor, n_tracks: int) -> torch.Tensor:
    """Inverse of :func:`to_cells`: ``(B, S, O, 12*T)`` -> ``(B, T, S, P)``."""
    s, o, _ = dims(cells)
    return cells.reshape(-1, s, o, SEMITONES, n_tracks).permute(0, 4, 1, 2, 3).reshape(-1, n_tracks, s, o * SEMITONES)


def step_context(x: torch.Tensor) -> torch.Tensor:
    """``(B, S, O, C)`` -> ``(B, S, O, 3C)``: each cell with the step before and after (zero-padded)."""
    padded = F.pad(x, (0, 0, 0, 0, 1, 1))  # (B, S+2, O, C)
    return torch.cat([padded[:, :-2], padded[:, 1:-1], padded[:, 2:]], dim=-1)


def pair_steps(x: torch.Tensor) -> torch.Tensor:
    """``(B, S, O, C)`` -> ``(B, S/2, O, 2C)``: two consecutive steps as one cell."""
    s, o, c = dims(x)
    return x.reshape(-1, s // 2, 2, o, c).permute(0, 1, 3, 2, 4).reshape(-1, s // 2, o, 2 * c)


def split_steps(x: torch.Tensor) -> torch.Tensor:
    """``(B, S, O, 2C)`` -> ``(B, 2S, O, C)``: inverse of :func:`pair_steps`."""
    s, o, c2 = dims(x)
    return x.reshape(-1, s, o, 2, c2 // 2).permute(0, 1, 3, 2, 4).reshape(-1, 2 * s, o, c2 // 2)


class CellNorm(nn.Module):
    """Batch norm over the channels of channels-last cells (``BatchNorm2d`` in that layout)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = dims(x)
        return self.norm(x.reshape(-1, shape[-1])).reshape(-1, *shape)


def octaves_to_channels(x: torch.Tensor) -> torch.Tensor:
    """``(B, S, O, C)`` -> ``(B, S, O*C)``: the middle layers see every octave of a step at once."""
    s, o, c = dims(x)
    return x.reshape(-1, s, o * c)


class Conditioner(nn.Module):
    """Encodes the previous bar at three time resolutions and as one vector."""

    def __init__(self, config: GanConfig) -> None:
        super().__init__()
        e, o = config.enc_channels, config.octaves
        self.cell = nn.Linear(SEMITONES * config.n_tracks, e)
        self.down1 = nn.Linear(2 * o * e, o * e)  # a pair of steps, all octaves
        self.down2 = nn.Linear(2 * o * e, o * e)
        self.vector = nn.Linear((config.n_steps // 4) * o * e, 2 * e)

    def forward(self, previous: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """previous ``(B, T, S, P)`` -> features ``[(B, S, O, E), (B, S/2, O*E), (B, S/4, O*E)]``
        and a vector ``(B, 2E)``."""
        f0 = F.leaky_relu(self.cell(to_cells(previous)), 0.2)  # (B, S, O, E)
        f1 = F.leaky_relu(self.down1(pair_steps(octaves_to_channels(f0)[:, :, None])[:, :, 0]), 0.2)  # (B, S/2, O*E)
        f2 = F.leaky_relu(self.down2(pair_steps(f1[:, :, None])[:, :, 0]), 0.2)  # (B, S/4, O*E)
        v = F.leaky_relu(self.vector(f2.flatten(1)), 0.2)  # (B, 2E)
        return [f0, f1, f2], v


class Generator(nn.Module):
    """(noise, previous bar, condition) -> sigmoid roll ``(B, T, S, P)``."""

    def __init__(self, config: GanConfig) -> None:
        super().__init__()
        self.config = config
        c, e, t, o = config.g_channels, config.enc_channels, config.n_tracks, config.octaves
        self.s4 = config.n_steps // 4
        self.conditioner = Conditioner(config)
        self.project = nn.Linear(config.z_dim + config.cond_dim + 2 * e, self.s4 * o * c)
        self.bn0 = CellNorm(o * c)
        self.up1 = nn.Linear(o * (c + e), 2 * o * c)  # one step in, two steps out, all octaves
        self.bn1 = CellNorm(o * c)
        self.up2 = nn.Linear(o * (c + e), 2 * o * c)
        self.bn2 = CellNorm(o * c)
        self.out = nn.Linear(3 * (c + e + SEMITONES * t), SEMITONES * t)  # a cell and its two neighbouring steps
        nn.init.constant_(self.out.bias, INITIAL_LOGIT)
        mask = torch.zeros(t, 1, config.n_pitches)
        for i, rows in enumerate(config.track_rows):
            mask[i, 0, :rows] = 1.0
        self.register_buffer("row_mask", mask)  # (T, 1, P)

    def logits(self, noise: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid roll ``(B, T, S, P)``."""
        cfg = self.config
        o, c = cfg.octaves, cfg.g_channels
        maps, vector = self.conditioner(previous)
        h = self.project(torch.cat([noise, condition, vector], dim=1))  # (B, S/4*O*C)
        h = F.relu(self.bn0(h.reshape(-1, self.s4, o * c)))  # (B, S/4, O*C)
        h = split_steps(self.up1(torch.cat([h, maps[2]], dim=-1))[:, :, None])[:, :, 0]  # (B, S/2, O*C)
        h = F.relu(self.bn1(h))
        h = split_steps(self.up2(torch.cat([h, maps[1]], dim=-1))[:, :, None])[:, :, 0]  # (B, S, O*C)
        h = F.relu(self.bn2(h)).reshape(-1, cfg.n_steps, o, c)  # (B, S, O, C)
        cells = torch.cat([h, maps[0], to_cells(previous)], dim=-1)  # (B, S, O, C+E+12T)
        return from_cells(self.out(step_context(cells)), cfg.n_tracks)  # (B, T, S, P)

    def forward(self, noise: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """noise ``(B, Z)``, previous ``(B, T, S, P)``, condition ``(B, 13)`` -> roll ``(B, T, S, P)`` in [0, 1]."""
        return torch.sigmoid(self.logits(noise, previous, condition)) * self.row_mask

    def candidates(self, noise: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """``K`` bars for each previous bar: noise ``(N, K, Z)``, previous ``(N, T, S, P)``, condition
        ``(N, 13)`` -> roll ``(N*K, T, S, P)``, each previous bar's ``K`` bars one after another.

        The same bars (to float rounding) as :meth:`forward` on each previous bar and its condition
        repeated ``K`` times, but what depends on the previous bar alone -- the conditioner, and its
        share of every layer it feeds (each weight matrix split by the columns it reads) -- is
        computed once per previous bar rather than once per candidate. For inference (``eval``
        mode: batch norm by its running statistics, the same for any batch).
        """
        cfg = self.config
        o, c, z = cfg.octaves, cfg.g_channels, cfg.z_dim
        k = noise.shape[1]
        maps, vector = self.conditioner(previous)
        w = self.project.weight
        h = per_bar(F.linear(noise.reshape(-1, z), w[:, :z]),
                    F.linear(torch.cat([condition, vector], dim=1), w[:, z:], self.project.bias), k)  # (N*K, S/4*O*C)
        h = F.relu(self.bn0(h.reshape(-1, self.s4, o * c)))  # (N*K, S/4, O*C)
        h = split_steps(split_linear(self.up1, h, maps[2], k)[:, :, None])[:, :, 0]  # (N*K, S/2, O*C)
        h = F.relu(self.bn1(h))
        h = split_steps(split_linear(self.up2, h, maps[1], k)[:, :, None])[:, :, 0]  # (N*K, S, O*C)
        h = F.relu(self.bn2(h)).reshape(-1, cfg.n_steps, o, c)  # (N*K, S, O, C)
        w, width = self.out.weight, self.out.in_features // 3  # each of the three steps' C+E+12T columns
        own = torch.cat([w[:, j * width:j * width + c] for j in range(3)], dim=1)  # what reads h
        rest = torch.cat([w[:, j * width + c:(j + 1) * width] for j in range(3)], dim=1)  # the previous bar's
        shared = step_context(torch.cat([maps[0], to_cells(previous)], dim=-1))  # (N, S, O, 3(E+12T))
        logits = per_bar(F.linear(step_context(h), own), F.linear(shared, rest, self.out.bias), k)
        return torch.sigmoid(from_cells(logits, cfg.n_tracks)) * self.row_mask  # (N*K, T, S, P)


def per_bar(own: torch.Tensor, shared: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """``own`` ``(N*K, ...)`` plus ``shared`` ``(N, ...)``, each of ``shared``'s rows added to its ``K``
    rows of ``own``."""
    shape = dims(own)
    return (own.reshape(-1, k, *shape) + shared[:, None]).reshape(-1, *shape)


def split_linear(layer: nn.Linear, h: torch.Tensor, shared: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """``layer(cat([h, shared_K], -1))`` with ``shared`` ``(N, ..., F)`` once per previous bar and ``h``
    ``(N*K, ..., H)`` (``shared_K``: each row repeated ``K`` times): the weight's first ``H``
    columns read ``h``, the rest ``shared``, whose product (and the bias) is added per bar."""
    width = int(h.shape[-1])
    return per_bar(F.linear(h, layer.weight[:, :width]), F.linear(shared, layer.weight[:, width:], layer.bias), k)


class Critic(nn.Module):
    """(bar, previous bar, condition) -> unbounded score ``(B,)`` (higher = more real)."""

    def __init__(self, config: GanConfig) -> None:
        super().__init__()
        self.config = config
        d, t, o = config.d_channels, config.n_tracks, config.octaves
        norm = nn.utils.parametrizations.spectral_norm if config.spectral_norm else (lambda m: m)
        # stream 1: cells, then pairs of steps with all octaves
        self.cell = norm(nn.Linear(SEMITONES * 2 * t, d // 2))
        self.down1 = norm(nn.Linear(2 * o * (d // 2), 2 * d))
        self.down2 = norm(nn.Linear(4 * d, 2 * d))
        self.whole = norm(nn.Linear((config.n_steps // 4) * 2 * d, d))
        # stream 2: each pitch row over the whole bar, then each octave's 12 rows
        self.pitch_time = norm(nn.Linear(config.n_steps * 2 * t, d // 4))
        self.pitch_octave = norm(nn.Linear(SEMITONES * (d // 4), d // 2))
        stats = 2 * t * (config.n_steps + SEMITONES) if config.critic_stats else 0
        stats += 2 * t * config.n_steps if config.critic_onsets else 0
        stats += 2 * t * 4 * SEMITONES if config.critic_beats else 0
        self.dense = norm(nn.Linear(d + o * (d // 2) + config.cond_dim + stats, d))
        self.score = norm(nn.Linear(d, 1))

    def forward(self, bar: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        x = torch.cat([bar, previous], dim=1)  # (B, 2T, S, P)
        t2, s, p = dims(x)
        a = F.leaky_relu(self.cell(to_cells(x)), 0.2)  # (B, S, O, D/2)
        a = octaves_to_channels(a)[:, :, None]  # (B, S, 1, O*D/2)
        a = F.leaky_relu(self.down1(pair_steps(a)), 0.2)  # (B, S/2, 1, 2D)
        a = F.leaky_relu(self.down2(pair_steps(a)), 0.2)  # (B, S/4, 1, 2D)
        a = F.leaky_relu(self.whole(a.flatten(1)), 0.2)  # (B, D)
        rows = x.permute(0, 3, 1, 2).reshape(-1, p, t2 * s)  # (B, P, 2T*S)
        r = F.leaky_relu(self.pitch_time(rows), 0.2)  # (B, P, D/4)
        r = r.reshape(-1, p // SEMITONES, SEMITONES * (self.config.d_channels // 4))  # (B, O, 12*D/4)
        r = F.leaky_relu(self.pitch_octave(r), 0.2)  # (B, O, D/2)
        parts = [a, r.flatten(1), condition]
        if self.config.critic_stats:
            parts.append(x.sum(dim=3).flatten(1) / 4.0)  # (B, 2T*S) rows sounding per step
            chroma = x.reshape(-1, t2, s, p // SEMITONES, SEMITONES).sum(dim=(2, 3)) / s  # (B, 2T, 12)
            parts.append(chroma.flatten(1))
        if self.config.critic_onsets:
            parts.append(onsets_per_step(x).flatten(1) / 2.0)  # (B, 2T*S)
        if self.config.critic_beats:
            parts.append(chroma_per_beat(x).flatten(1))  # (B, 2T*4*12)
        h = torch.cat(parts, dim=1)  # (B, D + O*D/2 + 13 [+ 2T*(S+12)])
        h = F.leaky_relu(self.dense(h), 0.2)  # (B, D)
        return self.score(h).squeeze(1)  # (B,)


def onsets_per_step(x: torch.Tensor) -> torch.Tensor:
    """``(B, T, S, P)`` rolls -> ``(B, T, S)``: rows sounding at each step that did not sound the
    step before (notes starting; soft for soft rolls, so gradients flow)."""
    before = F.pad(x, (0, 0, 1, 0))[:, :, :-1]  # (B, T, S, P): each step's previous step
    return (x * (1.0 - before)).sum(dim=3)


def bar_statistics(x: torch.Tensor) -> torch.Tensor:
    """``(B, T, S, P)`` rolls -> ``(B, T * (2S + 2))``: each track's rows sounding at each step,
    notes starting at each step, pitch classes used in the bar and whether the bar is empty.

    Every one is unchanged by transposition, so their means over the training bars are the
    targets of :func:`statistics_loss` whatever the random transposition. On a binary roll (the
    binary neuron's forward pass) they are exact; their gradients (through the straight-through
    estimator) reach the cells that can change them: a pitch class sounding in one cell only, a
    bar with at most one cell on.
    """
    b, t, s, p = x.shape
    silent = 1.0 - x
    per_class = silent.reshape(b, t, s * p // SEMITONES, SEMITONES).prod(dim=2)  # (B, T, 12): class unused
    used = (1.0 - per_class).sum(dim=2, keepdim=True)  # (B, T, 1)
    empty = silent.flatten(2).prod(dim=2, keepdim=True)  # (B, T, 1)
    return torch.cat([x.sum(dim=3), onsets_per_step(x), used, empty], dim=2).flatten(1)


def statistics_loss(fake: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Moment matching: the mean squared gap, in units of ``scale`` (the training bars' standard
    deviation of each statistic), between a batch's mean :func:`bar_statistics` and ``mean`` (the
    training bars')."""
    return (((bar_statistics(fake).mean(dim=0) - mean) / scale) ** 2).mean()


def chroma_per_beat(x: torch.Tensor) -> torch.Tensor:
    """``(B, T, S, P)`` rolls -> ``(B, T, 4, 12)``: how long each of the 12 rows of an octave
    sounds in each quarter of the bar (a beat in 4/4), summed over octaves, as a share of the beat."""
    t, s, p = dims(x)
    return x.reshape(-1, t, 4, s // 4, p // SEMITONES, SEMITONES).sum(dim=(3, 4)) / (s // 4)


def binary_neuron(probs: torch.Tensor, mode: str, voices: tuple[int, ...] = ()) -> torch.Tensor:
    """Binarise ``probs`` in the forward pass, pass the gradient straight through.

    ``deterministic``: 1 where > 0.5; ``stochastic``: a Bernoulli draw; ``none``: unchanged.
    Tracks in ``voices`` (``(B, T, S, P)`` track indices) are binarised as the daemon decodes a
    voice: at each step the likeliest row, where the chance that any row sounds passes 0.5
    (deterministic) or wins its draw (stochastic).
    """
    if mode == "none":
        return probs
    if mode == "deterministic":
        hard = (probs > 0.5).to(probs.dtype)
    elif mode == "stochastic":
        hard = torch.bernoulli(probs.detach())
    else:
        raise ValueError(f"unknown binary neuron {mode!r}")
    if voices:
        hard = hard.clone()
        for t in voices:
            part = probs[:, t].detach()  # (B, S, P)
            sounding = 1.0 - torch.exp(torch.log1p(-part.clamp(max=1.0 - 1e-6)).sum(dim=-1))  # (B, S)
            on = sounding > 0.5 if mode == "deterministic" else torch.rand_like(sounding) < sounding
            one_hot = F.one_hot(part.argmax(dim=-1), part.shape[-1]).to(probs.dtype)  # (B, S, P)
            hard[:, t] = one_hot * on.to(probs.dtype)[..., None]
    return probs + (hard - probs).detach()


def likeliest_rows(probs: torch.Tensor, voices: tuple[int, ...] | list[int]) -> torch.Tensor:
    """A 0/1 mask ``(B, T, S, P)`` of ``probs``: in each track of ``voices`` the likeliest row of each
    step, elsewhere everything. A binarised roll times the mask is the roll as the daemon plays a
    voice step by step (``daemon.music.voices.one_per_step``), gradients passing to the cells kept."""
    mask = torch.ones_like(probs)
    for t in voices:
        part = probs[:, t].detach()
        mask[:, t] = F.one_hot(part.argmax(dim=-1), part.shape[-1]).to(probs.dtype)
    return mask


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, previous: torch.Tensor,
                     condition: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty: mean of (||grad_x critic(x)||_2 - 1)^2 on random interpolates of real and
    fake bars (one mixing weight per pair; the condition is the pair's own)."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)  # (B, 1, 1, 1)
    mixed = (alpha * real + (1.0 - alpha) * fake).requires_grad_(True)  # (B, T, S, P)
    score = critic(mixed, previous, condition)  # (B,)
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, previous: torch.Tensor,
                condition: torch.Tensor, gp_weight: float = 10.0) -> tuple[torch.Tensor, dict[str, float]]:
    """WGAN-GP critic loss ``E[D(fake)] - E[D(real)] + gp_weight * GP`` and its parts."""
    real_score = critic(real, previous, condition)
    fake_score = critic(fake, previous, condition)
    wasserstein = real_score.mean() - fake_score.mean()
    penalty = gradient_penalty(critic, real, fake, previous, condition)
    loss = -wasserstein + gp_weight * penalty
    return loss, {"d_loss": float(loss.detach()), "wasserstein": float(wasserstein.detach()),
                  "gp": float(penalty.detach())}


def generator_loss(critic: nn.Module, fake: torch.Tensor, previous: torch.Tensor,
                   condition: torch.Tensor) -> torch.Tensor:
    """``-E[D(fake)]``."""
    return -critic(fake, previous, condition).mean()


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
