"""Accompaniment: the GAN plays one bar ahead, each bar conditioned on the bar just played.

The engine thread tells an :class:`Accompanist` every note it hears (positions in ticks of the
daemon's pulse grid, 24 per beat) and, shortly before each bar line (:data:`LEAD_S`), asks it
for the *next* bar: the notes heard since the current bar began are laid out as a pianoroll
bar (:func:`daemon.music.bar_features.assign_tracks`, the training roll's conventions), and the
band's chain (:class:`daemon.models.gan_chain.BarChain`) samples one bar conditioned on it: the
parts the player plays as heard, the parts the player leaves out on the band's own last bar,
kept alive and in range by the rules the model file carries. With nothing heard the band goes
on from its own bars. Before its first bar the chain draws a count-in of its own, so the band
comes in with every part.

**Chords.** For a model that hears chords (its file has a ``chord`` input) the bar is made over
the chord the player holds (:func:`daemon.music.harmony.recognise` on the pitched notes sounding,
or struck in the last beat). A bar is made :data:`LEAD_S` before its bar line, so a player who
changes chord on the downbeat is heard after the bar was made: when the chord heard changes
inside a bar the band is playing, :meth:`Accompanist.revoice` makes that bar's bass and chords
again over the new chord (its drums stay), and the engine swaps the rest of the bar: what the
band sounds that the new bar does not is closed, and the new bar's notes sounding at that
moment start at once. The band follows a chord change within a few milliseconds.

Generation is one onnxruntime call per bar (milliseconds), so it runs in the engine loop.

If the model's bars are in another meter than the daemon's, each generated bar still starts on
the daemon's bar line and is cut at the next one.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from daemon.live.heard_bars import HeardBars
from daemon.models.gan import GanModel
from daemon.models.gan_chain import BarChain, chain_rules_of
from daemon.music.grid import DRUM_CHANNEL, MIDI_CLOCK_PPQN, Grid
from daemon.music.harmony import Chord, chord_vector, recognise
from daemon.music.notes import Note

log = logging.getLogger(__name__)

LEAD_S = 0.150  # a bar is sampled this long before its bar line: one ORT call, with room for a busy CPU
MIN_THRESHOLD, MAX_THRESHOLD = 0.001, 0.999  # the binarisation threshold stays inside (0, 1)
DENSITY_THRESHOLD_SPAN = 0.5  # live density 0..1 moves the threshold by +0.25..-0.25
STRUCK_WINDOW_TICKS = MIDI_CLOCK_PPQN  # notes struck within a beat of each other make one chord
CHORD_MEMORY_TICKS = 4 * MIDI_CLOCK_PPQN  # a chord released up to a bar ago is still the chord heard


def threshold_for(base: float, live_density: float) -> float:
    """The binarisation threshold for a preset's ``base`` and the live density (0-1, 0.5 = as set)."""
    return float(min(MAX_THRESHOLD, max(MIN_THRESHOLD, base - (live_density - 0.5) * DENSITY_THRESHOLD_SPAN)))


@dataclass
class BarMade:
    """A bar the band made, kept while it plays so it can be re-voiced.

    Attributes:
        index: the bar's index on the daemon's grid.
        start_tick: its bar line (pulse grid).
        condition: what it was conditioned on, ``(1, T, S, P)`` or None.
        chord: the chord it was made over (None: none).
        notes: its notes as planned (absolute pulse-grid positions).
    """

    index: int
    start_tick: int
    condition: np.ndarray | None
    chord: Chord | None
    notes: list[Note]


class Accompanist(HeardBars):
    """Heard notes, and one GAN bar at a time.

    Not thread-safe: the engine thread is its only caller.

    Args:
        model: the GAN generator.
    """

    lead_s = LEAD_S

    def __init__(self, model: GanModel) -> None:
        super().__init__(model)
        self.chain = BarChain(model, chain_rules_of(model))
        self.playing: BarMade | None = None  # the last bar made (playing now, or next)
        self._last_chord: Chord | None = None

    @property
    def _band(self) -> np.ndarray | None:
        """The band's last bar, ``(1, T, S, P)`` bool, or None before its first."""
        return self.chain.last

    def reset(self) -> None:
        """Forget what was heard, the band's bars and where the next bar is (a clock jump, a mode switch)."""
        super().reset()
        self.chain.reset()
        self.playing = None
        self._last_chord = None

    def chord_at(self, tick: float) -> Chord | None:
        """The chord the player holds at ``tick``: the pitched notes sounding then, else the last
        chord struck (the notes begun within a beat of the latest, if it sounded in the last bar);
        None when they make no chord (:func:`recognise`)."""
        pitched = [h for h in self._heard if h.channel != DRUM_CHANNEL and h.start <= tick]
        chord = recognise({h.pitch for h in pitched if h.end is None or h.end > tick})
        if chord is not None:
            return chord
        recent = [h for h in pitched if h.end is None or h.end > tick - CHORD_MEMORY_TICKS]
        if not recent:
            return None
        latest = max(h.start for h in recent)
        return recognise({h.pitch for h in recent if h.start >= latest - STRUCK_WINDOW_TICKS})

    def make_bar(self, now_tick: float, grid: Grid, rng: np.random.Generator, threshold: float,
                 channels: Sequence[int]) -> tuple[int, list[Note]]:
        """Sample the next bar, conditioned on what was heard since the current bar began.

        Args:
            now_tick: pulse-grid position now (notes heard up to here condition the bar).
            grid: the daemon's meter.
            rng: noise and binarisation source.
            threshold: binarisation threshold (0-1).
            channels: MIDI channel of each of the model's tracks; tracks beyond the list keep
                the model's own channel.

        Returns:
            The bar index made and its notes on the pulse grid (absolute), on their channels.
        """
        bar = grid.ticks_per_bar
        index = self.next_bar if self.next_bar is not None else int(now_tick // bar) + 1
        self.next_bar = index + 1  # a bar that fails is skipped, not retried
        start_tick = index * bar
        window_start = start_tick - bar
        heard = self._condition(window_start, min(now_tick, start_tick))
        chord = self._chord(now_tick) if self.model.hears_chords else None
        vector = None if chord is None else chord_vector([chord])
        if self.chain.last is None:  # the band comes in as if it had been playing
            self.chain.start(rng, threshold, vector)
        condition = self.chain.condition(heard)
        made = self.chain.step(rng, threshold, vector, heard)
        notes = self._notes(made, start_tick, grid, channels)
        self.playing = BarMade(index, start_tick, condition, chord, notes)
        self.bars_made += 1
        self._forget_before(window_start)
        return index, notes

    def revoice(self, now_tick: float, grid: Grid, rng: np.random.Generator, threshold: float,
                channels: Sequence[int]) -> tuple[int, list[Note], list[Note]] | None:
        """When the chord heard at ``now_tick`` differs from the one the bar playing was made over:
        that bar's pitched tracks made again over the new chord, from the same conditioning.

        Returns:
            None when nothing changes; else ``(index, old, new)``: the bar's index, its pitched
            notes as planned before, and the new bar's pitched notes that end after ``now_tick``
            (a note sounding at ``now_tick`` starts there).
        """
        playing = self.playing
        if not self.model.hears_chords or playing is None:
            return None
        bar = grid.ticks_per_bar
        if not playing.start_tick <= now_tick < playing.start_tick + bar:
            return None
        chord = self._chord(now_tick)
        if chord is None or chord == playing.chord:
            return None
        made = self.chain.draw(playing.condition, rng, threshold, chord_vector([chord]))  # (1, T, S, P)
        drums = [t for t, track in enumerate(self.spec.tracks) if track.drums]
        made[:, drums] = self.chain.last[:, drums] if self.chain.last is not None else made[:, drums]
        self.chain.observe(made)  # the next bar hears what the band plays now
        notes = self._notes(made, playing.start_tick, grid, channels)
        drum_channels = self.drum_channels(channels)
        old = [n for n in playing.notes if n.channel not in drum_channels]
        kept = [n for n in playing.notes if n.channel in drum_channels]
        new = []
        for n in notes:
            if n.channel in drum_channels or n.start + n.duration <= now_tick:
                continue
            start = max(n.start, int(np.ceil(now_tick)))
            if start < n.start + n.duration:
                new.append(Note(start, n.pitch, n.start + n.duration - start, n.velocity, n.channel))
        self.playing = BarMade(playing.index, playing.start_tick, playing.condition, chord, kept + new)
        self.revoiced += 1
        return playing.index, old, new

    def _chord(self, tick: float) -> Chord | None:
        chord = self.chord_at(tick)
        if chord is not None:
            self._last_chord = chord
        return chord if chord is not None else self._last_chord

    def condition_with_band(self, heard: np.ndarray | None) -> np.ndarray | None:
        """The bar the next bar is conditioned on: ``heard`` (``(1, T, S, P)`` bool, or None when
        nothing was heard) in the tracks it sounds in, the band's own last bar in the others
        (:meth:`daemon.models.gan_chain.BarChain.condition`, with the chain's rules)."""
        return self.chain.condition(heard)
