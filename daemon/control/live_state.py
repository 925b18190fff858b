"""The live parameters' current values: a small, thread-safe holder.

:class:`LiveState` starts from the defaults in :data:`daemon.control.params.PARAMS` (and any overrides,
e.g. from a preset), applies :class:`~daemon.control.events.SetParam` events, checks the relations
between parameters that :func:`daemon.control.params.validate` cannot see alone (``pitch_low`` <=
``pitch_high``), and gives the status a musician asks for.

Who writes it: the OSC server thread applies a ``/antiphon/set`` change *and* enqueues the event
for the engine under one lock (:meth:`LiveState.apply` with ``publish``), so a status reply right
after a change already shows it, and the engine sees the events in the order they were applied.
The engine applies what comes from MIDI CCs (:func:`daemon.control.cc_map.apply_control_change`) itself.
The engine does not apply queued ``SetParam`` events again: they tell it what changed.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from daemon.control.events import SetParam
from daemon.control.params import PARAMS, ParamRangeError, defaults, to_edge, validate


class LiveState:
    """Current value of every live parameter (internal form).

    Thread-safety: every method may be called from any thread; one lock guards the values.

    Args:
        overrides: edge values to start from instead of the defaults (validated; e.g. from a
            preset), by parameter name.

    Raises:
        ParamError: an override with an unknown name or a bad value, or a ``pitch_low`` above
            ``pitch_high``.
    """

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        values = defaults()
        for name, value in (overrides or {}).items():
            values[name] = validate(name, value)
        _check_relations(values)
        self._values = values
        self._lock = threading.Lock()
        self.changes = 0  # SetParam events applied

    def get(self, name: str) -> Any:
        """The internal value of parameter ``name`` (KeyError for an unknown name)."""
        with self._lock:
            return self._values[name]

    def snapshot(self) -> dict[str, Any]:
        """Every parameter's internal value, in table order (a copy)."""
        with self._lock:
            return dict(self._values)

    def status(self) -> dict[str, Any]:
        """Every parameter's edge value (channels 1-16, key names), in table order."""
        return {name: to_edge(name, value) for name, value in self.snapshot().items()}

    def apply(self, event: SetParam, publish: Callable[[SetParam], None] | None = None) -> None:
        """Apply ``event``; with ``publish``, call it first, under the lock, and apply only if it returns.

        Args:
            event: the change (its value already validated, internal form).
            publish: e.g. :meth:`daemon.control.events.ControlQueue.put`; if it raises, the state is
                left as it was and the exception propagates.

        Raises:
            ParamRangeError: the change would break a relation (``pitch_low`` above ``pitch_high``).
        """
        with self._lock:
            trial = dict(self._values)
            trial[event.name] = event.value
            _check_relations(trial)
            if publish is not None:
                publish(event)
            self._values = trial
            self.changes += 1

    def reset(self, overrides: Mapping[str, Any] | None = None) -> None:
        """Start over from the defaults and ``overrides`` (edge values), all at once (a preset switch).

        Raises:
            ParamError: as the constructor; the state is left as it was.
        """
        values = defaults()
        for name, value in (overrides or {}).items():
            values[name] = validate(name, value)
        _check_relations(values)
        with self._lock:
            self._values = values
            self.changes += 1

    def set(self, name: str, value: Any, publish: Callable[[SetParam], None] | None = None) -> SetParam:
        """Validate edge ``value``, apply it (see :meth:`apply`) and return the event."""
        event = SetParam.from_edge(name, value)
        self.apply(event, publish)
        return event


def _check_relations(values: Mapping[str, Any]) -> None:
    if values["pitch_low"] > values["pitch_high"]:
        raise ParamRangeError(
            f"pitch_low {values['pitch_low']} would be above pitch_high {values['pitch_high']}; "
            "move pitch_high up first (or pitch_low down)")


assert {p.name for p in PARAMS} >= {"pitch_low", "pitch_high"}  # the relations above need them

__all__ = ["LiveState"]
