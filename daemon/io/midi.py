"""MIDI ports: open them through mido's rtmidi backend, and stamp what comes in.

Two ways to get ports, on a chosen MIDI API (``alsa``, ``jack``, ``jack-rtmidi``, ``coremidi``,
``windows``, or ``auto``). ``jack`` is Antiphon's own JACK client (:mod:`daemon.io.jack_midi`:
input stamped with its frame, output written at its frame); every other API, ``jack-rtmidi``
(JACK through rtmidi, stamped on arrival and sent when the scheduler wakes) among them, goes
through mido's rtmidi backend:

* virtual ports that Antiphon owns ("Antiphon In" / "Antiphon Out", client "Antiphon"), on
  the APIs that have them (ALSA, JACK, CoreMIDI); the DAW connects to them;
* existing ports, chosen by a name or a unique part of one (Windows has no virtual ports:
  loopMIDI's are the usual ones there).

Whatever cannot be opened raises :class:`~daemon.errors.PortError` with what to do about it.

The input callback (thread 1 in DESIGN.md) runs on rtmidi's thread (JACK's process thread
under JACK): it only stamps the message with :func:`daemon.timebase.now_s` and puts
``(time_s, message)`` on a bounded :class:`InputQueue`; when the queue is full the message is
dropped and counted, never waited for. The same queue wakes the engine for control events
(:meth:`InputQueue.wake` puts :data:`WAKE`), so the engine waits on one queue for both.

Noticing, while the daemon runs, that the MIDI system or a named port went away, and opening
the ports again, is :mod:`daemon.io.port_watch`'s job (:class:`PortLister` and
:mod:`daemon.io.jack_watch` give it cheap looks at the port lists).

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import mido
from mido.ports import BaseInput, BaseOutput

from daemon.errors import PortError
from daemon.io import jack_watch
from daemon.timebase import Clock, now_s

log = logging.getLogger(__name__)

PortT = TypeVar("PortT", BaseInput, BaseOutput)

# Our API names (user-facing) -> mido's rtmidi API names.
API_NAMES: dict[str, str] = {
    "alsa": "LINUX_ALSA",
    "jack": "UNIX_JACK",  # listing only: ports open through daemon.io.jack_midi
    "jack-rtmidi": "UNIX_JACK",
    "coremidi": "MACOSX_CORE",
    "windows": "WINDOWS_MM",
}
AUTO_API = "auto"
NATIVE_JACK = "jack"  # Antiphon's own JACK client (JACK-Client): frame-accurate
MIDI_API_CHOICES: tuple[str, ...] = (AUTO_API, *API_NAMES)
VIRTUAL_APIS = frozenset({"alsa", "jack", "jack-rtmidi", "coremidi"})  # APIs that can create virtual ports
JACK_APIS = frozenset({"jack", "jack-rtmidi"})


def is_jack(api: str) -> bool:
    """Whether ``api`` talks to a JACK server (natively or through rtmidi)."""
    return api in JACK_APIS

DEFAULT_CLIENT_NAME = "Antiphon"
VIRTUAL_IN_NAME = "Antiphon In"
VIRTUAL_OUT_NAME = "Antiphon Out"

# Messages the input queue holds before it drops: at a dense 50 messages/s this is 20 s of
# playing that the engine has not read, i.e. the engine is stuck, not busy.
INPUT_QUEUE_SIZE = 1024

ALSA_SEQ_DEVICE = "/dev/snd/seq"
JACK_START_HINT = "jackd --no-realtime -d dummy -r 48000 -p 64 &"
RTMIDI_BACKEND = "mido.backends.rtmidi"

WAKE = mido.Message("reset")
"""Put by :meth:`InputQueue.wake` to wake the consumer; compare with ``is`` (a real System Reset
message from a port is another object)."""


class InputQueue:
    """A bounded queue of ``(time_s, message)`` pairs, filled by MIDI input callbacks.

    Thread-safety: :meth:`put` may be called from any number of callback threads at once;
    :meth:`get` is for one consumer (the engine thread). ``dropped`` is written only by
    :meth:`put`; read it for reporting.

    Args:
        maxsize: messages held before new ones are dropped.
        clock: the time source for stamps, in seconds (the daemon's :func:`now_s`).
    """

    def __init__(self, maxsize: int = INPUT_QUEUE_SIZE, clock: Clock = now_s) -> None:
        self._queue: queue.Queue[tuple[float, mido.Message]] = queue.Queue(maxsize)
        self._clock = clock
        self._overflow_lock = threading.Lock()
        self.dropped = 0

    def put(self, msg: mido.Message) -> None:
        """Stamp ``msg`` with the clock and enqueue it; drop and count it if the queue is full.

        This is the port callback: it must return at once and never block.
        """
        stamped = (self._clock(), msg)
        try:
            self._queue.put_nowait(stamped)
        except queue.Full:
            with self._overflow_lock:
                self.dropped += 1

    def put_at(self, time_s: float, msg: mido.Message) -> None:
        """Enqueue ``msg`` stamped ``time_s`` (a backend that knows when it arrived: JACK's frame
        time); drop and count it if the queue is full. Never blocks."""
        try:
            self._queue.put_nowait((time_s, msg))
        except queue.Full:
            with self._overflow_lock:
                self.dropped += 1

    def wake(self) -> None:
        """Wake the consumer now (it reads :data:`WAKE`); a full queue needs no wake-up."""
        try:
            self._queue.put_nowait((self._clock(), WAKE))
        except queue.Full:
            pass

    def get(self, timeout_s: float) -> tuple[float, mido.Message] | None:
        """Return the oldest ``(time_s, message)``, waiting up to ``timeout_s`` seconds, or None."""
        try:
            return self._queue.get(timeout=max(0.0, timeout_s))
        except queue.Empty:
            return None

    def get_nowait(self) -> tuple[float, mido.Message] | None:
        """Return the oldest ``(time_s, message)`` if there is one, else None, without waiting."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def qsize(self) -> int:
        """Approximate number of messages waiting."""
        return self._queue.qsize()


@dataclass(frozen=True)
class PortNames:
    """Port names one API shows.

    Attributes:
        api: our API name (``jack``, ``alsa``...).
        inputs: ports Antiphon can read from (pass one to ``--in``).
        outputs: ports Antiphon can send to (pass one to ``--out``).
    """

    api: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# APIs
# --------------------------------------------------------------------------------------------


def compiled_apis() -> tuple[str, ...]:
    """Our names of the rtmidi APIs this python-rtmidi build has, in rtmidi's order."""
    names = mido.Backend(RTMIDI_BACKEND).module.get_api_names()
    return tuple(ours for n in names for ours, theirs in API_NAMES.items() if theirs == n)


def _backend(api: str) -> mido.Backend:
    if api not in API_NAMES:
        raise PortError(f"unknown MIDI API {api!r}; choose one of {', '.join(MIDI_API_CHOICES)}")
    if api not in compiled_apis():
        raise PortError(
            f"this python-rtmidi has no {api} support (it has: {', '.join(compiled_apis()) or 'none'}); "
            "choose another --midi-api"
        )
    if is_jack(api):
        jack_watch.route_library_messages()  # libjack's own lines go to the DEBUG log, from any thread
    return mido.Backend(f"{RTMIDI_BACKEND}/{API_NAMES[api]}")


def jack_server_running() -> bool:
    """True if a JACK server answers (the one ``JACK_DEFAULT_SERVER`` names, if set).

    It opens (and activates) a JACK client and closes it: ~80 ms on a running server, a few ms
    without one. Not for polling (:class:`daemon.io.jack_watch.JackWatch` is), and never while
    clients of a server that went away are still open (see :mod:`daemon.io.jack_watch`).
    """
    if "jack-rtmidi" not in compiled_apis():
        return False
    try:
        with _c_stderr_to_debug_log("jack-rtmidi"):
            _backend("jack-rtmidi").get_output_names()
    except OSError:
        return False
    return True


def resolve_api(api: str) -> str:
    """Turn ``auto`` into the API to use here; check that a named one is compiled in.

    ``auto`` is CoreMIDI on macOS, Windows MM on Windows, and on Linux ALSA when the ALSA
    sequencer exists, else JACK when a JACK server is running (Antiphon's own JACK client where
    JACK-Client loads, else JACK through rtmidi).

    Raises:
        PortError: no usable API, with how to get one.
    """
    if api == NATIVE_JACK:
        from daemon.io import jack_midi

        if not jack_midi.available():
            jack_midi._jack()  # raises PortError with the install hint
        jack_watch.prefer_library(jack_midi.library_path())  # one libjack in the process
        return api
    if api != AUTO_API:
        _backend(api)
        return api
    if sys.platform == "darwin":
        return "coremidi"
    if sys.platform == "win32":
        return "windows"
    if os.path.exists(ALSA_SEQ_DEVICE) and "alsa" in compiled_apis():
        return "alsa"
    from daemon.io import jack_midi

    if jack_midi.available():
        if jack_midi.server_running():
            return resolve_api(NATIVE_JACK)
    elif jack_server_running():
        return "jack-rtmidi"
    raise PortError(
        f"no MIDI system to use: there is no ALSA sequencer ({ALSA_SEQ_DEVICE} is missing) and no JACK "
        f"server is running. Start JACK (`{JACK_START_HINT}`) and pass --midi-api jack"
    )


def unavailable_hint(api: str) -> str:
    """What to do when ``api``'s MIDI system cannot be used (the end of a :class:`PortError` message)."""
    if api == "alsa" and not os.path.exists(ALSA_SEQ_DEVICE):
        return (
            f"there is no ALSA sequencer here ({ALSA_SEQ_DEVICE} is missing: no sound card, or the snd-seq "
            f"module is not loaded). Start JACK instead (`{JACK_START_HINT}`) and pass --midi-api jack"
        )
    if is_jack(api):
        server = os.environ.get("JACK_DEFAULT_SERVER")
        named = f" (server name {server!r} from JACK_DEFAULT_SERVER)" if server else ""
        return f"no JACK server is running{named}. Start one (`{JACK_START_HINT}`) and try again"
    return "check that the MIDI system is running and that you may use it"


# --------------------------------------------------------------------------------------------
# Listing and finding ports
# --------------------------------------------------------------------------------------------


def list_ports(api: str) -> PortNames:
    """List the ports that ``api`` shows right now.

    Raises:
        PortError: the API is not compiled in or its MIDI system is not running.
    """
    api = resolve_api(api)
    if api == NATIVE_JACK:
        from daemon.io.jack_midi import midi_port_names

        with _c_stderr_to_debug_log(api):
            inputs, outputs = midi_port_names()
        return PortNames(api, inputs, outputs)
    backend = _backend(api)
    try:
        with _c_stderr_to_debug_log(api):
            inputs = tuple(backend.get_input_names())
            outputs = tuple(backend.get_output_names())
    except OSError as exc:
        raise PortError(f"cannot use {api} MIDI ({exc}): {unavailable_hint(api)}") from None
    return PortNames(api, inputs, outputs)


class PortLister:
    """Lists one API's ports again and again through one pair of clients held open.

    For watching named ports on ALSA, CoreMIDI and Windows MM while the daemon runs:
    :func:`list_ports` makes (and announces) two fresh MIDI clients every time. Not for JACK,
    where a client's port list outlives the server (use :class:`daemon.io.jack_watch.JackWatch`).
    Nothing here catches C libraries' stderr (threads are running).

    Args:
        api: a resolved API name (not ``auto``).
        client_name: the MIDI client name of the listing clients.

    Raises:
        PortError: the API is not compiled in or its MIDI system is not running.
    """

    def __init__(self, api: str, client_name: str) -> None:
        import rtmidi  # python-rtmidi, under mido's backend

        _backend(api)  # the API is compiled in
        rtapi = getattr(rtmidi, f"API_{API_NAMES[api]}")
        self.api = api
        try:
            self._in = rtmidi.MidiIn(rtapi=rtapi, name=client_name)
            self._out = rtmidi.MidiOut(rtapi=rtapi, name=client_name)
        except (OSError, RuntimeError) as exc:  # rtmidi's errors derive from these
            raise PortError(f"cannot use {api} MIDI ({exc}): {unavailable_hint(api)}") from None

    def names(self) -> PortNames:
        """The ports there are now."""
        return PortNames(self.api, tuple(self._in.get_ports()), tuple(self._out.get_ports()))

    def close(self) -> None:
        """Let the listing clients go."""
        self._in.delete()
        self._out.delete()


def find_port(candidates: Sequence[str], wanted: str, direction: str) -> str:
    """Pick the one port whose name is ``wanted`` or contains it (case-insensitive).

    Args:
        candidates: the port names there are.
        wanted: a full name or a unique part of one.
        direction: ``input`` or ``output``, for the message.

    Raises:
        PortError: no port or several ports match; the message lists the candidates.
    """
    if wanted in candidates:
        if candidates.count(wanted) > 1:
            log.warning("%d MIDI %s ports are called %r; Antiphon uses the first one the system lists (rename one "
                        "to choose)", candidates.count(wanted), direction, wanted)
        return wanted
    matches = [name for name in candidates if wanted.lower() in name.lower()]
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(repr(n) for n in candidates) or "none"
    if not matches:
        raise PortError(f"no MIDI {direction} port matches {wanted!r}; the {direction} ports are: {listing}")
    raise PortError(
        f"{wanted!r} matches several MIDI {direction} ports ({', '.join(repr(n) for n in matches)}); "
        "give more of the name"
    )


def jack_full_name(short_name: str, client_name: str, candidates: Sequence[str]) -> str:
    """The ``client:port`` name JACK gave a virtual port, if one candidate fits, else ``short_name``.

    JACK renames a second client of the same name ``Antiphon-01``, so the client part is
    matched as a prefix.
    """
    fits = [n for n in candidates if n.endswith(f":{short_name}") and n.startswith(client_name)]
    return fits[0] if len(fits) == 1 else short_name


# --------------------------------------------------------------------------------------------
# Opening ports
# --------------------------------------------------------------------------------------------


def open_input(
    api: str, sink: InputQueue, name: str | None = None, client_name: str = DEFAULT_CLIENT_NAME
) -> BaseInput:
    """Open a MIDI input whose callback stamps every message into ``sink``.

    Args:
        api: one of :data:`MIDI_API_CHOICES`.
        sink: the queue the callback fills.
        name: an existing port (a full name or a unique part of one); None opens the virtual
            port :data:`VIRTUAL_IN_NAME`.
        client_name: the MIDI client name of a virtual port.

    Raises:
        PortError: the port cannot be opened, with what to do.
    """
    api = resolve_api(api)
    if api == NATIVE_JACK:
        from daemon.io.jack_midi import open_jack_input

        source = None if name is None else find_port(list_ports(api).inputs, name, "input")
        return _open(api, "input", lambda: open_jack_input(sink, VIRTUAL_IN_NAME, source, client_name))  # type: ignore[return-value]
    backend = _backend(api)
    if name is None:
        _check_virtual(api, "--in")
        return _open(api, "input", lambda: backend.open_input(
            VIRTUAL_IN_NAME, virtual=True, client_name=client_name, callback=sink.put))
    port_name = find_port(list_ports(api).inputs, name, "input")
    return _open(api, "input", lambda: backend.open_input(port_name, callback=sink.put))


def open_output(api: str, name: str | None = None, client_name: str = DEFAULT_CLIENT_NAME) -> BaseOutput:
    """Open a MIDI output: an existing port by (part of) its name, or the virtual :data:`VIRTUAL_OUT_NAME`.

    Raises:
        PortError: the port cannot be opened, with what to do.
    """
    api = resolve_api(api)
    if api == NATIVE_JACK:
        from daemon.io.jack_midi import open_jack_output

        destination = None if name is None else find_port(list_ports(api).outputs, name, "output")
        return _open(api, "output", lambda: open_jack_output(VIRTUAL_OUT_NAME, destination, client_name))  # type: ignore[return-value]
    backend = _backend(api)
    if name is None:
        _check_virtual(api, "--out")
        return _open(api, "output", lambda: backend.open_output(
            VIRTUAL_OUT_NAME, virtual=True, client_name=client_name))
    port_name = find_port(list_ports(api).outputs, name, "output")
    return _open(api, "output", lambda: backend.open_output(port_name))


def _check_virtual(api: str, option: str) -> None:
    if api == "windows":
        raise PortError(
            "Windows has no virtual MIDI ports. Create two ports in loopMIDI (e.g. 'Antiphon In' and "
            "'Antiphon Out'), connect your DAW to them, and pass --in 'Antiphon In' --out 'Antiphon Out'"
        )
    if api not in VIRTUAL_APIS:
        raise PortError(f"the {api} MIDI API has no virtual ports; pass an existing port with {option} NAME")


def _open(api: str, direction: str, opener: Callable[[], PortT]) -> PortT:
    try:
        with _c_stderr_to_debug_log(api):
            return opener()
    except (OSError, ValueError) as exc:
        raise PortError(f"cannot open the {api} MIDI {direction} ({exc}): {unavailable_hint(api)}") from None


@contextlib.contextmanager
def _c_stderr_to_debug_log(api: str) -> Iterator[None]:
    """Catch what C libraries (libjack, alsa-lib) print on file descriptor 2 and log it at DEBUG.

    Their lines ("Cannot connect to server socket...") would otherwise land between our
    clear error messages. libjack's are routed to the log by :mod:`daemon.io.jack_watch`
    where that worked, and then nothing is caught here; otherwise this catches everything on
    descriptor 2 for a moment, other threads' log lines included, so it is for opening or
    listing ports before threads start (and for reopening them after a loss).
    """
    if is_jack(api) and jack_watch.library_messages_routed():
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                log.debug("MIDI library: %s", line)
