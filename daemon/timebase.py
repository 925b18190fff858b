"""The daemon's one clock.

Every live time in the daemon -- when a message arrived, when the scheduler must send one --
is a reading of :func:`now_s`, in seconds, with an arbitrary origin. It is
:func:`time.perf_counter`: monotonic (never jumps with the wall clock) and the finest clock
on every platform (``time.monotonic`` ticks every ~15.6 ms on Windows before Python 3.13; on
Linux both read ``CLOCK_MONOTONIC``). Never mix it with ``time.time()`` or ``time.monotonic()``.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]
"""A function returning the current time in seconds (the scheduler's tests pass a fake)."""


def now_s() -> float:
    """Return the daemon's current time in seconds (monotonic, arbitrary origin)."""
    return time.perf_counter()
