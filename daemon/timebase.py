"""The daemon's one clock.

Every live time in the daemon -- when a message arrived, when the scheduler must send one --
is a reading of :func:`now_s`, in seconds, with an arbitrary origin. By default it is
:func:`time.perf_counter`: monotonic (never jumps with the wall clock) and the finest clock
on every platform (``time.monotonic`` ticks every ~15.6 ms on Windows before Python 3.13; on
Linux both read ``CLOCK_MONOTONIC``). Never mix it with ``time.time()`` or ``time.monotonic()``.

With Antiphon's own JACK client (``--midi-api jack``) the clock is JACK's frame clock
(:class:`daemon.io.jack_midi.FrameClock`, installed with :func:`use_clock` before anything
reads it): input is stamped with its frame, MIDI clock is followed in frames and notes are
written at the frame they are due, so nothing between JACK's frame counter and the wall clock
(a driver whose frames run unevenly against the system's time, Python's threads) can move them.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]
"""A function returning the current time in seconds (the scheduler's tests pass a fake)."""


_source: Clock = time.perf_counter


def now_s() -> float:
    """Return the daemon's current time in seconds (monotonic, arbitrary origin)."""
    return _source()


def tie_s() -> float:
    """The daemon's time now for tying another clock to it (an Ableton Link session's): the clock's
    ``estimate()`` where it has one (JACK's frame estimate, not held back while the graph stalls),
    else :func:`now_s`."""
    estimate = getattr(_source, "estimate", None)
    return float(estimate()) if estimate is not None else _source()


def use_clock(source: Clock | None) -> None:
    """Make ``source`` the daemon's clock (None: :func:`time.perf_counter` again). Call it before
    the threads start: every reading after it comes from ``source``."""
    global _source
    _source = source if source is not None else time.perf_counter
