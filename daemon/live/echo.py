"""Feedback protection: recognise Antiphon's own output coming back on its input.

When a DAW routes "Antiphon Out" back into "Antiphon In" (a track monitoring its input, a
loop in the patchbay), Antiphon would hear its answers as new phrases and answer itself
forever. :class:`EchoFilter` remembers every channel message the scheduler sent, for a short
window (30 ms by default: far longer than a MIDI round trip through a DAW, far shorter than
a musician repeating the same key at the same velocity), and the engine drops an incoming
message that matches one of them: same status, channel, key or controller, and value
(velocity for note-ons). A note-off matches a note-off or a note-on of velocity 0 on the same
key, whatever its release velocity. Each sent message excuses at most one echo.

Thread-safety: :meth:`EchoFilter.sent` is called from the scheduler's thread (and from
whichever thread panics), :meth:`EchoFilter.is_echo` from the engine's; one lock guards the
record.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import threading
from collections import deque

import mido

from daemon.music.grid import NOTE_OFF, NOTE_ON

DEFAULT_ECHO_WINDOW_S = 0.030  # longer than a MIDI round trip through a DAW, shorter than a repeated key
MAX_REMEMBERED = 4096  # messages remembered at most (a dense answer sends a few hundred a second)
CLOCK_SLACK_S = 0.002  # an echo stamped up to this much before its original's stamp still matches
NOTE_OFF_STATUS = 0x80  # MIDI 1.0 status nibbles
CHANNEL_STATUS_MIN = 0x80
CHANNEL_STATUS_MAX = 0xEF

EchoKey = tuple[int, ...]


def echo_key(msg: mido.Message) -> EchoKey | None:
    """What identifies ``msg`` as an echo: its bytes, a note-off as (0x80 | channel, key); None if not a channel message."""
    if msg.type in (NOTE_ON, NOTE_OFF) and (msg.type == NOTE_OFF or msg.velocity == 0):
        return (NOTE_OFF_STATUS | msg.channel, msg.note)
    data = msg.bytes()
    if not data or not CHANNEL_STATUS_MIN <= data[0] <= CHANNEL_STATUS_MAX:
        return None
    return tuple(data)


class EchoFilter:
    """Remembers what was sent for ``window_s`` seconds and recognises it coming back.

    Args:
        window_s: how long after it was sent an identical incoming message counts as its echo
            (seconds); 0 turns the filter off.
    """

    def __init__(self, window_s: float = DEFAULT_ECHO_WINDOW_S) -> None:
        self.window_s = window_s
        self._sent: deque[tuple[float, EchoKey]] = deque(maxlen=MAX_REMEMBERED)
        self._lock = threading.Lock()
        self.echoes = 0  # incoming messages recognised as echoes (written by the engine thread only)

    def sent(self, port: str, msg: mido.Message, time_s: float) -> None:
        """Remember that ``msg`` left at ``time_s`` (the scheduler's ``on_sent`` hook)."""
        if self.window_s <= 0:
            return
        key = echo_key(msg)
        if key is not None:
            with self._lock:
                self._sent.append((time_s, key))

    def is_echo(self, msg: mido.Message, time_s: float) -> bool:
        """True (and counted) when ``msg``, arriving at ``time_s``, repeats something sent within the window."""
        if self.window_s <= 0:
            return False
        key = echo_key(msg)
        if key is None:
            return False
        with self._lock:
            sent = self._sent
            while sent and sent[0][0] < time_s - self.window_s:
                sent.popleft()
            for index, (when, seen) in enumerate(sent):
                if seen == key and when <= time_s + CLOCK_SLACK_S:
                    del sent[index]
                    self.echoes += 1
                    return True
        return False
