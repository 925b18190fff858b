"""Control events, and the bounded queue that carries them to the engine.

The OSC server thread (and, later, anything else that steers the daemon) validates what it
receives, turns it into one of these frozen events and puts it on a :class:`ControlQueue`; the
engine thread takes them off and acts. An event is already valid when it exists: each checks
itself on construction, so the engine never has to.

* :class:`SetParam` -- a live parameter changed (internal value, see :mod:`daemon.control.params`).
* :class:`Trigger` -- ``generate`` (answer now), ``panic`` (silence everything),
  ``reset`` (forget the phrase heard so far and the model's state; parameters stay),
  ``forget`` (clear the session memory, :mod:`daemon.models.session_memory`).
* :class:`SwitchPreset` -- load another preset by plain name.
* :class:`StatusRequest` -- someone asked for the state; the OSC thread has already answered
  with every parameter, the engine may add lines of its own or ignore it.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from daemon.control.params import show, spec, validate
from daemon.errors import AntiphonError, PresetError

CONTROL_QUEUE_SIZE = 256  # events held before new ones are refused (a few seconds of knob sweeps)
TRIGGERS = ("generate", "panic", "reset", "forget")
PRESET_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # no dots, no slashes: never a path


class ControlError(AntiphonError, ValueError):
    """A control event that cannot exist (an unknown trigger)."""


class ControlQueueFullError(AntiphonError):
    """The engine has not taken its control events for a while and the queue is full."""


@dataclass(frozen=True)
class SetParam:
    """Set live parameter ``name`` to ``value``.

    Attributes:
        name: a parameter in :data:`daemon.control.params.PARAMS`.
        value: its *internal* value (channels 0-15, key pitch class or None); build one from a
            musician's value with :meth:`from_edge`.
    """

    name: str
    value: Any

    def __post_init__(self) -> None:
        spec(self.name)  # raises UnknownParamError with a suggestion

    @classmethod
    def from_edge(cls, name: str, value: Any) -> SetParam:
        """Validate an edge value (see :func:`daemon.control.params.validate`) and wrap it.

        Raises:
            ParamError: unknown name, wrong type or out of range.
        """
        return cls(name, validate(name, value))


@dataclass(frozen=True)
class Trigger:
    """A one-shot command: one of :data:`TRIGGERS`.

    Attributes:
        name: ``generate``, ``panic``, ``reset`` or ``forget``.
    """

    name: str

    def __post_init__(self) -> None:
        if self.name not in TRIGGERS:
            raise ControlError(f"unknown trigger {show(self.name)}; triggers are: {', '.join(TRIGGERS)}")


@dataclass(frozen=True)
class SwitchPreset:
    """Load the preset called ``name``.

    Attributes:
        name: a plain name matching :data:`PRESET_NAME_RE` (letters, digits, ``_``, ``-``;
            1-64 characters), so it can never name a file outside the preset folders.
    """

    name: str

    def __post_init__(self) -> None:
        check_preset_name(self.name)


@dataclass(frozen=True)
class StatusRequest:
    """Someone asked for the daemon's state."""


ControlEvent = SetParam | Trigger | SwitchPreset | StatusRequest


def check_preset_name(name: Any) -> str:
    """``name`` if it is a plain preset name, else :class:`~daemon.errors.PresetError`."""
    if not isinstance(name, str) or not PRESET_NAME_RE.fullmatch(name):
        raise PresetError(f"preset name {show(name)} is not allowed: use 1-64 letters, digits, '_' or '-' "
                          "(no folders, no dots, no '.toml'), e.g. 'bach'")
    return name


class ControlQueue:
    """A bounded queue of :data:`ControlEvent`, many producers, one consumer (the engine).

    Thread-safety: :meth:`put` may be called from any thread and never blocks; :meth:`get`
    and :meth:`drain` are for the one consumer.

    Args:
        maxsize: events held before :meth:`put` refuses new ones.
        wake: called after every event enqueued, to wake the consumer at once (the engine passes
            :meth:`daemon.io.midi.InputQueue.wake`, so it waits on one queue for MIDI and control).
    """

    def __init__(self, maxsize: int = CONTROL_QUEUE_SIZE, wake: Callable[[], None] | None = None) -> None:
        self._queue: queue.Queue[ControlEvent] = queue.Queue(maxsize)
        self._lock = threading.Lock()
        self._wake = wake
        self.refused = 0  # events refused because the queue was full

    def put(self, event: ControlEvent) -> None:
        """Enqueue ``event`` at once.

        Raises:
            ControlQueueFullError: the queue is full (the event is counted in ``refused``).
        """
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._lock:
                self.refused += 1
            raise ControlQueueFullError(
                f"the engine is busy ({self._queue.maxsize} control events waiting); "
                "send changes more slowly and try again") from None
        if self._wake is not None:
            self._wake()

    def set_wake(self, wake: Callable[[], None] | None) -> None:
        """Set the function called after every event enqueued (see the class)."""
        self._wake = wake

    def get(self, timeout_s: float) -> ControlEvent | None:
        """The oldest event, waiting up to ``timeout_s`` seconds; None if none came."""
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def drain(self) -> list[ControlEvent]:
        """Every event waiting now, oldest first, without waiting."""
        events: list[ControlEvent] = []
        while True:
            try:
                events.append(self._queue.get_nowait())
            except queue.Empty:
                return events

    def qsize(self) -> int:
        """Approximate number of events waiting."""
        return self._queue.qsize()


__all__ = [
    "CONTROL_QUEUE_SIZE",
    "PRESET_NAME_RE",
    "TRIGGERS",
    "ControlError",
    "ControlEvent",
    "ControlQueue",
    "ControlQueueFullError",
    "SetParam",
    "StatusRequest",
    "SwitchPreset",
    "Trigger",
    "check_preset_name",
]
