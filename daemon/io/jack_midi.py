"""MIDI through Antiphon's own JACK client: input stamped with its frame, output written at its frame.

With ``--midi-api jack`` (the JACK-Client package, cffi over libjack) Antiphon is one JACK client
with a MIDI input and a MIDI output port. JACK hands MIDI over once a period (a few ms) with each
event's frame offset inside the period; rtmidi throws those offsets away and Python threads add
their own jitter, so an rtmidi note lands anywhere inside the period after the thread woke.
Here the frame is the clock:

* **the clock**: the daemon's clock is JACK's frame counter in seconds (:class:`FrameClock`,
  installed as :func:`daemon.timebase.now_s`), so a time in the daemon *is* a frame;
* **input**: the process callback stamps each event with its frame (``last_frame_time +
  offset``) and puts it on the :class:`~daemon.io.midi.InputQueue` without waiting (MIDI clock
  pulses too, so the clock follows the DAW by the frames its pulses were written at);
* **output**: the scheduler hands each message over ahead of time, up to :attr:`lookahead_s`
  before it is due (:meth:`JackMidiOutput.send_at`), as a ``(frame, bytes)`` pair in a small
  sorted list; the process callback writes each at its offset in the period it falls in. A
  message handed over late goes out at the start of the next period.

The process callback never blocks on another thread: the list is changed and read by single
operations that hold only the interpreter lock, and nothing in the callback waits. A period-size
change needs nothing (everything is in frames); xruns are counted.

Opening: :func:`open_jack_input` / :func:`open_jack_output` share one client per client name;
closing both closes it. A port named with ``--in``/``--out`` is connected to our own port (its
name is the port's, so :mod:`daemon.io.port_watch` watches it as before).

Thread-safety: open and close from one thread (the main thread); :meth:`JackMidiOutput.send_at`
and :meth:`~JackMidiOutput.send` from any thread. This module must not import torch,
``training`` or ``export``; JACK-Client is imported when a port is opened.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import mido

from daemon.errors import PortError

log = logging.getLogger(__name__)

LOOKAHEAD_PERIODS = 3  # messages go to the JACK client this many periods before they are due...
MIN_LOOKAHEAD_S = 0.040  # ...and at least this long before (a busy machine wakes Python threads late)
FRAME_WRAP = 1 << 32  # jack_nframes_t wraps (every 24.8 h at 48 kHz)
AHEAD_PERIODS = 2  # the clock runs at most this far past the last cycle's start (see FrameClock)
REANCHOR_FRAMES = 1 << 28  # the clock's reference frame moves on after this many frames (93 min at 48 kHz)
DRAIN_POLL_S = 0.002  # how often drain() looks whether the process callback has written everything
INSTALL_HINT = "pip install JACK-Client (and the JACK library: apt-get install libjack-jackd2-0)"


def _jack() -> Any:
    """The ``jack`` module (JACK-Client), or PortError saying how to get it."""
    try:
        import jack
    except (ImportError, OSError) as exc:
        raise PortError(f"the JACK MIDI backend needs JACK-Client and libjack ({exc}); {INSTALL_HINT}") from None
    return jack


def library_path() -> str:
    """The libjack JACK-Client loaded (a name ``dlopen`` finds, or a path)."""
    return str(_jack()._libname)


def server_running() -> bool:
    """Whether a JACK server answers (opens and closes a plain client, never starts a server)."""
    jack = _jack()
    try:
        client = jack.Client("Antiphon probe", no_start_server=True)
    except jack.JackError:
        return False
    client.close()
    return True


def available() -> bool:
    """Whether JACK-Client and libjack can be loaded here."""
    try:
        _jack()
    except PortError:
        return False
    return True


def _signed_frames(delta: int) -> int:
    """A frame difference taken modulo the 32-bit wrap, as a signed number."""
    delta %= FRAME_WRAP
    return delta - FRAME_WRAP if delta >= FRAME_WRAP // 2 else delta


class FrameClock:
    """The daemon's clock while Antiphon's own JACK client runs: the client's frame time, in seconds.

    ``now()`` reads JACK's estimate of the current frame (``jack_frame_time``); the process
    callback turns a frame into seconds with :meth:`seconds_of` and a due time into a frame with
    :meth:`frame_of`, from the same reference, so a note due at a pulse's time is written at that
    pulse's frame. Readings never go backwards (JACK's estimate may, after a stalled cycle). With
    no client (before the first, while the server is away) it runs on :func:`time.perf_counter`,
    carried on from the last reading, and a new client (a restarted server counts from frame 0)
    continues from there.

    Thread-safety: any thread may read; :meth:`attach` and :meth:`detach` are for the thread that
    opens and closes clients.
    """

    def __init__(self) -> None:
        self._client: Any = None
        self._samplerate = 48000
        self._ref_frame = 0  # a raw frame (32 bits) and the seconds it stands for
        self._ref_s = 0.0
        self._perf_offset_s = 0.0  # without a client: perf_counter() + this
        self._last_s = float("-inf")
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now()

    def now(self) -> float:
        client = self._client
        value = (time.perf_counter() + self._perf_offset_s if client is None
                 else self.seconds_of(self._current_frame(client)))
        with self._lock:
            if value < self._last_s:
                return self._last_s
            self._last_s = value
            return value

    def estimate(self) -> float:
        """JACK's own estimate of the frame now, in the clock's seconds, neither capped nor kept from
        going back: the reading to tie another clock to (an Ableton Link session's host clock), as
        JACK ties its frames to the system's time. Without a client, :meth:`now`."""
        client = self._client
        return self.now() if client is None else self.seconds_of(int(client.frame_time))

    @staticmethod
    def _current_frame(client: Any) -> int:
        """JACK's estimate of the frame now, at most :data:`AHEAD_PERIODS` periods past the start of
        the last cycle: while the graph stalls (a client joining, a busy machine) JACK's estimate
        runs on with the wall clock, then falls back when the cycles resume; the frames themselves
        wait, and so does this clock, so a pulse stamped after the stall is not a second "late"."""
        last = int(client.last_frame_time)
        ahead = _signed_frames(int(client.frame_time) - last)
        return (last + min(max(ahead, 0), AHEAD_PERIODS * int(client.blocksize))) % FRAME_WRAP

    def attach(self, client: Any) -> None:
        """Follow ``client``'s frames from now on, carrying on from the clock's current reading."""
        now = self.now()
        frame = self._current_frame(client)
        with self._lock:
            self._samplerate = int(client.samplerate)
            self._ref_frame, self._ref_s = frame, now
            self._client = client

    def detach(self, client: Any) -> None:
        """``client`` is closing or its server went away: carry on by the system's clock."""
        if self._client is not client:
            return
        now = self.now()
        with self._lock:
            self._client = None
            self._perf_offset_s = now - time.perf_counter()

    def seconds_of(self, frame: int) -> float:
        """The clock's reading at a raw (32-bit) frame time near now."""
        delta = _signed_frames(frame - self._ref_frame)
        if abs(delta) >= REANCHOR_FRAMES:
            with self._lock:
                self._ref_s += delta / self._samplerate
                self._ref_frame = frame % FRAME_WRAP
            delta = 0
        return self._ref_s + delta / self._samplerate

    def frame_of(self, time_s: float) -> int:
        """The raw frame at which the clock reads ``time_s`` (near now)."""
        return (self._ref_frame + round((time_s - self._ref_s) * self._samplerate)) % FRAME_WRAP


CLOCK = FrameClock()
"""The one frame clock: :func:`daemon.timebase.use_clock` installs it for ``--midi-api jack``."""


class JackMidiClient:
    """One JACK client with up to one MIDI input and one MIDI output port (see the module docstring).

    Args:
        client_name: the JACK client's name ("Antiphon").

    Raises:
        PortError: JACK-Client is missing or no JACK server answers.
    """

    _open: ClassVar[dict[str, JackMidiClient]] = {}

    def __init__(self, client_name: str) -> None:
        jack = _jack()
        try:
            self.client = jack.Client(client_name, no_start_server=True)
        except jack.JackError as exc:
            raise PortError(f"cannot open the JACK client {client_name!r} ({exc}): is a JACK server running?") from None
        self.name = client_name
        self.in_port: Any = None
        self.out_port: Any = None
        self.sink: Any = None
        self._pending: list[tuple[int, int, bytes]] = []  # (frame, seq, bytes), sorted
        self.cycles = 0  # process cycles run (drain waits for one after the last write)
        self._seq = itertools.count()
        self.xruns = 0
        self.unreadable = 0  # input events that were not MIDI messages mido reads
        self.write_errors = 0
        self.late_writes = 0  # handed over after their period had begun
        self.shut_down = threading.Event()
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.set_shutdown_callback(self._shutdown)
        self.client.activate()
        self.samplerate = int(self.client.samplerate)
        CLOCK.attach(self.client)

    # ------------------------------------------------------------------ registry

    @classmethod
    def shared(cls, client_name: str) -> JackMidiClient:
        """The open client of that name, or a new one."""
        client = cls._open.get(client_name)
        if client is None or client.shut_down.is_set():
            client = cls(client_name)
            cls._open[client_name] = client
        return client

    def release_port(self, port: Any) -> None:
        """Unregister one of our ports; close the client when it has none left."""
        try:
            if port is not None:
                port.unregister()
        except Exception as exc:  # noqa: BLE001 (a dead server's client refuses anything; closing goes on)
            log.debug("unregistering %s: %s", getattr(port, "name", port), exc)
        if port is self.in_port:
            self.in_port, self.sink = None, None
        if port is self.out_port:
            self.out_port = None
            self._pending.clear()
        if self.in_port is None and self.out_port is None:
            self.close()

    def close(self) -> None:
        if JackMidiClient._open.get(self.name) is self:
            del JackMidiClient._open[self.name]
        CLOCK.detach(self.client)
        try:
            self.client.deactivate()
            self.client.close()
        except Exception as exc:  # noqa: BLE001 (as above)
            log.debug("closing the JACK client: %s", exc)

    # ------------------------------------------------------------------ time

    def frames_to_s(self, frame: int) -> float:
        """A raw frame time as the daemon's clock reads (seconds)."""
        return CLOCK.seconds_of(frame)

    def s_to_frames(self, time_s: float) -> int:
        """The raw frame time at which the daemon's clock reads ``time_s``."""
        return CLOCK.frame_of(time_s)

    @property
    def period_s(self) -> float:
        return self.client.blocksize / self.samplerate

    # ------------------------------------------------------------------ output

    def queue(self, frame: int, data: bytes) -> None:
        """Hand one message to the process callback, to be written at ``frame``."""
        bisect.insort(self._pending, (frame % FRAME_WRAP, next(self._seq), data))

    def discard(self) -> list[bytes]:
        """Drop every message handed over and not yet written; returns them."""
        taken, self._pending[:] = list(self._pending), []
        return [data for _, _, data in taken]

    # ------------------------------------------------------------------ JACK's threads

    def _process(self, frames: int) -> None:
        self.cycles += 1
        cycle = self.client.last_frame_time
        sink = self.sink
        if self.in_port is not None and sink is not None:
            for offset, data in self.in_port.incoming_midi_events():
                try:
                    msg = mido.Message.from_bytes(bytes(data))
                except (ValueError, TypeError):
                    self.unreadable += 1
                    continue
                sink.put_at(self.frames_to_s(cycle + offset), msg)
        port = self.out_port
        if port is None:
            return
        port.clear_buffer()
        pending = self._pending
        last = 0
        while pending:
            try:
                item = pending.pop(0)  # one operation: the scheduler may insert meanwhile
            except IndexError:
                break
            frame, _, data = item
            offset = _signed_frames(frame - cycle)
            if offset >= frames:
                bisect.insort(pending, item)  # not this period's: back in its place
                break
            if offset < 0:
                self.late_writes += 1
            offset = min(frames - 1, max(last, offset))
            try:
                port.write_midi_event(offset, data)
            except Exception:  # noqa: BLE001 (a full buffer: counted, the callback goes on)
                self.write_errors += 1
                continue
            last = offset

    def _xrun(self, delay_usecs: float) -> None:
        self.xruns += 1

    def _shutdown(self, status: Any, reason: str) -> None:
        CLOCK.detach(self.client)
        self.shut_down.set()


class _JackPort:
    """One of our client's ports; closing it unregisters it (and closes the client with its last port)."""

    _client: JackMidiClient
    _port: Any
    closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._client.release_port(self._port)


class JackMidiInput(_JackPort):
    """Our JACK MIDI input port; every message goes to ``sink`` stamped with its frame's time.

    Attributes:
        name: the port it reads from (ours, "Antiphon:Antiphon In", or the one named with ``--in``).
    """

    def __init__(self, client: JackMidiClient, sink: Any, port_name: str, source: str | None) -> None:
        if client.in_port is not None:
            raise PortError(f"the JACK client {client.name!r} already has a MIDI input")
        self._client = client
        self._port = client.client.midi_inports.register(port_name)
        self.name = source if source is not None else self._port.name
        client.sink, client.in_port = sink, self._port
        if source is not None:
            _connect(client, source, self._port.name)


class JackMidiOutput(_JackPort):
    """Our JACK MIDI output port, written at the frame each message is due.

    Attributes:
        name: the port it sends to (ours, "Antiphon:Antiphon Out", or the one named with ``--out``).
        lookahead_s: how long before a message is due the scheduler may hand it over.
    """

    def __init__(self, client: JackMidiClient, port_name: str, destination: str | None) -> None:
        if client.out_port is not None:
            raise PortError(f"the JACK client {client.name!r} already has a MIDI output")
        self._client = client
        self._port = client.client.midi_outports.register(port_name)
        self.name = destination if destination is not None else self._port.name
        client.out_port = self._port
        if destination is not None:
            _connect(client, self._port.name, destination)

    @property
    def lookahead_s(self) -> float:
        return max(MIN_LOOKAHEAD_S, LOOKAHEAD_PERIODS * self._client.period_s)

    @property
    def client(self) -> JackMidiClient:
        return self._client

    def send_at(self, time_s: float, msg: mido.Message) -> None:
        """Write ``msg`` at the frame the daemon's clock reads ``time_s`` (a past time: at once)."""
        self._client.queue(self._client.s_to_frames(time_s), bytes(msg.bytes()))

    def send(self, msg: mido.Message) -> None:
        """Write ``msg`` at once (the next period's first frame)."""
        self._client.queue(self._client.client.frame_time, bytes(msg.bytes()))

    def discard(self) -> list[mido.Message]:
        """Drop what was handed over ahead and not yet written (a panic, a stop); returns it."""
        return [mido.Message.from_bytes(data) for data in self._client.discard()]

    def drain(self, timeout_s: float) -> bool:
        """Wait until every message handed over is written and one more process cycle has run (the
        last note-offs before the port closes), at most ``timeout_s``; False when time ran out or
        the server went away first."""
        client = self._client
        deadline = time.monotonic() + timeout_s
        while client._pending and time.monotonic() < deadline and not client.shut_down.is_set():
            time.sleep(DRAIN_POLL_S)
        if client._pending:
            return False
        written = client.cycles
        while client.cycles < written + 2 and time.monotonic() < deadline and not client.shut_down.is_set():
            time.sleep(DRAIN_POLL_S)
        return client.cycles >= written + 2


def _connect(client: JackMidiClient, source: str, destination: str) -> None:
    try:
        client.client.connect(source, destination)
    except Exception as exc:  # noqa: BLE001 (jack.JackError; the message is what matters)
        raise PortError(f"cannot connect {source!r} to {destination!r} ({exc})") from None


def midi_port_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ports we can read from, ports we can send to): JACK's MIDI output and input ports.

    Raises:
        PortError: no JACK server answers.
    """
    jack = _jack()
    try:
        client = jack.Client("Antiphon list", no_start_server=True)
    except jack.JackError as exc:
        raise PortError(f"cannot list JACK's ports ({exc}): is a JACK server running?") from None
    try:
        sources = tuple(p.name for p in client.get_ports(is_midi=True, is_output=True))
        sinks = tuple(p.name for p in client.get_ports(is_midi=True, is_input=True))
    finally:
        client.close()
    return sources, sinks


def open_jack_input(sink: Any, port_name: str, source: str | None, client_name: str) -> JackMidiInput:
    """Our MIDI input (connected from ``source`` when given). Raises PortError."""
    return JackMidiInput(JackMidiClient.shared(client_name), sink, port_name, source)


def open_jack_output(port_name: str, destination: str | None, client_name: str) -> JackMidiOutput:
    """Our MIDI output (connected to ``destination`` when given). Raises PortError."""
    return JackMidiOutput(JackMidiClient.shared(client_name), port_name, destination)


__all__: Sequence[str] = ("JackMidiClient", "JackMidiInput", "JackMidiOutput", "available", "midi_port_names",
                          "open_jack_input", "open_jack_output")
