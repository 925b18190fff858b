"""What the scheduler sends to: an output, the stand-in while a port is away, how far ahead one takes messages.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from typing import Protocol

import mido


class Output(Protocol):
    """What the scheduler sends to: a mido output port, or a test's recording fake.

    An output that can write a message at a given time (JACK's own client,
    :class:`daemon.io.jack_midi.JackMidiOutput`) also has ``send_at(time_s, msg)``, a
    ``lookahead_s`` (how long before its time a message may be handed over) and ``discard()``
    (drop what was handed over and not yet written, returning those messages); the scheduler
    then hands every message over ``lookahead_s`` ahead, so the thread's wake-up jitter never
    reaches the output.
    """

    def send(self, msg: mido.Message) -> None:
        """Send one message now."""


def lookahead_of(output: object) -> float:
    """How far ahead ``output`` takes messages (0: it sends when told)."""
    if not callable(getattr(output, "send_at", None)):
        return 0.0
    return max(0.0, float(getattr(output, "lookahead_s", 0.0)))


class Discard:
    """An output that drops every message: the stand-in while a port is away."""

    def send(self, msg: mido.Message) -> None:
        """Drop ``msg``."""
