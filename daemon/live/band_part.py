"""The engine's band: when the next accompaniment bar is made, and a bar re-voiced on a chord change.

A part of :class:`daemon.live.engine.Engine` (a mixin: the engine is a loop over its parts); it
reads the engine's transport, live state, plan and scheduler, and never runs on its own.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from typing import Any

from daemon.live.accompany import threshold_for

log = logging.getLogger("daemon.live.engine")


class BandPart:
    """The accompaniment's share of the engine (see the module docstring)."""

    _accompanist: Any
    transport: Any
    preset: Any
    counts: Any
    _state: Any
    _plan: Any
    _scheduler: Any
    _rng: Any
    _clock: Any

    def _time_of(self, tick: float) -> float | None:
        raise NotImplementedError

    def _hand_over(self, now: float) -> None:
        raise NotImplementedError

    def _bar_deadline(self) -> float | None:
        accompanist = self._accompanist
        if accompanist is None or not self.transport.running:
            return None
        now_tick = self.transport.tick_at(self._clock())
        when = self._time_of(accompanist.due_tick(now_tick, self.transport.grid))
        return None if when is None else when - accompanist.lead_s

    def _make_bar(self, now: float) -> None:
        accompanist = self._accompanist
        assert accompanist is not None
        values = self._state.snapshot()
        threshold = threshold_for(self.preset.accompany.threshold, values["density"])
        channels = values["accompany_channels"]
        index, notes = accompanist.make_bar(self.transport.tick_at(now), self.transport.grid, self._rng,
                                            threshold, channels)
        drums = accompanist.drum_channels(channels)
        self._plan.add([n for n in notes if n.channel in drums], ("bar", index))
        self._plan.add([n for n in notes if n.channel not in drums], ("harmony", index))
        self.counts.bars += 1
        log.debug("accompaniment bar %d: %d notes", index + 1, len(notes))


    def _revoice(self, tick: float) -> None:
        """The player changed chord inside a bar the band plays: its bass and chords follow now."""
        accompanist = self._accompanist
        assert accompanist is not None
        if not accompanist.model.hears_chords or accompanist.playing is None:
            return  # nothing to follow: no state read on every note
        values = self._state.snapshot()
        threshold = threshold_for(self.preset.accompany.threshold, values["density"])
        changed = accompanist.revoice(tick, self.transport.grid, self._rng, threshold, values["accompany_channels"])
        if changed is None:
            return
        index, _, new = changed
        group = ("harmony", index)
        self._plan.remove(group)
        now = self._clock()
        self._scheduler.cancel(group, close_at=now)
        self._plan.add(new, group)
        self.counts.revoiced += 1
        log.debug("bar %d: the band follows the chord heard (%d notes)", index + 1, len(new))
        self._hand_over(now)

