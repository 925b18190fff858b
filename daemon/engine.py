"""The engine thread: reads stamped input and hands timed messages to the scheduler.

Thread 3 in DESIGN.md. For now the only engine is *thru*: every channel message that comes in
is scheduled out at the time it arrived, so it leaves at once and still passes through the
scheduler's ledger (every note-on it lets out gets its note-off, and shutdown closes what is
sounding). System messages (clock, sysex) are not passed on. The LSTM and GAN engines come later
and will own the onnxruntime sessions here.

A message that fails is logged and dropped; it never ends the thread.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
import threading

import mido

from daemon.midi_io import InputQueue
from daemon.scheduler import DEFAULT_PORT, Scheduler

log = logging.getLogger(__name__)

# mido's names of MIDI channel voice messages (status 0x80-0xEF): what thru passes on.
CHANNEL_MESSAGE_TYPES = frozenset({
    "note_off", "note_on", "polytouch", "control_change", "program_change", "aftertouch", "pitchwheel",
})
POLL_INTERVAL_S = 0.1  # how often an idle engine looks at its stop flag; input wakes it at once
JOIN_TIMEOUT_S = 2.0  # how long stop() waits for the thread to end


class ThruEngine:
    """Passes incoming channel messages to the scheduler, due at their arrival time.

    Thread-safety: :meth:`start` and :meth:`stop` are for the main thread; the engine thread is
    the only reader of ``inputs``.

    Args:
        inputs: the stamped input queue the MIDI callbacks fill.
        scheduler: where messages go out.
        port: the scheduler output name to send to.
    """

    def __init__(self, inputs: InputQueue, scheduler: Scheduler, port: str = DEFAULT_PORT) -> None:
        self._inputs = inputs
        self._scheduler = scheduler
        self._port = port
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passed = 0  # messages handed to the scheduler
        self.ignored = 0  # system messages not passed on

    def handle(self, time_s: float, msg: mido.Message) -> None:
        """Deal with one message stamped at ``time_s`` (clock seconds)."""
        if msg.type in CHANNEL_MESSAGE_TYPES:
            self._scheduler.schedule(time_s, msg, self._port)
            self.passed += 1
        else:
            self.ignored += 1

    def start(self) -> None:
        """Start the engine thread."""
        if self._thread is not None:
            raise RuntimeError("the engine is already started")
        self._thread = threading.Thread(target=self._run, name="antiphon-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end and wait for it; messages still queued are dropped."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
            if self._thread.is_alive():
                log.warning("the engine thread did not end within %.1f s", JOIN_TIMEOUT_S)

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._inputs.get(POLL_INTERVAL_S)
            if item is None:
                continue
            try:
                self.handle(*item)
            # DESIGN.md: a bad message is logged and dropped; it never stops the engine thread.
            except Exception:  # noqa: BLE001
                log.exception("dropped %s: the engine failed on it", item[1])
