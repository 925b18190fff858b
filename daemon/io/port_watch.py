"""Lost and found MIDI ports: notice that the MIDI system or a named port went away, reopen when it is back.

Two parts:

* :class:`PortWatch`, the state machine: ``connected`` -> (a check finds something gone)
  ``lost`` -> (the first reopening failed) ``retrying``, with a delay doubling from
  :data:`FIRST_RETRY_S` to :data:`MAX_RETRY_S` -> (a reopening worked) ``connected``. It owns
  no port: it asks a :class:`Link` to check, release and reopen, so it is tested with fakes.
* :class:`MidiLink`, the daemon's real link: its MIDI input and output on one API, opened,
  checked, released and reopened (both when the MIDI system went away, a named port alone when
  only it went, so the other keeps its connections); the input feeds the same
  :class:`~daemon.io.midi.InputQueue` after every reopening.

What each MIDI system lets the check see:

* JACK: the server going away (SIGKILL included), within milliseconds, through a client of our
  own (:class:`~daemon.io.jack_watch.JackWatch`), and named ports going and coming (a read of
  JACK's port table, about a microsecond, no client made per check).
* ALSA: named ports going and coming (the sequencer's port list, through one client held
  open), and the sequencer itself only as far as its device ``/dev/snd/seq`` disappearing; the
  sequencer is part of the kernel and cannot go away while our client holds it open, so in
  practice only named ports are ever lost there.
* CoreMIDI and Windows MM: named ports going and coming (the port list, through one client held
  open); the MIDI service itself cannot be watched, because python-rtmidi passes on none of its
  notifications, so a restart of macOS's MIDI server is not noticed.

The ALSA, CoreMIDI and Windows paths are written to the same rules as JACK's and tested only
with fakes here (this machine has no ALSA sequencer, macOS or Windows).

Thread-safety: both classes are for one thread (the daemon's main thread).
This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
from collections.abc import Callable
from typing import Protocol

from mido.ports import BaseInput, BaseOutput

from daemon.errors import PortError
from daemon.io import jack_watch
from daemon.io.jack_watch import JackWatch
from daemon.io.midi import (
    ALSA_SEQ_DEVICE,
    InputQueue,
    PortLister,
    PortNames,
    find_port,
    is_jack,
    open_input,
    open_output,
    unavailable_hint,
)
from daemon.timebase import Clock, now_s

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 0.5  # how often a connected link is checked: a loss is noticed within about this
FIRST_RETRY_S = 0.5  # the first reopening, this long after the loss...
MAX_RETRY_S = 5.0  # ...then twice as long after each failure, up to this
# How long closing one dead port may take before it is left behind: python-rtmidi's JACK output
# waits 1 s for its ring buffer to drain when the server has gone.
CLOSE_TIMEOUT_S = 3.0
WATCH_SUFFIX = " watch"  # the watching client's name: "<client name> watch"
INPUT, OUTPUT = "input", "output"


class WatchState(enum.Enum):
    """Where a :class:`PortWatch` is."""

    CONNECTED = "connected"
    LOST = "lost"  # something went away; the first reopening is still to come
    RETRYING = "retrying"  # reopening failed at least once; retried with a growing delay


class Link(Protocol):
    """What :class:`PortWatch` drives: the ports it watches."""

    def check(self) -> str | None:
        """None while everything is there, else what went away (a phrase for the log)."""

    def release(self) -> None:
        """Close what the last check found gone; never raises, never hangs."""

    def reopen(self) -> None:
        """Open everything again.

        Raises:
            PortError: not yet (what is missing).
        """

    def describe(self) -> str:
        """The ports as a musician connects them, for the log ("reading ..., sending on ...")."""


def _nothing(*args: object) -> None:
    pass


class PortWatch:
    """Checks a :class:`Link` now and then; on a loss, releases it and retries with backoff.

    Call :meth:`poll` often (the daemon's main thread does, every fraction of a second); it
    checks or retries only when one is due, so a poll in between costs a clock reading.

    Args:
        link: the ports.
        clock: time source, seconds (tests pass a hand-advanced one).
        check_interval_s: seconds between checks while connected.
        first_retry_s: seconds from the loss to the first reopening.
        max_retry_s: the longest wait between reopenings (the wait doubles up to it).
        on_lost: called with the sentence logged (what went away, how it retries), *before* the
            link is released (so whoever sends on the old ports lets go of them first).
        on_found: called with the seconds since the loss, after a reopening worked.
    """

    def __init__(self, link: Link, clock: Clock = now_s, check_interval_s: float = CHECK_INTERVAL_S,
                 first_retry_s: float = FIRST_RETRY_S, max_retry_s: float = MAX_RETRY_S,
                 on_lost: Callable[[str], None] = _nothing, on_found: Callable[[float], None] = _nothing) -> None:
        self._link = link
        self._clock = clock
        self._check_interval_s = check_interval_s
        self._first_retry_s = first_retry_s
        self._max_retry_s = max_retry_s
        self._on_lost = on_lost
        self._on_found = on_found
        self.state = WatchState.CONNECTED
        self.reason: str | None = None  # what went away, while not connected
        self.last_error: str | None = None  # why the last reopening failed
        self.losses = 0
        self.attempts = 0  # reopenings tried since the last loss
        self._lost_at_s = 0.0
        self._delay_s = first_retry_s
        self._next_s = clock() + check_interval_s

    @property
    def retry_text(self) -> str:
        """How often it retries, for a musician ("every 0.5-5 s")."""
        return f"every {self._first_retry_s:g}-{self._max_retry_s:g} s"

    def poll(self) -> WatchState:
        """Check or retry if one is due; return the state after."""
        now = self._clock()
        if now < self._next_s:
            return self.state
        if self.state is WatchState.CONNECTED:
            self._next_s = now + self._check_interval_s
            reason = self._link.check()
            if reason is not None:
                self._lose(reason, now)
        else:
            self._retry(now)
        return self.state

    def _lose(self, reason: str, now: float) -> None:
        self.state = WatchState.LOST
        self.reason = reason
        self.losses += 1
        self.attempts = 0
        self._lost_at_s = now
        self._delay_s = self._first_retry_s
        message = f"{reason}; retrying {self.retry_text} (OSC and parameters stay live)"
        log.warning("MIDI: %s", message)
        self._on_lost(message)
        self._link.release()
        self._next_s = self._clock() + self._delay_s

    def _retry(self, now: float) -> None:
        self.attempts += 1
        try:
            self._link.reopen()
        except PortError as exc:
            self.state = WatchState.RETRYING
            self.last_error = str(exc)
            self._delay_s = min(self._delay_s * 2, self._max_retry_s)
            self._next_s = self._clock() + self._delay_s
            log.debug("MIDI: reopening %d failed (%s); next in %.1f s", self.attempts, exc, self._delay_s)
            return
        after_s = now - self._lost_at_s
        self.state = WatchState.CONNECTED
        self.reason = self.last_error = None
        self._next_s = self._clock() + self._check_interval_s
        log.info("MIDI: reconnected after %.1f s (%d %s): %s", after_s, self.attempts,
                 "try" if self.attempts == 1 else "tries", self._link.describe())
        self._on_found(after_s)


class MidiLink:
    """The daemon's MIDI input and output on one API: opened, checked, released and reopened.

    When the MIDI system goes away both ports are lost; when one named port goes away (the DAW
    quit) only that one is closed and reopened, so the other keeps its connections.

    Args:
        api: a resolved API (``jack``, ``alsa``, ``coremidi``, ``windows``).
        sink: the queue the input's callback fills (the same one after every reopening).
        in_port: an existing input port to read from (a unique part of its name); None: the
            virtual port.
        out_port: the same for the output.
        client_name: the MIDI client name of the virtual ports; the JACK watcher is
            ``"<client_name> watch"``.
        close_timeout_s: how long closing one port may take before it is left behind.
    """

    def __init__(self, api: str, sink: InputQueue, in_port: str | None, out_port: str | None,
                 client_name: str, close_timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        self.api = api
        self._sink = sink
        self._in_port = in_port
        self._out_port = out_port
        self._client_name = client_name
        self._close_timeout_s = close_timeout_s
        self.input: BaseInput | None = None
        self.output: BaseOutput | None = None
        self._lost: set[str] = set()  # INPUT and/or OUTPUT: what the last check found gone
        self._system_lost = False  # the MIDI system itself went away (both ports are lost)
        self._jack: JackWatch | None = None
        self._lister: PortLister | None = None
        self._closing: list[threading.Thread] = []  # closings that outlived their timeout
        self._said_unwatched = False

    @property
    def output_lost(self) -> bool:
        """Whether the output is among what the last check found gone."""
        return OUTPUT in self._lost

    # ------------------------------------------------------------------- opening

    def open(self) -> None:
        """Open the watcher and whichever port is not open.

        Raises:
            PortError: what cannot be opened (whatever this call opened is closed again).
        """
        self._closing = [t for t in self._closing if t.is_alive()]
        if self._closing:
            raise PortError("the old MIDI ports are still closing")
        opened: dict[str, Callable[[], None]] = {}
        try:
            self._open_watch()
            if self.input is None:
                self.input = open_input(self.api, self._sink, self._in_port, self._client_name)
                opened[f"input {self.input.name!r}"] = self.input.close
            if self.output is None:
                self.output = open_output(self.api, self._out_port, self._client_name)
        except PortError:
            if opened:
                self.input = None
                self._close_quietly(opened)
            raise
        self._lost.clear()
        self._system_lost = False

    reopen = open

    def _open_watch(self) -> None:
        """Open what watches (JACK: our client; elsewhere: a port lister); PortError if a named port is missing."""
        if self._jack is not None and self._jack.gone:
            self._close_quietly({"JACK watch client": self._jack.close})
            self._jack = None
        if is_jack(self.api):
            if jack_watch.library() is None:
                if not self._said_unwatched:
                    self._said_unwatched = True
                    log.info("MIDI: libjack cannot be loaded to watch the JACK server; a restart of it will not be "
                             "noticed")
                return
            if self._jack is None:
                try:
                    self._jack = JackWatch(self._client_name + WATCH_SUFFIX)
                except PortError as exc:
                    raise PortError(f"cannot use jack MIDI ({exc}): {unavailable_hint(self.api)}") from None
            self._require_named(PortNames(self.api, self._jack.midi_ports(outputs=True),
                                          self._jack.midi_ports(outputs=False)))
            return
        if self.api == "alsa" and not os.path.exists(ALSA_SEQ_DEVICE):
            raise PortError(f"cannot use alsa MIDI: {unavailable_hint('alsa')}")
        if self._in_port or self._out_port:
            if self._lister is None:
                self._lister = PortLister(self.api, self._client_name + WATCH_SUFFIX)
            self._require_named(self._lister.names())

    def _require_named(self, seen: PortNames) -> None:
        """PortError unless every named port still to open is there (no port opened to find out)."""
        if self._in_port and self.input is None:
            find_port(seen.inputs, self._in_port, "input")
        if self._out_port and self.output is None:
            find_port(seen.outputs, self._out_port, "output")

    # ------------------------------------------------------------------- checking

    def check(self) -> str | None:
        """None while the MIDI system and the named ports are there, else what went away."""
        if self._jack is not None:
            if self._jack.gone:
                return self._lose_system("the JACK server went away")
            return self._missing_named(self._jack.has_port)
        if self.api == "alsa" and not os.path.exists(ALSA_SEQ_DEVICE):
            return self._lose_system(f"the ALSA sequencer went away ({ALSA_SEQ_DEVICE} is missing)")
        if self._lister is None:
            return None
        try:
            seen = self._lister.names()
        except (OSError, RuntimeError) as exc:
            return self._lose_system(f"the {self.api} MIDI system stopped answering ({exc})")
        return self._missing_named(lambda name: name in seen.inputs or name in seen.outputs)

    def _lose_system(self, reason: str) -> str:
        self._system_lost = True
        self._lost = {INPUT, OUTPUT}
        return reason

    def _missing_named(self, exists: Callable[[str], bool]) -> str | None:
        gone = [(which, port.name) for which, wanted, port in ((INPUT, self._in_port, self.input),
                                                               (OUTPUT, self._out_port, self.output))
                if wanted and port is not None and not exists(port.name)]
        if not gone:
            return None
        self._system_lost = False
        self._lost = {which for which, _ in gone}
        names = " and ".join(repr(name) for _, name in gone)
        return f"the port{'s' if len(gone) > 1 else ''} {names} went away"

    def describe(self) -> str:
        """``reading '<input>', sending on '<output>'`` with the names a musician connects to."""
        in_name = self.input.name if self.input is not None else "nothing"
        out_name = self.output.name if self.output is not None else "nothing"
        if is_jack(self.api) and self._jack is not None:
            in_name = self._jack_full_name(in_name, outputs=False) if not self._in_port else in_name
            out_name = self._jack_full_name(out_name, outputs=True) if not self._out_port else out_name
        return f"reading {in_name!r}, sending on {out_name!r}"

    def _jack_full_name(self, short: str, outputs: bool) -> str:
        assert self._jack is not None
        fits = [n for n in self._jack.midi_ports(outputs) if n.endswith(f":{short}")
                and n.startswith(self._client_name)]
        return fits[0] if len(fits) == 1 else short

    # ------------------------------------------------------------------- closing

    def release(self) -> None:
        """Close what the last check found gone, however dead it is (with the MIDI system: everything)."""
        closers: dict[str, Callable[[], None]] = {}
        lost = self._lost if self._lost and not self._system_lost else {INPUT, OUTPUT}
        if INPUT in lost and self.input is not None:
            closers[f"input {self.input.name!r}"] = self.input.close
            self.input = None
        if OUTPUT in lost and self.output is not None:
            closers[f"output {self.output.name!r}"] = self.output.close
            self.output = None
        self._close_quietly(closers)
        if self._jack is not None and self._jack.gone:
            # Every client of the dead server must be closed before a new one opens (jack_watch).
            watch, self._jack = self._jack, None
            self._close_quietly({"JACK watch client": watch.close})

    def close_input(self) -> None:
        """Close the input (shutdown: nothing new comes in)."""
        port, self.input = self.input, None
        if port is not None:
            self._close_quietly({f"input {port.name!r}": port.close})

    def close(self) -> None:
        """Close everything still open (shutdown, after the scheduler's last note-offs)."""
        closers: dict[str, Callable[[], None]] = {}
        for what, port in (("input", self.input), ("output", self.output)):
            if port is not None:
                closers[f"{what} {port.name!r}"] = port.close
        self.input = self.output = None
        self._close_quietly(closers)
        closers = {}
        if self._jack is not None:
            closers["JACK watch client"] = self._jack.close
        if self._lister is not None:
            closers["port lister"] = self._lister.close
        self._jack = self._lister = None
        self._close_quietly(closers)

    def _close_quietly(self, closers: dict[str, Callable[[], None]]) -> None:
        """Run the closers side by side, each on a thread of its own; wait up to the timeout, log at debug."""
        threads = []
        for what, closer in closers.items():
            thread = threading.Thread(target=_close_logged, args=(what, closer), name="antiphon-close", daemon=True)
            thread.start()
            threads.append((what, thread))
        for what, thread in threads:
            thread.join(self._close_timeout_s)
            if thread.is_alive():
                log.debug("closing the %s took over %.1f s; left behind", what, self._close_timeout_s)
                self._closing.append(thread)


def _close_logged(what: str, closer: Callable[[], None]) -> None:
    try:
        closer()
    except (OSError, RuntimeError, ValueError, MemoryError) as exc:  # python-rtmidi's errors derive from these
        log.debug("closing the %s: %s", what, exc)
    else:
        log.debug("closed the %s", what)


__all__ = [
    "CHECK_INTERVAL_S",
    "FIRST_RETRY_S",
    "MAX_RETRY_S",
    "Link",
    "MidiLink",
    "PortWatch",
    "WatchState",
]
