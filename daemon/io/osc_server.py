"""OSC in and out: the server thread that steers the daemon, and the feedback it sends.

Thread 2 in DESIGN.md. :class:`OscServer` owns one thread running a python-osc
``BlockingOSCUDPServer`` (one datagram at a time, no thread per message) on 127.0.0.1 by default.
For each message it validates, turns it into a control event (:mod:`daemon.control.events`) and
enqueues it for the engine; replies go out from this thread. :class:`OscFeedback` sends
everything Antiphon says -- replies, errors, played notes, detected phrases -- to one configured
host and port (Max's ``udpreceive``, Pd's ``netreceive -u -b``); the engine and scheduler may
call it from any thread.

Address space (the tables in the README come from :func:`address_table_markdown`):

* ``/antiphon/set/<param> <value>`` -- one address per live parameter of
  :data:`daemon.control.params.PARAMS` (a separate ``set/`` branch, so a parameter can never shadow a
  command); accepted changes are echoed as ``/antiphon/state/<param> <value>``.
* ``/antiphon/generate``, ``/antiphon/panic``, ``/antiphon/reset`` -- no arguments.
* ``/antiphon/preset <name>``, ``/antiphon/learn <param>`` (``none`` stops learning),
  ``/antiphon/status``.

Bad input is never a crash and never a silent drop. Every datagram reaches
:meth:`OscServer.handle_datagram` (python-osc's own check, which drops non-OSC data silently, is
turned off, and its parser, which swallows some errors and raises others, is only used behind
our checks). A packet that cannot be read (random bytes, a truncated or misaligned packet, an
unsupported argument type, a nested bundle), a wildcard address pattern, an unknown address, a
wrong argument count or type, an out-of-range value, NaN or infinity, an over-long string or a
preset name that is not a plain name each give one log line (at most
:data:`LOG_LINES_PER_S` a second; the rest are counted) and an ``/antiphon/error <address>
<message>`` reply, and are counted in :meth:`OscServer.stats`.

Bundles: the messages of one flat bundle are handled in order, at once (time tags are ignored:
``Dispatcher(strict_timing=False)``); if any element cannot be read, none is handled. A bundle
inside a bundle is refused, whatever it holds.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
import selectors
import socket
import socketserver
import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, cast

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message import OscMessage
from pythonosc.osc_server import BlockingOSCUDPServer

from daemon.control.cc_map import CcMapper
from daemon.control.events import (
    TRIGGERS,
    ControlQueue,
    ControlQueueFullError,
    SetParam,
    StatusRequest,
    SwitchPreset,
    Trigger,
)
from daemon.control.live_state import LiveState
from daemon.control.osc_config import OscConfig, OscConfigError, OscMessageError, OscPacketError
from daemon.control.params import NO_KEY, PARAMS, show, validate_args
from daemon.errors import AntiphonError
from daemon.io.osc_addresses import (
    LEARN,
    PRESET,
    ROOT,
    SET_PREFIX,
    STATUS,
    UNREADABLE,
    WATCH,
    known_addresses,
)
from daemon.io.osc_feedback import OscFeedback
from daemon.io.osc_packet import (
    ADDRESS_RE,
    MAX_ADDRESS_CHARS,
    MAX_SHOWN_ADDRESS_CHARS,
    MAX_STRING_CHARS,
    PATTERN_CHARS,
    _cut,
    parse_packet,
)
from daemon.timebase import now_s

log = logging.getLogger(__name__)
MAX_DATAGRAM_BYTES = 65536  # read whole UDP datagrams (socketserver's 8192 would cut them silently)
JOIN_TIMEOUT_S = 2.0  # how long stop() waits for the thread to end
LOG_LINES_PER_S = 20  # rejected-input log lines per second before the rest are only counted


@dataclass(frozen=True)
class OscStats:
    """What the OSC server has seen since it started.

    Attributes:
        packets: datagrams received.
        messages: messages read from them.
        accepted: messages acted on.
        rejected: messages refused (unknown address, bad arguments or values).
        malformed: datagrams that could not be read at all.
        internal_errors: messages on which Antiphon itself failed (a bug; see the log).
        log_lines_suppressed: rejections not logged because of the rate limit.
    """

    packets: int = 0
    messages: int = 0
    accepted: int = 0
    rejected: int = 0
    malformed: int = 0
    internal_errors: int = 0
    log_lines_suppressed: int = 0


class _LogThrottle:
    """At most ``per_s`` lines a second; says how many it held back when the next second starts."""

    def __init__(self, per_s: int) -> None:
        self._per_s = per_s
        self._window_start_s = -1.0
        self._lines = 0
        self.suppressed = 0
        self._suppressed_in_window = 0

    def allow(self) -> bool:
        now = now_s()
        if now - self._window_start_s >= 1.0:
            if self._suppressed_in_window:
                log.warning("%d more rejected OSC messages in the last second were not logged",
                            self._suppressed_in_window)
            self._window_start_s, self._lines, self._suppressed_in_window = now, 0, 0
        if self._lines < self._per_s:
            self._lines += 1
            return True
        self.suppressed += 1
        self._suppressed_in_window += 1
        return False


class _UdpServer(BlockingOSCUDPServer):
    """python-osc's blocking server, handing every datagram (valid or not) to the owner."""

    max_packet_size = MAX_DATAGRAM_BYTES

    def __init__(self, address: tuple[str, int], dispatcher: Dispatcher, owner: OscServer) -> None:
        super().__init__(address, dispatcher)
        self.RequestHandlerClass = _DatagramHandler
        self.owner = owner

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return True  # python-osc would drop non-OSC data here without a word; we answer it

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.owner._internal_error(client_address)


class _DatagramHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = cast(_UdpServer, self.server)
        server.owner.handle_datagram(self.request[0], self.client_address)


class OscServer:
    """The OSC server thread: validate, turn into a control event, enqueue, reply.

    Thread-safety: :meth:`start` and :meth:`stop` are for the main thread; everything else
    happens on the server thread. :meth:`handle_datagram` may be called directly in tests.

    Args:
        config: where to listen (``config.port`` 0 picks a free port; see :attr:`address`).
        controls: the queue the engine consumes.
        state: the live state; ``/antiphon/set`` applies to it and ``/antiphon/status`` reads it.
        feedback: where replies and errors go (None: only logged).
        cc_map: the CC bindings ``/antiphon/learn`` starts learning on (None: learning refused).
    """

    def __init__(self, config: OscConfig, controls: ControlQueue, state: LiveState,
                 feedback: OscFeedback | None = None, cc_map: CcMapper | None = None) -> None:
        self._config = config
        self._controls = controls
        self._state = state
        self._feedback = feedback
        self._sender: tuple[str, int] = ("127.0.0.1", 0)  # who sent the datagram being handled (the server's thread)
        self._cc_map = cc_map
        self._dispatcher = self._build_dispatcher()
        self._server: _UdpServer | None = None
        self._thread: threading.Thread | None = None
        self._wake_r: socket.socket
        self._wake_w: socket.socket
        self._throttle = _LogThrottle(LOG_LINES_PER_S)
        self._counts = {f.name: 0 for f in fields(OscStats)}

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the server listens on (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("the OSC server is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stats(self) -> OscStats:
        """Counts since the start."""
        return OscStats(**{**self._counts, "log_lines_suppressed": self._throttle.suppressed})

    def start(self) -> None:
        """Bind the socket and start the server thread.

        Raises:
            OscConfigError: the port is in use or the host cannot be bound, or the reply target
                is this very socket (replies would come back as input).
        """
        if self._thread is not None:
            raise RuntimeError("the OSC server is already started")
        host, port = self._config.host, self._config.port
        try:
            server = _UdpServer((host, port), self._dispatcher, self)
        except OSError as exc:
            raise OscConfigError(
                f"cannot listen for OSC on {host}:{port}: {exc.strerror or exc}; choose another port with "
                "--osc-port, or stop the program using it") from exc
        self._server = server
        if self._replies_loop_back():
            self._server = None
            server.server_close()
            raise OscConfigError(f"the OSC reply port {port} is the port Antiphon listens on; replies would "
                                 "come back as input. Choose another --osc-reply-port")
        if not _is_loopback(self.address[0]):
            log.warning("OSC listens on %s: any machine that can reach it can steer Antiphon",
                        self.address[0])
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, args=(server, self._wake_r),
                                        name="antiphon-osc", daemon=True)
        self._thread.start()
        target = self._feedback.target if self._feedback is not None else None
        log.info("OSC: listening on %s:%d, replying to %s", *self.address,
                 f"{target[0]}:{target[1]}" if target else "nobody")

    def stop(self) -> None:
        """Shut the server down, wait for its thread, close the sockets (safe to call twice).

        The thread waits on its socket and on a wake-up socket together, so it ends at once
        rather than at its next poll.
        """
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._wake_w.send(b"x")
        thread.join(JOIN_TIMEOUT_S)
        if thread.is_alive():
            log.warning("the OSC server thread did not end within %.1f s", JOIN_TIMEOUT_S)
        server.server_close()
        self._wake_r.close()
        self._wake_w.close()
        self._server, self._thread = None, None
        stats = self.stats()
        log.info("OSC stopped: %d packets, %d messages accepted, %d rejected, %d unreadable packets",
                 stats.packets, stats.accepted, stats.rejected, stats.malformed)

    def _serve(self, server: _UdpServer, wake: socket.socket) -> None:
        """The server thread: handle datagrams one at a time until :meth:`stop` writes to ``wake``."""
        with selectors.DefaultSelector() as selector:
            selector.register(server.socket, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj is wake:
                        return
                    # The socket is readable, so this reads at once; socketserver hands any
                    # exception to handle_error (logged and counted), so it never raises here.
                    server.handle_request()

    # -- one datagram

    def handle_datagram(self, data: bytes, client_address: tuple[str, int]) -> None:
        """Read one datagram and handle its messages; every failure is logged, answered and counted."""
        self._counts["packets"] += 1
        try:
            messages = parse_packet(data)
        except OscPacketError as exc:
            self._counts["malformed"] += 1
            self._refuse(exc.address or UNREADABLE, f"unreadable packet of {len(data)} bytes: {exc}",
                         client_address)
            return
        self._sender = client_address
        for message in messages:
            self._counts["messages"] += 1
            try:
                self._handle_message(message)
            except AntiphonError as exc:
                self._counts["rejected"] += 1
                self._refuse(message.address, str(exc), client_address)
            # DESIGN.md: a bad message is logged and dropped; it never stops the thread.
            except Exception:  # noqa: BLE001
                self._internal_error(client_address, message.address)
            else:
                self._counts["accepted"] += 1

    def _handle_message(self, message: OscMessage) -> None:
        address = message.address
        if len(address) > MAX_ADDRESS_CHARS:
            raise OscMessageError(f"an address of {len(address)} characters is too long "
                                  f"(at most {MAX_ADDRESS_CHARS})")
        if PATTERN_CHARS & set(address):
            raise OscMessageError("address patterns (* ? [ ] { }) are not accepted; send one full address "
                                  "such as /antiphon/set/temperature")
        if not ADDRESS_RE.match(address):
            raise OscMessageError("an address is '/' followed by printable ASCII without spaces")
        for number, arg in enumerate(message.params, start=1):
            if isinstance(arg, str) and len(arg) > MAX_STRING_CHARS:
                raise OscMessageError(f"string argument {number} has {len(arg)} characters; at most "
                                      f"{MAX_STRING_CHARS} are accepted")
        for handler in self._dispatcher.handlers_for_address(address):
            handler.invoke(("", 0), message)

    def _refuse(self, address: str, reason: str, client_address: Any) -> None:
        if self._throttle.allow():
            log.warning("OSC %s from %s refused: %s", _cut(address, MAX_SHOWN_ADDRESS_CHARS),
                        _client(client_address), reason)
        if self._feedback is not None:
            self._feedback.error(address, reason)

    def _internal_error(self, client_address: Any, address: str = UNREADABLE) -> None:
        self._counts["internal_errors"] += 1
        log.exception("OSC %s from %s: Antiphon failed on it (a bug; please report it)",
                      _cut(address, MAX_SHOWN_ADDRESS_CHARS), _client(client_address))
        if self._feedback is not None:
            self._feedback.error(address, "Antiphon failed on this message; see the daemon's log")

    def _replies_loop_back(self) -> bool:
        target = self._feedback.target if self._feedback is not None else None
        if target is None:
            return False
        host, port = self.address
        if target[1] != port:
            return False
        try:
            reply_ip = socket.gethostbyname(target[0])
        except OSError:
            return False
        return reply_ip == host or ipaddress.ip_address(host).is_unspecified

    # -- handlers (dispatcher callbacks, on the server thread)

    def _build_dispatcher(self) -> Dispatcher:
        # strict_timing=False: the default sleeps in the handler until a bundle's time tag.
        dispatcher = Dispatcher(strict_timing=False)
        for p in PARAMS:
            dispatcher.map(f"{SET_PREFIX}{p.name}", self._on_set, p.name)
        for name in TRIGGERS:
            dispatcher.map(f"{ROOT}/{name}", self._on_trigger, name)
        dispatcher.map(PRESET, self._on_preset)
        dispatcher.map(STATUS, self._on_status)
        dispatcher.map(LEARN, self._on_learn)
        dispatcher.map(WATCH, self._on_watch)
        dispatcher.set_default_handler(self._on_unknown)
        return dispatcher

    def _on_set(self, address: str, fixed: list[str], *args: Any) -> None:
        name = fixed[0]
        event = SetParam(name, validate_args(name, args))
        self._state.apply(event, publish=self._controls.put)
        if self._feedback is not None:
            self._feedback.param(name, event.value)

    def _on_trigger(self, address: str, fixed: list[str], *args: Any) -> None:
        _no_args(address, args)
        self._controls.put(Trigger(fixed[0]))

    def _on_preset(self, address: str, *args: Any) -> None:
        name = _one_string(address, args, "a preset name, e.g. bach")
        self._controls.put(SwitchPreset(name))  # checks the name; nothing is read here

    def _on_status(self, address: str, *args: Any) -> None:
        _no_args(address, args)
        try:
            self._controls.put(StatusRequest())  # first, so the engine hears of it before the reply ends
        except ControlQueueFullError:
            log.debug("status request not passed to the engine: its queue is full")
        if self._feedback is not None:
            self._feedback.status(self._state.snapshot())

    def _on_learn(self, address: str, *args: Any) -> None:
        param = _one_string(address, args, f"a parameter name, or {NO_KEY!r} to stop learning")
        if self._cc_map is None:
            raise OscMessageError("MIDI learn is not available: this daemon has no MIDI input to learn from")
        self._cc_map.learn(None if param == NO_KEY else param)
        if self._feedback is not None:
            self._feedback.learning(param)

    def _on_watch(self, address: str, *args: Any) -> None:
        if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], int) or not 0 < args[0] < 65536:
            raise OscMessageError(f"{address} takes one argument, a UDP port 1-65535 to send to, got {', '.join(show(a) for a in args) or 'nothing'}")
        if self._feedback is None:
            raise OscMessageError("this daemon sends no OSC feedback")
        if not self._feedback.watch(self._sender[0], args[0]):
            raise OscMessageError("too many watchers: at most 8 consoles at once")

    def _on_unknown(self, address: str, *args: Any) -> None:
        close = difflib.get_close_matches(address, known_addresses(), n=1, cutoff=0.75)
        hint = f"did you mean {close[0]}? " if close else ""
        raise OscMessageError(f"unknown address; {hint}addresses are {SET_PREFIX}<parameter>, "
                              f"{', '.join(f'{ROOT}/{t}' for t in TRIGGERS)}, {PRESET}, {STATUS}, {LEARN}, {WATCH}")


def _no_args(address: str, args: Sequence[Any]) -> None:
    if args:
        raise OscMessageError(f"{address} takes no arguments, got {len(args)}")


def _one_string(address: str, args: Sequence[Any], what: str) -> str:
    if len(args) != 1:
        raise OscMessageError(f"{address} takes one argument ({what}), got {len(args)}")
    if not isinstance(args[0], str):
        raise OscMessageError(f"{address} takes a string ({what}), got {show(args[0])}")
    return args[0]


def _client(client_address: Any) -> str:
    if isinstance(client_address, tuple) and len(client_address) >= 2:
        return f"{client_address[0]}:{client_address[1]}"
    return str(client_address)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
