"""Decoding floors: rules wrapped around a trained generator, exported with it.

:class:`PitchClassFloor` drops the pitch classes a bar barely plays in some pitched tracks;
:class:`HoldFloor` lets a note that has begun go on while its row stays likely;
:class:`RestartFloor` keeps a track silent in the previous bar silent unless it comes back with
a pattern. None changes the generator's weights; their settings are chosen on the validation
split (:func:`training.gan.checkpoint.with_floors`). Side-effect free, like :mod:`training.gan.model`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from training.gan.model import CONDITION_DIM, SEMITONES, Generator


class PitchClassFloor(nn.Module):
    """A generator whose bars, in some pitched tracks, drop the pitch classes the bar barely plays.

    In each bar and listed track, a pitch class's weight is the probability summed over the cells
    that pass ``threshold`` (every octave, every step); a class whose weight is below ``floor``
    times the bar's strongest class's, and that no other pitched track of the bar plays (the bass
    under a chord track), has its rows set to 0. A bar's chord track keeps its chord tones and
    loses the stray ones a threshold lets through (a decoding rule, chosen on the validation
    split; the generator's weights are untouched). Exported with the generator, so the daemon,
    the offline sampler and the evaluation all play the same bars.

    Args:
        generator: the :class:`Generator` (its ``config`` is this module's).
        floors: ``{track index: floor}``, each floor in [0, 1).
        lowest_pitches: each track's MIDI pitch of row 0 (``daemon.music.pianoroll.TrackSpec``).
        pitched: the indices of the pitched tracks (whose classes a floored track keeps).
        threshold: the binarisation threshold the weights are taken over.
    """

    def __init__(self, generator: Generator, floors: dict[int, float], lowest_pitches: tuple[int, ...],
                 pitched: tuple[int, ...], threshold: float = 0.5) -> None:
        super().__init__()
        self.generator = generator
        self.config = generator.config
        self.floors = dict(floors)
        self.others = {t: [u for u in pitched if u != t] for t in self.floors}
        self.threshold = float(threshold)
        rows = torch.arange(self.config.n_pitches)
        classes = torch.stack([F.one_hot((lowest + rows) % SEMITONES, SEMITONES).float()
                               for lowest in lowest_pitches])  # (T, P, 12)
        self.register_buffer("pitch_classes", classes)

    def forward(self, noise: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.floor(self.generator(noise, previous, condition))

    def candidates(self, noise: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """:meth:`Generator.candidates`, floored."""
        return self.floor(self.generator.candidates(noise, previous, condition))

    def floor(self, roll: torch.Tensor) -> torch.Tensor:
        """``roll`` ``(B, T, S, P)`` without the pitch classes each bar barely plays in the floored tracks."""
        tracks = list(torch.unbind(roll, dim=1))
        needed = set(self.floors).union(*self.others.values())
        weights = {t: self._weight(tracks[t], t) for t in sorted(needed)}  # (B, 12) each, before any floor
        for t, floor in self.floors.items():
            keep = weights[t] >= floor * weights[t].max(dim=1, keepdim=True).values  # (B, 12)
            for other in self.others[t]:
                keep = keep | (weights[other] > 0)
            tracks[t] = tracks[t] * (keep.to(roll.dtype) @ self.pitch_classes[t].T)[:, None, :]
        return torch.stack(tracks, dim=1)

    def _weight(self, part: torch.Tensor, track: int) -> torch.Tensor:
        """Each pitch class's probability over the cells that pass the threshold: ``(B, S, P)`` -> ``(B, 12)``."""
        return (part * (part > self.threshold).to(part.dtype)).sum(dim=1) @ self.pitch_classes[track]


HELD = 0.75  # what a held cell's probability is raised to: over any threshold a preset plays at


class HoldFloor(nn.Module):
    """A generator whose notes, in some tracks, go on while their row stays likely.

    In each listed track, a cell under ``threshold`` but over the track's ``floor`` is raised to
    :data:`HELD` when it continues a note: the cell before it in its row passes ``threshold`` or is
    held itself. A note the generator began goes on as long as it keeps the row likelier than the
    floor, rather than stopping at the first step a little under the threshold (a GAN's bass lines
    are short of held notes: the groove model's bass has 0.35 of its notes a dotted eighth or
    longer, the training bars 0.40). No cell that would not continue a note changes. A decoding rule
    like :class:`PitchClassFloor`, exported with the generator.

    Args:
        generator: the :class:`Generator` or :class:`PitchClassFloor` it wraps.
        floors: ``{track index: floor}``, each floor in (0, ``threshold``).
        threshold: the binarisation threshold.
    """

    def __init__(self, generator: Generator | PitchClassFloor, floors: dict[int, float], threshold: float = 0.5) -> None:
        super().__init__()
        self.generator = generator
        self.config = generator.config
        self.floors = dict(floors)
        self.threshold = float(threshold)
        steps = torch.arange(self.config.n_steps, dtype=torch.float32)
        self.register_buffer("bits", (2.0 ** steps)[:, None])  # (S, 1): step s as bit s (exact in float32)
        self.register_buffer("up_to", (steps[None, :] <= steps[:, None]).float())  # (S, S'): s' <= s

    def forward(self, noise: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.floor(self.generator(noise, previous, condition))

    def candidates(self, noise: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """:meth:`Generator.candidates`, floored."""
        return self.floor(self.generator.candidates(noise, previous, condition))

    def floor(self, roll: torch.Tensor) -> torch.Tensor:
        """``roll`` ``(B, T, S, P)`` with the listed tracks' notes held. No loop over steps: a cell
        continues a note when, in its row, the last step at or before it that passes the threshold
        comes after the last one under the floor. With step ``s`` as bit ``s``, those are the highest
        bits of two sums over disjoint steps, so the later is the larger sum: one product with a
        triangular matrix compares them for every cell."""
        tracks = list(torch.unbind(roll, dim=1))
        for t, floor in self.floors.items():
            part = tracks[t]  # (B, S, P)
            on, likely = part > self.threshold, part > floor
            lead = torch.matmul(self.up_to, (on.to(part.dtype) - (~likely).to(part.dtype)) * self.bits)  # (B, S, P)
            held = likely & ~on & (lead > 0)
            tracks[t] = torch.maximum(part, held.to(part.dtype) * HELD)  # a held cell is under HELD; others keep theirs
        return torch.stack(tracks, dim=1)


class RestartFloor(nn.Module):
    """A generator whose tracks, silent in the previous bar, come back only with a pattern.

    In each bar that answers a previous bar (condition flag 1), a listed track that was silent
    in the previous bar keeps its rows only when at least ``floor`` of its cells pass
    ``threshold``; fewer are stray hits, and the track stays silent (a groove without drums goes
    on without them, as the training grooves do 98 % of the time). Unconditioned bars and tracks
    that sounded before are untouched. A decoding rule like :class:`PitchClassFloor`, exported
    with the generator.

    Args:
        generator: the :class:`Generator` or :class:`PitchClassFloor` it wraps.
        floors: ``{track index: cells}``, each at least 1.
        threshold: the binarisation threshold the cells are counted at.
    """

    def __init__(self, generator: Generator | PitchClassFloor | HoldFloor, floors: dict[int, int],
                 threshold: float = 0.5) -> None:
        super().__init__()
        self.generator = generator
        self.config = generator.config
        self.floors = dict(floors)
        self.threshold = float(threshold)

    def forward(self, noise: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.floor(self.generator(noise, previous, condition), previous, condition, 1)

    def candidates(self, noise: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """:meth:`Generator.candidates`, floored."""
        return self.floor(self.generator.candidates(noise, previous, condition), previous, condition, noise.shape[1])

    def floor(self, roll: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor,
              k: int | torch.Tensor) -> torch.Tensor:
        """``roll`` ``(N*k, T, S, P)``, ``k`` bars of each previous bar ``(N, T, S, P)`` with its
        condition ``(N, 13)``, without the stray cells of tracks silent before."""
        tracks = list(torch.unbind(roll, dim=1))
        unconditioned = condition[:, CONDITION_DIM - 1] < 0.5  # (N,): the previous bar's flag (a chord may follow it)
        for t, floor in self.floors.items():
            free = unconditioned | (previous[:, t].sum(dim=(1, 2)) > 0)  # (N,): sounded before, or nothing before
            free = free[:, None].expand(-1, k).reshape(-1)  # (N*k,)
            keep = free | ((tracks[t] > self.threshold).sum(dim=(1, 2)) >= floor)
            tracks[t] = tracks[t] * keep.to(roll.dtype)[:, None, None]
        return torch.stack(tracks, dim=1)
