"""A JACK client of our own that hears the server go away, and reads JACK's port list cheaply.

python-rtmidi hides its JACK clients and registers no shutdown callback, so a daemon built on it
alone cannot tell that ``jackd`` died: its ports keep "sending" into a ring buffer nobody reads,
and their port lists, read from JACK's shared memory, keep showing the ports of the dead server.
Opening a fresh rtmidi client to ask costs ~80 ms, activates a client in the graph every time,
and is unsafe after the server died (see below). So :class:`JackWatch` opens one plain client
through ``ctypes`` on the very libjack python-rtmidi loaded, never activates it (it takes no
part in the process cycle), and registers ``jack_on_info_shutdown``: libjack calls it from its
own thread within milliseconds of the server going away, SIGKILL included. Port lookups
(:meth:`JackWatch.has_port`) read the shared port table: about a microsecond, nothing allocated.

libjack (jack2) keeps one context per process for all its clients. After the server went away,
the next client opened while old ones are still allocated makes libjack free those old clients
under python-rtmidi's feet (closing one later crashed the process in our tests), or reuse the
dead server's tables. Whoever reconnects must therefore close *every* client of the old server
first (ports and watcher), and only then open a new one.

:func:`route_library_messages` hands libjack's own messages ("Cannot read socket fd = 11",
"JackSocketClientChannel read fail") to this module's logger at DEBUG level instead of stderr,
from whatever thread libjack prints them.

Thread-safety: a :class:`JackWatch` is for one thread (the daemon's main thread); only its
shutdown flag is written by libjack's thread. This module must not import torch, ``training``
or ``export``.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import logging
import os
import re
import threading

from daemon.errors import PortError

log = logging.getLogger(__name__)

JACK_NO_START_SERVER = 0x01  # jack_options_t JackNoStartServer: never start a server to watch
JACK_PORT_IS_INPUT = 0x1  # JackPortFlags
JACK_PORT_IS_OUTPUT = 0x2
JACK_MIDI_TYPE = b"8 bit raw midi"  # JACK_DEFAULT_MIDI_TYPE
JACK_CLIENT_NAME_MAX = 63  # jack_client_name_size() - 1 on jack2

_PrintFunction = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
_InfoShutdown = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

# libjack.so.0 (the system's) or libjack-<hash>.so.0 (bundled in python-rtmidi's wheel); not libjackserver
_LIBJACK_FILE = re.compile(r"libjack(-[0-9a-f]+)?\.so")

_lock = threading.Lock()
_preferred: str | None = None  # a libjack chosen by the MIDI backend (JACK-Client's), else python-rtmidi's
_library: ctypes.CDLL | None = None
_library_looked_up = False
_routed = False


def prefer_library(path: str) -> None:
    """Watch through this libjack (the one the MIDI backend uses: one libjack per process, or two
    contexts fight over the server). Before the first :func:`library` call only."""
    global _preferred
    with _lock:
        if _library_looked_up and _preferred != path:
            log.debug("libjack already chosen; %s not used for watching", path)
            return
        _preferred = path


def _library_path() -> str | None:
    """Where the libjack python-rtmidi uses lives: the one mapped into this process, else the system's
    (or the one :func:`prefer_library` chose)."""
    if _preferred is not None:
        return _preferred
    import rtmidi  # noqa: F401  (loads python-rtmidi's libjack, so that /proc/self/maps shows it)

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rsplit(None, 1)[-1]
                if _LIBJACK_FILE.match(os.path.basename(path)):
                    return path
    except OSError:
        pass
    return ctypes.util.find_library("jack")


def library() -> ctypes.CDLL | None:
    """The libjack python-rtmidi talks to, with the functions used here typed; None where there is none."""
    global _library, _library_looked_up
    with _lock:
        if _library_looked_up:
            return _library
        _library_looked_up = True
        path = _library_path()
        if path is None:
            return None
        try:
            lib = ctypes.CDLL(path)
            lib.jack_client_open.restype = ctypes.c_void_p
            lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
            lib.jack_client_close.restype = ctypes.c_int
            lib.jack_client_close.argtypes = [ctypes.c_void_p]
            lib.jack_on_info_shutdown.restype = None
            lib.jack_on_info_shutdown.argtypes = [ctypes.c_void_p, _InfoShutdown, ctypes.c_void_p]
            lib.jack_port_by_name.restype = ctypes.c_void_p
            lib.jack_port_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            lib.jack_get_ports.restype = ctypes.POINTER(ctypes.c_char_p)
            lib.jack_get_ports.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong]
            lib.jack_free.restype = None
            lib.jack_free.argtypes = [ctypes.c_void_p]
            lib.jack_set_error_function.restype = None
            lib.jack_set_error_function.argtypes = [_PrintFunction]
            lib.jack_set_info_function.restype = None
            lib.jack_set_info_function.argtypes = [_PrintFunction]
        except (OSError, AttributeError) as exc:
            log.debug("cannot use libjack at %s: %s", path, exc)
            return None
        _library = lib
        return lib


@_PrintFunction
def _library_message(text: bytes | None) -> None:
    log.debug("MIDI library: %s", (text or b"").decode(errors="replace"))


def route_library_messages() -> bool:
    """Send libjack's messages to the DEBUG log from now on (any thread); True if that is in place."""
    global _routed
    lib = library()
    if lib is None:
        return False
    with _lock:
        if not _routed:
            lib.jack_set_error_function(_library_message)
            lib.jack_set_info_function(_library_message)
            _routed = True
            atexit.register(restore_library_messages)  # no call into Python once the interpreter ends
    return True


def library_messages_routed() -> bool:
    """Whether :func:`route_library_messages` is in place."""
    return _routed


def restore_library_messages() -> None:
    """Let libjack print to stderr again (its default)."""
    global _routed
    with _lock:
        if _routed and _library is not None:
            _library.jack_set_error_function(_PrintFunction())  # NULL: libjack's default printer
            _library.jack_set_info_function(_PrintFunction())
        _routed = False


class JackWatch:
    """One inactive JACK client: :attr:`gone` turns True when the server goes away.

    Args:
        client_name: its JACK client name (JACK appends ``-01`` if taken; cut to JACK's limit).

    Raises:
        PortError: no JACK server answers, or no libjack could be loaded.
    """

    def __init__(self, client_name: str) -> None:
        lib = library()
        if lib is None:
            raise PortError("cannot watch the JACK server: libjack could not be loaded")
        route_library_messages()
        self._lib = lib
        self._gone = threading.Event()
        self._reason = ""
        status = ctypes.c_int(0)
        client = lib.jack_client_open(client_name[:JACK_CLIENT_NAME_MAX].encode(errors="replace"),
                                      JACK_NO_START_SERVER, ctypes.byref(status))
        if not client:
            raise PortError(f"no JACK server answers (status 0x{status.value:x})")
        self._client: int | None = client
        self._on_shutdown = _InfoShutdown(self._shutdown)  # kept: libjack holds only the pointer
        lib.jack_on_info_shutdown(client, self._on_shutdown, None)

    def _shutdown(self, code: int, reason: bytes | None, arg: int | None) -> None:
        """libjack's thread: the server went away (or threw this client out)."""
        self._reason = (reason or b"").decode(errors="replace")
        self._gone.set()

    @property
    def gone(self) -> bool:
        """True once the server went away; the client is then dead and only :meth:`close` is left."""
        return self._gone.is_set()

    @property
    def reason(self) -> str:
        """What libjack said when the server went away ("" before)."""
        return self._reason

    def has_port(self, name: str) -> bool:
        """Whether a port with this full ``client:port`` name exists now (False once :attr:`gone`)."""
        if self._client is None or self.gone:
            return False
        return bool(self._lib.jack_port_by_name(self._client, name.encode(errors="replace")))

    def midi_ports(self, outputs: bool) -> tuple[str, ...]:
        """Full names of the MIDI ports that send (``outputs``) or receive, as python-rtmidi lists them."""
        if self._client is None or self.gone:
            return ()
        flags = JACK_PORT_IS_OUTPUT if outputs else JACK_PORT_IS_INPUT
        found = self._lib.jack_get_ports(self._client, None, JACK_MIDI_TYPE, flags)
        if not found:
            return ()
        names = []
        try:
            index = 0
            while found[index] is not None:
                names.append(found[index].decode(errors="replace"))
                index += 1
        finally:
            self._lib.jack_free(ctypes.cast(found, ctypes.c_void_p))
        return tuple(names)

    def close(self) -> None:
        """Close the client (quick even when the server is gone); safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            status = self._lib.jack_client_close(client)
            log.debug("JACK watch client closed (status %d)", status)
