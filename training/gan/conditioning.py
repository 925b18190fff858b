"""What the generator hears of the previous bar while it trains: thinned or thickened bars.

For a share of every batch's fake pairs the generator is conditioned on a changed previous bar
(:func:`thinned_previous`, :func:`thickened_previous`) while the critic judges its bar against
the real one, so chains of the model's own bars neither thin out nor fill up. Tensor code only:
it reads no files and keeps no state; draws come from torch's global generator.
"""

from __future__ import annotations

import torch

from daemon.music.bar_features import condition_features
from daemon.music.pianoroll import RollSpec


def thinned_previous(previous: torch.Tensor, condition: torch.Tensor, share: float, max_rate: float,
                     spec: RollSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """What the generator sees of the previous bar: for the first ``share`` of the pairs, the bar
    with a random share (up to ``max_rate``, drawn per pair) of its active cells removed, and the
    condition recomputed from it; the critic still judges the fake bar against the whole bar.

    The generator so learns to continue a bar it hears only in part -- which is what it hears when
    chained on its own, slightly sparser output, or when the player's bar is cut short -- and the
    chain no longer thins out bar after bar. Returns previous ``(B, T, S, P)`` and condition
    ``(B, 13)`` tensors.
    """
    k = round(share * previous.shape[0])
    if k == 0 or max_rate <= 0:
        return previous, condition
    rate = torch.rand(k, 1, 1, 1, device=previous.device) * max_rate  # (k, 1, 1, 1)
    kept = previous[:k] * (torch.rand_like(previous[:k]) >= rate)  # (k, T, S, P)
    return _replace_previous(previous, condition, 0, kept, spec)


def thickened_previous(previous: torch.Tensor, condition: torch.Tensor, start: float, share: float, max_rate: float,
                       spec: RollSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """The counterpart of :func:`thinned_previous`, for the ``share`` of the pairs that follow the
    first ``start`` share: the previous bar with extra notes -- its own notes moved by one or two
    steps, each kept with a random chance (up to ``max_rate``, drawn per pair) -- and the condition
    recomputed; the critic still judges the fake bar against the real previous bar.

    The generator so learns not to copy every note it hears: a bar chained on the model's own,
    slightly busier output no longer fills up bar after bar, and a player's busy bar is answered
    with a bar as busy as the music. Returns previous ``(B, T, S, P)`` and condition ``(B, 13)``.
    """
    first = round(start * previous.shape[0])
    k = min(previous.shape[0] - first, round(share * previous.shape[0]))
    if k <= 0 or max_rate <= 0:
        return previous, condition
    part = previous[first:first + k]  # (k, T, S, P)
    shifts = torch.stack([torch.roll(part, shifts=s, dims=2) for s in (-2, -1, 1, 2)])  # (4, k, T, S, P)
    moved = shifts[torch.randint(4, (k,), device=previous.device), torch.arange(k, device=previous.device)]
    rate = torch.rand(k, 1, 1, 1, device=previous.device) * max_rate  # (k, 1, 1, 1)
    extra = moved * (torch.rand_like(moved) < rate)
    return _replace_previous(previous, condition, first, torch.maximum(part, extra), spec)


def own_previous(own: torch.nn.Module, previous: torch.Tensor, condition: torch.Tensor, before: torch.Tensor,
                 previous_chord: torch.Tensor | None, share: float, spec: RollSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Scheduled sampling for bar chains: for the last ``share`` of the pairs that have a bar before
    their previous bar (``before``, zeros where none), the generator hears, instead of the real
    previous bar, the bar ``own`` (the moving average: the generator that ships) makes from that
    bar before it (and from the previous bar's chord, for a model that hears chords), thresholded
    at 0.5 as the daemon plays it; the critic still judges the fake bar against the real previous
    bar. The generator so learns to go on well from its own bars, which is all a chain hears.
    Returns previous ``(B, T, S, P)`` and condition ``(B, 13)`` tensors.
    """
    k = round(share * previous.shape[0])
    if k == 0:
        return previous, condition
    first = previous.shape[0] - k
    part = before[first:]  # (k, T, S, P)
    has = (part.flatten(1).amax(dim=1) > 0) & (condition[first:, -1] > 0)  # (k,) a bar before, and conditioned
    if not bool(has.any()):
        return previous, condition
    prev_np, cond_np = condition_features(part.cpu().numpy() > 0, spec)
    cond_t = torch.from_numpy(cond_np).to(previous.device)
    if getattr(own.config, "hears_chords", False):
        chord = torch.zeros(k, cond_t.shape[1], device=previous.device) if previous_chord is None else previous_chord[first:]
        cond_t = torch.cat([cond_t, chord], dim=1)
    with torch.no_grad():
        noise = torch.randn(k, own.config.z_dim, device=previous.device)
        made = (own(noise, torch.from_numpy(prev_np).to(previous.device), cond_t) > 0.5).float()  # (k, T, S, P)
    seen = torch.where(has[:, None, None, None], made, previous[first:])
    return _replace_previous(previous, condition, first, seen, spec)


def _replace_previous(previous: torch.Tensor, condition: torch.Tensor, first: int, seen: torch.Tensor,
                      spec: RollSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """``previous`` with pairs ``first .. first + len(seen)`` replaced by ``seen``, and their
    condition recomputed from it (pairs with no previous bar keep the zero condition)."""
    last = first + seen.shape[0]
    _, seen_cond = condition_features(seen.cpu().numpy() > 0, spec)
    has = condition[first:last, -1:]  # (k, 1) the pair has a previous bar at all
    seen_cond_t = torch.from_numpy(seen_cond).to(previous.device) * has
    return (torch.cat([previous[:first], seen, previous[last:]]),
            torch.cat([condition[:first], seen_cond_t, condition[last:]]))
