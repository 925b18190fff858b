"""A band that lasts: GAN bars in a chain, each conditioned on the band's bar before it.

A chain hears only itself, so a small bias of the model compounds bar after bar: a track that
falls silent once is conditioned on silence and stays silent (the data taught the model that
silence stays silent), and a bar a little too busy asks for a busier one. :class:`BarChain`
keeps what the model alone does not:

* **each track's last healthy bar**: a bar of the track whose active cells (and, for pitched
  tracks, pitch classes) lie inside the training bars' range (:class:`TrackBounds`);
* **a silence limit** per track (``revive_after``): a track silent that many bars in a row is
  conditioned on its last healthy bar again, as a player who sat out a few bars comes back in;
  a track whose last bar went out of range is conditioned on its last healthy bar at once; a
  track still silent or out of range after twice its limit (the other parts keep telling the
  model it has no part here, or only a stray note) brings the whole band back to its last bar
  in which every part sounded in range;
* **a fresh start**: a chain whose part stays unwell even so starts over from a count-in;
* **a choice among candidates**: each bar is drawn ``candidates`` times and, of those with the
  fewest tracks out of range, the one that keeps the chain's running statistics (the bar
  metrics' counts over about the last ``memory_bars`` bars, :mod:`daemon.music.bar_stats`)
  nearest the training bars' is played: a band that drifts toward busier or plainer bars is
  steered back by choosing among bars the model itself offered. Each part may also sit a bar
  out (the first candidate with that part left silent is a candidate too): the model keeps a
  part that sounds going, so the rests of the training grooves, where each part is silent in
  about a fifth of the bars, come from this choice, at the data's rate. A chained chord part
  holds its chords longer than the training grooves' (which re-strike them as stabs), so the
  chosen bar with its held chords re-struck (``restrike_from``, :func:`daemon.models.gan_choice.restrike`)
  is a candidate too, and over a chord the share of the chord part's steps in the chord is kept
  near the training bars' as the statistics are (``chord_tones``; the bass's too, ``bass_tones``,
  so that under a player's changing chords it keeps to them as the grooves' bass does). The
  candidates' statistics are computed together, in numpy (:mod:`daemon.models.gan_choice`), and the model makes them
  in one run, what depends on the previous bar alone once (a file in the candidate form).
* **a memory of its own**: chains side by side start at their own point of the rests' cycle,
  and a chain may play ``warm_up_bars`` to itself before its first bar is heard.

The rules (:class:`ChainRules`) travel in the model file (``training.chain`` in its metadata,
written at export from the training bars and chosen on the validation split); a file without
them chains plainly. The chord of each bar, for a model that hears chords, is the caller's:
the progression of ``antiphon bars --chords`` or the chord a player holds.

Not thread-safe: one owner (the engine thread, or an offline command).
This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from daemon.models.chain_rules import MAX_CHAIN_CANDIDATES, ChainRules, chain_rules_of
from daemon.models.gan import GanModel
from daemon.models.gan_choice import (
    CHORD_TRACK,
    Options,
    TrackBounds,
    bound_limits,
    keep_chord_tones,
    outside,
    restrike_each,
)
from daemon.music.bar_stats import BarSummary, ratios, summarise
from daemon.music.pianoroll import RollSpec

__all__ = ["COUNT_IN_DRAWS", "MAX_CHAIN_CANDIDATES", "BarChain", "ChainRules", "TrackBounds", "chain_rules_of",
           "out_of_bounds", "track_statistics"]

COUNT_IN_DRAWS = 16  # unconditioned bars drawn to start a chain; the first with the most tracks in range starts it
COUNT_IN_ROUNDS = 8  # more draws, at most this many times, until every track has a healthy bar
START_OVER_FACTOR = 4  # a part unwell this many times its limit in a row: the chain starts over from a count-in
TONES_START_OVER = 0.8  # ... or its chord part's running share of chord tones under this share of the data's
GAP_FLOOR = 0.1  # a statistic's gap is relative to its target, or to this when the target is smaller
CHORD_TONE_WEIGHT = 1.0  # a track's share of chord tones counts as much as a statistic


def _gap(counts: np.ndarray, target: np.ndarray | float, scale: np.ndarray | float) -> np.ndarray:
    """``|num / den - target| * scale`` of counts ``(..., 2)``, 0 where ``den`` is 0."""
    num, den = counts[..., 0], counts[..., 1]
    return np.abs(num - target * den) / np.maximum(den, 1e-12) * scale


def track_statistics(bars: np.ndarray, spec: RollSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per bar and track: active cells ``(N, T)`` and pitch classes used ``(N, T)`` (0 for drums)."""
    summary = summarise(bars, spec)
    return summary.cells, summary.pitch_classes


def out_of_bounds(bars: np.ndarray, spec: RollSpec, bounds: Sequence[TrackBounds | None]) -> np.ndarray:
    """bool ``(N, T)``: the track sounds in the bar and lies outside its bounds."""
    return outside(summarise(bars, spec), bound_limits(bounds))


class BarChain:
    """``n`` chains of bars played by one GAN under :class:`ChainRules`.

    Args:
        model: the generator.
        rules: the chain's rules (None: plain chaining, each bar on the last).
        n: chains kept side by side (the evaluation runs many; the band one).
    """

    def __init__(self, model: GanModel, rules: ChainRules | None = None, n: int = 1) -> None:
        self.model = model
        self.spec = model.spec
        self.rules = None if rules is None else rules.check(self.spec)
        self.n = n
        shape = (n, *self.spec.bar_shape)
        self.last: np.ndarray | None = None  # (n, T, S, P) bool: the chain's last bar
        self.healthy = np.zeros(shape, bool)  # each track's last healthy sounding bar
        self.has_healthy = np.zeros((n, len(self.spec.tracks)), bool)
        self.full = np.zeros(shape, bool)  # the last bar in which every track sounded in range
        self.has_full = np.zeros(n, bool)
        self.silent = np.zeros((n, len(self.spec.tracks)), np.int64)  # bars in a row each track was silent
        self.strayed = np.zeros((n, len(self.spec.tracks)), bool)  # the track's last bar went out of range
        self.unwell = np.zeros((n, len(self.spec.tracks)), np.int64)  # bars in a row silent or out of range
        self.revived = 0  # tracks conditioned on their last healthy bar, counted per bar and chain
        self.started_over = 0  # chains that started over from a count-in, counted per bar and chain
        self.played = 0  # bars made by step()
        # the running statistics' counts (n, T, 6, 2), starting from a memory of typical bars
        counts = None if self.rules is None else self.rules.bar_counts
        self.running = None if counts is None else np.repeat(
            np.asarray(counts, np.float64)[None] * self.rules.memory_bars, n, axis=0)  # type: ignore[union-attr]
        # what each choice needs, once: the bounds as arrays, the statistics' targets and scales
        self._limits = bound_limits(self.rules.bounds if self.rules is not None else [None] * len(self.spec.tracks))
        self._target = ratios(np.asarray(counts)) if counts is not None else None  # (T, 6)
        self._target0 = None if self._target is None else np.nan_to_num(self._target)
        self._gap_scale = (None if self._target is None or self.rules is None else self.rules.weights() * np.where(
            np.isfinite(self._target), 1.0 / np.maximum(np.abs(np.nan_to_num(self._target)), GAP_FLOOR), 0.0))
        pitched = [t for t, track in enumerate(self.spec.tracks) if not track.drums]
        self._first_pitched = pitched[0] if pitched else -1
        self._limit = np.asarray(self.rules.revive_after if self.rules is not None else [0] * len(self.spec.tracks))
        self._decay = 1.0 - 1.0 / (self.rules.memory_bars if self.rules is not None else 1)
        names = [t.name for t in self.spec.tracks]
        steered = [] if self.rules is None else self.rules.tones(self.spec)  # [(track, (in chord, all))]
        self._tone_tracks = [t for t, _ in steered]  # the chord track first, when it is steered
        self._chord_steered = bool(steered) and CHORD_TRACK in names and steered[0][0] == names.index(CHORD_TRACK)
        self._tones_start = np.asarray([pair for _, pair in steered], np.float64).reshape(-1, 2) * (
            self.rules.memory_bars if self.rules is not None else 1)  # (Tt, 2): a memory of typical bars
        self.tones_running = np.tile(self._tones_start, (n, 1, 1)) if steered else None  # (n, Tt, 2)
        self._tones_target = np.asarray([a / b for _, (a, b) in steered]) if steered else None  # (Tt,)
        restrikes: dict[int, list[int]] = {}  # step -> the tracks whose held notes re-strike from it
        for t, steps in enumerate(self.rules.restrike_from if self.rules is not None else ()):
            for step in steps:
                restrikes.setdefault(step, []).append(t)
        self._restrike_from = sorted(restrikes.items())

    def reset(self) -> None:
        self.__init__(self.model, self.rules, self.n)  # type: ignore[misc]

    def start(self, rng: np.random.Generator, threshold: float, chord: np.ndarray | None = None) -> np.ndarray:
        """The chain's first bars ``(n, T, S, P)``: of :data:`COUNT_IN_DRAWS` unconditioned bars
        each, the first with the most tracks sounding in range; every track's last healthy bar is
        taken from the first draw where it sounds in range, so that a track the first bar lacks
        can still come in. The count-in is never played, only heard by the first bar, so it is
        drawn without a chord (a groove model asked for a bar with a chord and nothing before it
        mostly leaves its drums out). Under rules with ``warm_up_bars`` the chain then plays that
        many bars to itself over ``chord``, unheard, the last with every part, and returns it:
        chains side by side start with memories of their own, not all with a typical band's
        (whose rests would otherwise come together in the first bars of every chain)."""
        if self.running is not None and self.rules is not None and self.rules.bar_counts is not None:
            # each chain's memory at its own point of the cycle the choice keeps (a rest every dozen
            # bars or so): chains side by side would otherwise rest in the same bars
            per_bar = np.asarray(self.rules.bar_counts)[..., 1]  # (T, 6)
            self.running[..., 0] += (rng.random(self.running.shape[:-1]) - 0.5) * per_bar
        draws, good = self._count_in_draws(rng, threshold)
        bars = draws[np.arange(self.n), good.sum(axis=2).argmax(axis=1)]
        self.observe(bars)
        for _ in range(COUNT_IN_ROUNDS if self.rules is not None else 0):
            self._seed_healthy(draws, good)
            if self.has_healthy.all():
                break
            draws, good = self._count_in_draws(rng, threshold)
        if self.rules is not None:
            complete = ~self.has_full & self.has_healthy.all(axis=1)  # a whole band put together from the draws
            self.full[complete] = self.healthy[complete]
            self.has_full |= complete
        revived = self.revived
        for left in range(self.rules.warm_up_bars if self.rules is not None else 0, 0, -1):
            self.played = self.played if left > 1 else 0  # the band plays to itself, unheard; its last bar has every part
            bars = self.step(rng, threshold, chord)
        self.played, self.revived = 0, revived
        return bars

    def _count_in_draws(self, rng: np.random.Generator, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """:data:`COUNT_IN_DRAWS` unconditioned bars per chain ``(n, K, T, S, P)`` and which of
        their tracks sound in range ``(n, K, T)``."""
        draws = self.model.candidate_bars(None, rng, threshold, COUNT_IN_DRAWS, self.n, None)
        summary = summarise(draws.reshape(-1, *self.spec.bar_shape), self.spec)
        good = summary.sounding & ~outside(summary, self._limits)
        return draws, good.reshape(self.n, COUNT_IN_DRAWS, -1)

    def _seed_healthy(self, draws: np.ndarray, good: np.ndarray) -> None:
        """Each track's last healthy bar, where it has none, from the first draw where it sounds in range."""
        first = good.argmax(axis=1)  # (n, T)
        found = good.any(axis=1)
        for t in range(len(self.spec.tracks)):
            take = found[:, t] & ~self.has_healthy[:, t]
            self.healthy[take, t] = draws[np.arange(self.n), first[:, t], t][take]
            self.has_healthy[:, t] |= found[:, t]

    def _start_over(self, rng: np.random.Generator, threshold: float) -> None:
        """Chains with a part still unwell after :data:`START_OVER_FACTOR` times its limit (not even
        the band's last full bar brought it back: that bar, too, asks for a stray note), or whose
        chord part has drifted off its chords (:data:`TONES_START_OVER`: thick voicings whose
        stray tones are as strong as the chord's feed on themselves), start over from a count-in
        of their own, as :meth:`start` draws one."""
        if self.rules is None or self.last is None:
            return
        lost = ((self._limit > 0) & (self.unwell >= START_OVER_FACTOR * self._limit)).any(axis=1)
        if self.tones_running is not None and self._tones_target is not None and self._chord_steered:
            running = self.tones_running[:, 0]  # (n, 2): a chord part stuck off its chords
            lost |= running[:, 0] < TONES_START_OVER * self._tones_target[0] * running[:, 1]
        lost = np.flatnonzero(lost)
        if not len(lost):
            return
        draws = self.model.candidate_bars(None, rng, threshold, COUNT_IN_DRAWS, len(lost), None)
        summary = summarise(draws.reshape(-1, *self.spec.bar_shape), self.spec)
        good = (summary.sounding & ~outside(summary, self._limits)).reshape(len(lost), COUNT_IN_DRAWS, -1)
        pick = good.sum(axis=2).argmax(axis=1)
        bars, fine = draws[np.arange(len(lost)), pick], good[np.arange(len(lost)), pick]  # (m, T, S, P), (m, T)
        self.last = self.last.copy()
        self.last[lost] = bars
        self.healthy[lost] = np.where(fine[:, :, None, None], bars, self.healthy[lost])
        self.full[lost[fine.all(axis=1)]] = bars[fine.all(axis=1)]
        self.silent[lost], self.unwell[lost], self.strayed[lost] = 0, 0, False
        if self.tones_running is not None:
            self.tones_running[lost] = self._tones_start
        self.started_over += len(lost)

    def condition(self, heard: np.ndarray | None = None) -> np.ndarray | None:
        """The bars the next bars are conditioned on, ``(n, T, S, P)``, or None (unconditioned).

        ``heard`` (bool ``(n, T, S, P)``, e.g. what a player played) stands in for the chain's
        last bar in every track it sounds in. Then each track silent for its ``revive_after``
        bars, or whose last bar went out of range, takes its last healthy bar.
        """
        base = self.last
        if heard is not None:
            heard = np.asarray(heard, bool)
            if base is None:
                base = heard
            else:
                played = heard.any(axis=(2, 3))  # (n, T)
                base = np.where(played[:, :, None, None], heard, base)
        if base is None or self.rules is None:
            return base
        limit = np.asarray(self.rules.revive_after)  # (T,)
        quiet = ~base.any(axis=(2, 3))  # (n, T)
        revive = self.has_healthy & ((quiet & (limit > 0) & (self.silent >= limit)) | (self.strayed & ~quiet))
        stuck = self.has_full & ((limit > 0) & (self.unwell >= 2 * limit)).any(axis=1)  # (n,)
        whole = np.repeat(stuck[:, None], len(self.spec.tracks), axis=1)  # (n, T) tracks the full bar replaces
        if heard is not None:
            played = heard.any(axis=(2, 3))
            revive &= ~played  # what the player plays is heard as played
            whole &= ~played
        if not revive.any() and not whole.any():
            return base
        self.revived += int(revive.sum()) + int(stuck.sum())
        out = np.where(revive[:, :, None, None], self.healthy, base)
        return np.where(whole[:, :, None, None], self.full, out)

    def step(self, rng: np.random.Generator, threshold: float, chord: np.ndarray | None = None,
             heard: np.ndarray | None = None) -> np.ndarray:
        """The next bar of each chain, bool ``(n, T, S, P)``; ``chord`` ``(n, 13)`` or ``(1, 13)``
        for a model that hears chords."""
        self._start_over(rng, threshold)
        bars, summary = self._draw(self.condition(heard), rng, threshold, chord)
        self.observe(bars, summary, chord)
        self.played += 1
        return bars

    def draw(self, previous: np.ndarray | None, rng: np.random.Generator, threshold: float,
             chord: np.ndarray | None = None) -> np.ndarray:
        """The bar each chain would play next on ``previous`` (``(n, T, S, P)``, or None), chosen as
        :meth:`step` chooses, without taking it as played (a bar made again over a new chord)."""
        return self._draw(previous, rng, threshold, chord)[0]

    def _draw(self, previous: np.ndarray | None, rng: np.random.Generator, threshold: float,
              chord: np.ndarray | None) -> tuple[np.ndarray, BarSummary | None]:
        """:meth:`draw`, and the chosen bars' summary when the rules steer (else None)."""
        k = 1 if self.rules is None else self.rules.candidates
        draws = self.model.candidate_bars(previous, rng, threshold, k, self.n, chord)  # (n, K, T, S, P)
        if chord is not None and self.rules is not None and self.rules.chord_tone_share > 0:
            draws = keep_chord_tones(draws, np.asarray(chord), self.spec, self.rules.chord_tone_share)
        if k == 1 or self.rules is None:
            return draws[:, 0], None
        options = Options.of(summarise(draws.reshape(-1, *self.spec.bar_shape), self.spec), self.n, k, self._limits)
        if self.running is not None:  # a part that played may also sit this bar out: the first draw without it
            resting = (self.silent > 0) | (self.played == 0)  # (n, T); no rest in the band's first bar
            options = options.with_rests(resting, self._first_pitched)
        tones = None if chord is None else np.asarray(chord).reshape(-1, np.shape(chord)[-1])
        pick = self._scores(options, tones).argmin(axis=1)  # (n,) among the draws as drawn, and rests
        draw, rest = np.where(pick < k, pick, 0), pick - k  # a rest is the first draw without its part (rest >= 0)
        picked = draws[np.arange(self.n), draw]  # (n, T, S, P)
        forms = np.stack([picked, *restrike_each(picked, self._restrike_from, self.spec)], axis=1)  # (n, F, ...)
        chosen = (options.take(draw) if forms.shape[1] == 1 else Options.of(
            summarise(forms.reshape(-1, *self.spec.bar_shape), self.spec), self.n, forms.shape[1], self._limits)
        ).silenced(rest, self._first_pitched)  # the chosen draw as drawn and re-struck from each step
        form = self._scores(chosen, tones).argmin(axis=1) if forms.shape[1] > 1 else np.zeros(self.n, int)
        bars = forms[np.arange(self.n), form]
        bars[rest >= 0, rest[rest >= 0]] = False
        return bars, chosen.take(form).summary

    def _scores(self, options: Options, chord: np.ndarray | None = None) -> np.ndarray:
        """``(n, K)``: tracks out of range (a part silent for its limit must come back: a draw that
        leaves it silent counts as out of range) x 1000, plus the style gap."""
        due = ((self._limit > 0) & (self.silent >= self._limit)) | (self.played == 0)  # (n, T): the first bar has all
        score = (options.misses + (~options.sounding & due[:, None, :]).sum(axis=2)).astype(np.float64)
        if self.running is not None:  # among the fewest out of range, the one nearest in style
            score = score * 1e3 + self._style_gaps(options.counts)
            tones = self._chord_tone_counts(options.chroma, chord)  # (n, K, Tt, 2)
            if tones is not None and self.tones_running is not None and self._tones_target is not None:
                score += CHORD_TONE_WEIGHT * _gap(self.tones_running[:, None] * self._decay + tones,
                                                  self._tones_target, 1.0 / self._tones_target).sum(axis=-1)
        return score

    def _chord_tone_counts(self, chroma: np.ndarray, chord: np.ndarray | None) -> np.ndarray | None:
        """``(n, ..., Tt, 2)``: each steered track's steps in its bar's chord and all its steps, from
        ``chroma`` ``(n, ..., T, 12)``; None without a chord (``(n or 1, 13)``, flag set)."""
        if chord is None or not self._tone_tracks or not (chord[:, -1] > 0).all():
            return None
        steps = chroma[..., self._tone_tracks, :]  # (n, ..., Tt, 12)
        tones = (chord[:, :12] > 0).reshape(len(chord), *([1] * (steps.ndim - 2)), 12)
        return np.stack([(steps * tones).sum(axis=-1), steps.sum(axis=-1)], axis=-1)

    def _style_gaps(self, candidate_counts: np.ndarray) -> np.ndarray:
        """``(n, K)``: how far each candidate would leave the running statistics from the training
        bars' (summed relative gaps over every track's statistics)."""
        assert self.running is not None and self._target is not None
        return _gap(self.running[:, None] * self._decay + candidate_counts, self._target0, self._gap_scale).sum(axis=(2, 3))

    def observe(self, bars: np.ndarray, summary: BarSummary | None = None, chord: np.ndarray | None = None) -> None:
        """Take ``bars`` (bool ``(n, T, S, P)``) as the chains' last bars (``summary``: theirs, when
        the caller has it; ``chord``: the chord they were played over)."""
        bars = np.asarray(bars, bool)
        if summary is None:
            summary = summarise(bars, self.spec)
        sounding = summary.sounding  # (n, T)
        bad = outside(summary, self._limits)
        good = sounding & ~bad
        self.healthy[good] = bars[good]  # (m, S, P): the tracks that sounded in range
        self.has_healthy |= good
        whole = good.all(axis=1)
        self.full[whole] = bars[whole]
        self.has_full |= whole
        self.silent = np.where(sounding, 0, self.silent + 1)
        self.unwell = np.where(good, 0, self.unwell + 1)
        self.strayed = bad
        self.last = bars
        if self.running is not None and self.rules is not None:
            self.running *= self._decay
            self.running += summary.counts
            tones = self._chord_tone_counts(summary.chroma, None if chord is None else np.asarray(chord).reshape(-1, 13))
            if tones is not None and self.tones_running is not None:
                self.tones_running = self.tones_running * (1.0 - 1.0 / self.rules.memory_bars) + tones
