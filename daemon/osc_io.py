"""OSC in and out: the server thread that steers the daemon, and the feedback it sends.

Thread 2 in DESIGN.md. :class:`OscServer` owns one thread running a python-osc
``BlockingOSCUDPServer`` (one datagram at a time, no thread per message) on 127.0.0.1 by default.
For each message it validates, turns it into a control event (:mod:`daemon.control`) and
enqueues it for the engine; replies go out from this thread. :class:`OscFeedback` sends
everything Antiphon says -- replies, errors, played notes, detected phrases -- to one configured
host and port (Max's ``udpreceive``, Pd's ``netreceive -u -b``); the engine and scheduler may
call it from any thread.

Address space (the tables in the README come from :func:`address_table_markdown`):

* ``/antiphon/set/<param> <value>`` -- one address per live parameter of
  :data:`daemon.params.PARAMS` (a separate ``set/`` branch, so a parameter can never shadow a
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

import argparse
import difflib
import ipaddress
import logging
import os
import re
import selectors
import socket
import socketserver
import struct
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, cast

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message import ParseError as MessageParseError
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.parsing import osc_types
from pythonosc.udp_client import SimpleUDPClient

from daemon.cc_map import CcMapper
from daemon.control import (
    TRIGGERS,
    ControlQueue,
    ControlQueueFullError,
    SetParam,
    StatusRequest,
    SwitchPreset,
    Trigger,
)
from daemon.errors import AntiphonError
from daemon.live_state import LiveState
from daemon.params import NO_KEY, PARAMS, edge_args, key_name, show, validate_args
from daemon.timebase import now_s

log = logging.getLogger(__name__)

DEFAULT_OSC_HOST = "127.0.0.1"  # loopback: nothing outside this machine can steer Antiphon
DEFAULT_OSC_PORT = 7400  # Antiphon listens here (Max: udpsend 127.0.0.1 7400)
DEFAULT_REPLY_HOST = "127.0.0.1"
DEFAULT_REPLY_PORT = 7401  # Antiphon sends here (Max: udpreceive 7401)
ENV_PREFIX = "ANTIPHON_OSC_"  # ANTIPHON_OSC_HOST, _PORT, _REPLY_HOST, _REPLY_PORT

ROOT = "/antiphon"
SET_PREFIX = f"{ROOT}/set/"
STATE_PREFIX = f"{ROOT}/state/"
STATUS_END = f"{ROOT}/status/end"
NOTE = f"{ROOT}/note"
PHRASE = f"{ROOT}/phrase"
LEARNING = f"{ROOT}/learning"
LEARNED = f"{ROOT}/learned"
ERROR = f"{ROOT}/error"
STATUS = f"{ROOT}/status"
PRESET = f"{ROOT}/preset"
LEARN = f"{ROOT}/learn"
CLOCK = f"{ROOT}/clock"
CURRENT_PRESET = f"{ROOT}/preset/current"
COUNT = f"{ROOT}/count"
UNREADABLE = "(packet)"  # the address in an error reply about a packet whose address could not be read

BUNDLE_PREFIX = b"#bundle\x00"
BUNDLE_HEADER_BYTES = 16  # "#bundle\0" + 8-byte time tag
MAX_DATAGRAM_BYTES = 65536  # read whole UDP datagrams (socketserver's 8192 would cut them silently)
MAX_ADDRESS_CHARS = 256
MAX_STRING_CHARS = 256  # a string argument longer than this is refused (preset names are at most 64)
MAX_SHOWN_ADDRESS_CHARS = 100  # an address echoed in an error reply is cut to this
ACCEPTED_TYPE_TAGS = frozenset("ihfdsbTFN")  # parsed; the value checks then refuse what does not fit
FIXED_ARGUMENT_BYTES = {"i": 4, "f": 4, "h": 8, "d": 8, "T": 0, "F": 0, "N": 0}  # bytes each takes
TYPE_TAG_NAMES = {"S": "symbol", "c": "char", "m": "MIDI", "t": "time tag", "r": "colour", "[": "array",
                  "]": "array", "I": "impulse"}
ADDRESS_RE = re.compile(r"^/[!-~]*$")  # printable ASCII, no spaces
PATTERN_CHARS = frozenset("*?[]{}")  # OSC address-pattern wildcards
JOIN_TIMEOUT_S = 2.0  # how long stop() waits for the thread to end
LOG_LINES_PER_S = 20  # rejected-input log lines per second before the rest are only counted


class OscError(AntiphonError):
    """Base of the OSC errors."""


class OscConfigError(OscError):
    """OSC settings that cannot work (a port in use, a reply port that loops back)."""


class OscMessageError(OscError):
    """One OSC message refused: unknown address, wrong argument count, bad pattern."""


class OscPacketError(OscError):
    """A datagram that is not a readable OSC packet.

    Args:
        message: what is wrong, for the log and the error reply.
        address: the message's address when it could be read, else None.
    """

    def __init__(self, message: str, address: str | None = None) -> None:
        super().__init__(message)
        self.address = address


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class OscConfig:
    """Where Antiphon listens for OSC and where it replies.

    Attributes:
        host: address to listen on; 127.0.0.1 keeps other machines out.
        port: UDP port to listen on (0 = any free port, for tests).
        reply_host: host replies and feedback go to.
        reply_port: UDP port replies and feedback go to (0 = send nothing).
        enabled: False runs the daemon without OSC.
    """

    host: str = DEFAULT_OSC_HOST
    port: int = DEFAULT_OSC_PORT
    reply_host: str = DEFAULT_REPLY_HOST
    reply_port: int = DEFAULT_REPLY_PORT
    enabled: bool = True

    def __post_init__(self) -> None:
        for name in ("port", "reply_port"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
                raise OscConfigError(
                    f"OSC {name.replace('_', ' ')} must be a UDP port 0-65535, got {show(value)}")
        for name in ("host", "reply_host"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise OscConfigError(
                    f"OSC {name.replace('_', ' ')} must be a host name or address, got {show(value)}")
        if not isinstance(self.enabled, bool):
            raise OscConfigError(f"OSC enabled must be true or false, got {show(self.enabled)}")

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], where: str = "osc") -> OscConfig:
        """Build from a preset's ``[osc]`` table; unknown keys are refused by name.

        Raises:
            OscConfigError: an unknown key or a bad value.
        """
        known = {f.name: f.type for f in fields(cls)}
        unknown = [key for key in table if key not in known]
        if unknown:
            raise OscConfigError(f"unknown key {where}.{unknown[0]}; [{where}] takes: {', '.join(known)}")
        return cls(**dict(table))


def add_osc_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--osc-host``, ``--osc-port``, ``--osc-reply-host``, ``--osc-reply-port``, ``--no-osc``.

    Their defaults are None so that :func:`osc_config_from_args` can tell "not given" apart and
    let the environment and the preset through.
    """
    group = parser.add_argument_group("OSC (Max/MSP, Pure Data)")
    group.add_argument("--osc-host", metavar="HOST",
                       help=f"address to listen on for OSC (default: {DEFAULT_OSC_HOST}, this machine only; "
                            f"${ENV_PREFIX}HOST)")
    group.add_argument("--osc-port", type=int, metavar="PORT",
                       help=f"UDP port to listen on (default: {DEFAULT_OSC_PORT}; ${ENV_PREFIX}PORT)")
    group.add_argument("--osc-reply-host", metavar="HOST",
                       help="host that replies and note/phrase feedback go to "
                            f"(default: {DEFAULT_REPLY_HOST}; "
                            f"${ENV_PREFIX}REPLY_HOST)")
    group.add_argument("--osc-reply-port", type=int, metavar="PORT",
                       help=f"UDP port replies go to, e.g. Max's udpreceive (default: {DEFAULT_REPLY_PORT}; "
                            f"0 sends nothing; ${ENV_PREFIX}REPLY_PORT)")
    group.add_argument("--no-osc", action="store_true", default=None, help="run without OSC")


def osc_config_from_args(args: argparse.Namespace, base: OscConfig | None = None,
                         environ: Mapping[str, str] | None = None) -> OscConfig:
    """Settle the OSC settings: command line > environment > ``base`` (a preset's) > defaults.

    Raises:
        OscConfigError: a port in the environment that is not a number, or a bad value.
    """
    environ = os.environ if environ is None else environ
    config = base or OscConfig()
    changes: dict[str, Any] = {}
    for name, kind in (("host", str), ("port", int), ("reply_host", str), ("reply_port", int)):
        env_name = f"{ENV_PREFIX}{name.upper()}"
        given = getattr(args, f"osc_{name}", None)
        if given is None and environ.get(env_name):
            try:
                given = kind(environ[env_name])
            except ValueError:
                raise OscConfigError(
                    f"${env_name} must be a UDP port number, got {show(environ[env_name])}") from None
        if given is not None:
            changes[name] = given
    if getattr(args, "no_osc", None):
        changes["enabled"] = False
    return replace(config, **changes)


# ---------------------------------------------------------------- feedback


class OscFeedback:
    """Sends Antiphon's OSC replies and feedback to one host and port.

    Thread-safety: every method may be called from any thread (the OSC server thread, the engine,
    the scheduler); one lock serialises the sends. A send never blocks (the socket is
    non-blocking) and never raises: a failure is logged at debug level and counted in
    ``failed``.

    Args:
        host: where to send.
        port: UDP port to send to; None or 0 sends nothing (every method returns False).
    """

    def __init__(self, host: str = DEFAULT_REPLY_HOST, port: int | None = DEFAULT_REPLY_PORT) -> None:
        self._lock = threading.Lock()
        self._client: SimpleUDPClient | None = None
        self._target: tuple[str, int] | None = None
        self.sent = 0
        self.failed = 0
        if port:
            try:
                self._client = SimpleUDPClient(host, port)
            except OSError as exc:
                raise OscConfigError(f"cannot send OSC to {host}:{port}: {exc.strerror or exc}; "
                                     "check --osc-reply-host") from exc
            self._target = (host, port)

    @classmethod
    def from_config(cls, config: OscConfig) -> OscFeedback:
        """The feedback sender ``config`` asks for."""
        return cls(config.reply_host, config.reply_port if config.enabled else None)

    @property
    def target(self) -> tuple[str, int] | None:
        """``(host, port)`` replies go to, or None when replies are off."""
        return self._target

    def send(self, address: str, *args: Any) -> bool:
        """Send one message; True if it left.

        Args:
            address: the OSC address.
            *args: int, float or str arguments (strings are sent as ASCII, other characters escaped).
        """
        if self._client is None:
            return False
        clean = [_ascii(a) if isinstance(a, str) else a for a in args]
        with self._lock:
            try:
                self._client.send_message(address, clean)
            except (OSError, osc_types.BuildError, struct.error, ValueError) as exc:
                self.failed += 1
                log.debug("OSC %s to %s:%d not sent: %s", address, *self._target, exc)  # type: ignore[misc]
                return False
            self.sent += 1
            return True

    def note(self, pitch: int, velocity: int, channel: int, duration_beats: float) -> bool:
        """``/antiphon/note <pitch> <velocity> <channel 1-16> <duration_beats>`` for a note played.

        Args:
            pitch: MIDI note 0-127.
            velocity: 1-127.
            channel: MIDI channel 0-15 (sent as 1-16).
            duration_beats: how long it sounds, in beats.
        """
        return self.send(NOTE, int(pitch), int(velocity), int(channel) + 1, float(duration_beats))

    def phrase(self, n_notes: int, duration_beats: float, key_root: int | None) -> bool:
        """``/antiphon/phrase <n_notes> <duration_beats> <key>`` for a phrase detected.

        Args:
            n_notes: notes in the phrase.
            duration_beats: from its first note-on to its last note-off, in beats.
            key_root: the key's pitch class 0-11, or None (sent as ``none``).
        """
        return self.send(PHRASE, int(n_notes), float(duration_beats), key_name(key_root))

    def param(self, name: str, value: Any) -> bool:
        """``/antiphon/state/<name> <value...>`` for a parameter's internal ``value``."""
        return self.send(f"{STATE_PREFIX}{name}", *edge_args(name, value))

    def status(self, values: Mapping[str, Any]) -> bool:
        """Every parameter (internal values), then ``/antiphon/status/end <count>``."""
        ok = True
        for name, value in values.items():  # every one is sent, whatever happened to the one before
            ok = self.param(name, value) and ok
        return self.send(STATUS_END, len(values)) and ok

    def clock(self, source: str, bpm: float, running: bool, position_beats: float) -> bool:
        """``/antiphon/clock <source> <bpm> <running> <position>``.

        Args:
            source: ``midi`` or ``internal``.
            bpm: the tempo followed (MIDI clock: the smoothed estimate), quarter notes per minute.
            running: False while the DAW is stopped.
            position_beats: where the clock is as this is sent, in beats from its origin (the
                MIDI song start, or the internal clock's start): bar lines fall on multiples of
                the bar's length in beats.
        """
        return self.send(CLOCK, source, float(bpm), int(bool(running)), float(position_beats))

    def current_preset(self, name: str) -> bool:
        """``/antiphon/preset/current <name>``: the preset playing."""
        return self.send(CURRENT_PRESET, name)

    def count(self, name: str, value: int) -> bool:
        """``/antiphon/count <name> <value>``: one of the daemon's counters."""
        return self.send(COUNT, name, int(value))

    def learning(self, param: str) -> bool:
        """``/antiphon/learning <param>``: learn mode started (``none``: stopped)."""
        return self.send(LEARNING, param)

    def learned(self, param: str, cc: int, channel: int) -> bool:
        """``/antiphon/learned <param> <cc> <channel 1-16>``; ``channel`` is 0-15."""
        return self.send(LEARNED, param, int(cc), int(channel) + 1)

    def error(self, address: str, message: str) -> bool:
        """``/antiphon/error <address> <message>``."""
        return self.send(ERROR, _cut(address, MAX_SHOWN_ADDRESS_CHARS), message)

    def close(self) -> None:
        """Close the socket; later sends return False."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _ascii(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii").replace("\x00", "\\x00")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


# ---------------------------------------------------------------- parsing


def parse_packet(data: bytes) -> list[OscMessage]:
    """The messages of one datagram: a message, or a flat bundle of messages.

    Raises:
        OscPacketError: empty, not a whole number of 4-byte words (truncated), neither a
            message nor a bundle, a bundle element that runs past the end or is itself a
            bundle, an unreadable address, an unsupported argument type, or arguments that do
            not match their type tags.
    """
    if not data:
        raise OscPacketError("empty packet")
    if len(data) % 4:
        raise OscPacketError(f"a packet of {len(data)} bytes is not a whole number of 4-byte words: "
                             "truncated, or not OSC")
    if data.startswith(BUNDLE_PREFIX):
        return [_parse_message(element) for element in _bundle_elements(data)]
    if data[:1] == b"/":
        return [_parse_message(data)]
    raise OscPacketError("not OSC: a message starts with '/', a bundle with '#bundle'; "
                         f"this starts with {data[:8]!r}")


def _bundle_elements(data: bytes) -> list[bytes]:
    if len(data) < BUNDLE_HEADER_BYTES:
        raise OscPacketError("truncated bundle: the time tag is missing")
    elements: list[bytes] = []
    index = BUNDLE_HEADER_BYTES
    while index < len(data):
        (size,) = struct.unpack_from(">i", data, index)
        index += 4
        if size <= 0 or size % 4:
            raise OscPacketError(f"bundle element {len(elements) + 1} has size {size}; "
                                 "an element's size is a positive multiple of 4")
        if index + size > len(data):
            raise OscPacketError(f"bundle element {len(elements) + 1} says {size} bytes but "
                                 f"{len(data) - index} "
                                 "are left: a truncated bundle")
        element = data[index:index + size]
        if element.startswith(BUNDLE_PREFIX):
            raise OscPacketError("nested bundles are not accepted: put every message in one flat bundle")
        elements.append(element)
        index += size
    return elements


def _parse_message(dgram: bytes) -> OscMessage:
    if dgram[:1] != b"/":
        raise OscPacketError(f"not an OSC message: it starts with {dgram[:8]!r}, not '/'")
    try:
        address, index = osc_types.get_string(dgram, 0)
        tags, index = osc_types.get_string(dgram, index) if index < len(dgram) else (",", index)
    except (osc_types.ParseError, UnicodeDecodeError) as exc:
        raise OscPacketError(f"unreadable address or type tags (cut short, or not text): {exc}") from None
    if not tags.startswith(","):
        raise OscPacketError(f"the type tag string must start with ',', got {show(tags)}", address)
    unsupported = [tag for tag in tags[1:] if tag not in ACCEPTED_TYPE_TAGS]
    if unsupported:
        tag = unsupported[0]
        name = f" ({TYPE_TAG_NAMES[tag]})" if tag in TYPE_TAG_NAMES else ""
        raise OscPacketError(f"argument type {tag!r}{name} is not accepted; send ints (i), floats (f) "
                             "or strings (s)", address)
    _check_argument_bytes(dgram, index, tags[1:], address)
    try:
        return OscMessage(dgram)
    except (MessageParseError, osc_types.ParseError, UnicodeDecodeError, IndexError, ValueError,
            struct.error, TypeError, OverflowError):
        raise OscPacketError(f"the arguments do not match their type tags {show(tags)} (truncated?)",
                             address) from None


def _check_argument_bytes(dgram: bytes, index: int, tags: str, address: str) -> None:
    """Check that the arguments fill the message exactly.

    python-osc pads a float cut short with zeros, so a truncated ``/antiphon/set/density`` would
    read as 0.0; here a message whose arguments run past its end, or stop short of it, is refused.
    """
    try:
        for tag in tags:
            if tag in FIXED_ARGUMENT_BYTES:
                index += FIXED_ARGUMENT_BYTES[tag]
            elif tag == "s":
                index = osc_types.get_string(dgram, index)[1]
            else:  # "b": a blob is a size, then that many bytes padded to a multiple of 4
                (size,) = struct.unpack_from(">i", dgram, index)
                if size < 0:
                    raise OscPacketError(f"a blob of negative size {size}", address)
                index += 4 + size + (-size % 4)
            if index > len(dgram):
                break
    except UnicodeDecodeError:
        raise OscPacketError("a string argument is not UTF-8 text", address) from None
    except (osc_types.ParseError, IndexError, struct.error):
        index = len(dgram) + 1
    if index > len(dgram):
        raise OscPacketError(f"the arguments of type tags ',{tags}' run past the end of the packet "
                             "(truncated?)",
                             address)
    if index < len(dgram):
        raise OscPacketError(f"{len(dgram) - index} stray bytes after the last argument "
                             f"(type tags ',{tags}')",
                             address)


# ---------------------------------------------------------------- the server


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

    def _on_unknown(self, address: str, *args: Any) -> None:
        close = difflib.get_close_matches(address, known_addresses(), n=1, cutoff=0.75)
        hint = f"did you mean {close[0]}? " if close else ""
        raise OscMessageError(f"unknown address; {hint}addresses are {SET_PREFIX}<parameter>, "
                              f"{', '.join(f'{ROOT}/{t}' for t in TRIGGERS)}, {PRESET}, {STATUS}, {LEARN}")


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


def known_addresses() -> list[str]:
    """Every address Antiphon answers to."""
    return ([f"{SET_PREFIX}{p.name}" for p in PARAMS] + [f"{ROOT}/{t}" for t in TRIGGERS]
            + [PRESET, STATUS, LEARN])


# ---------------------------------------------------------------- the README tables

COMMAND_ROWS: tuple[tuple[str, str, str], ...] = (
    (f"{ROOT}/generate", "—", "answer now, without waiting for the phrase to end"),
    (f"{ROOT}/panic", "—",
     ("silence everything: a note-off for every sounding note, and CC 123 (all notes off) "
      "on every channel used")),
    (f"{ROOT}/reset", "—",
     "forget the phrase heard so far and the model's state (parameters keep their values)"),
    (PRESET, "string: a preset name (1-64 of A-Z a-z 0-9 _ -)", "load that preset from the preset folders"),
    (STATUS, "—", f"reply with every parameter as `{STATE_PREFIX}<parameter>`, then `{STATUS_END} <count>`"),
    (LEARN, f"string: a parameter, or `{NO_KEY}`",
     (f"MIDI learn: the next CC 0-119 received drives that parameter (confirmed by `{LEARNED}`); "
      f"`{NO_KEY}` stops learning")),
)

FEEDBACK_ROWS: tuple[tuple[str, str, str], ...] = (
    (f"{STATE_PREFIX}<parameter>", "the value, as set (channel lists: several ints)",
     "after every accepted change (OSC or CC) and in reply to status"),
    (STATUS_END, "int: parameters sent", "closes a status reply"),
    (NOTE, "int pitch 0-127, int velocity 1-127, int channel 1-16, float duration (beats)",
     "for every note Antiphon plays"),
    (PHRASE, f"int notes, float duration (beats), string key (C ... B or {NO_KEY})",
     "for every phrase Antiphon hears end"),
    (CLOCK, "string source (midi or internal), float tempo (BPM), int running (1 or 0), float position (beats)",
     "in reply to status: the clock followed, its tempo estimate and where it is"),
    (CURRENT_PRESET, "string: preset name", "in reply to status"),
    (COUNT, "string name, int value",
     "in reply to status, one per counter (phrases, answers, echoes, input_dropped, late_dropped...)"),
    (LEARNING, "string: parameter", f"learn mode started (`{NO_KEY}`: stopped)"),
    (LEARNED, "string parameter, int CC 0-119, int channel 1-16", "a CC was learned"),
    (ERROR, f"string address (or `{UNREADABLE}`), string message",
     "a message or packet was refused; nothing changed"),
)


def address_table_markdown() -> str:
    """The README's OSC tables, generated from :data:`daemon.params.PARAMS` and the rows above."""
    lines = ["| address | arguments | range / choices | default | effect |", "|---|---|---|---|---|"]
    for p in PARAMS:
        unit = f" ({p.unit})" if p.unit else ""
        values = p.default if isinstance(p.default, tuple) else (p.default,)
        default = " ".join(map(_md_value, values))
        lines.append(f"| `{SET_PREFIX}{p.name}` | {p.osc_type} | {p.describe_range()}{unit} | {default} "
                     f"| {p.help} |")
    for address, args, effect in COMMAND_ROWS:
        lines.append(f"| `{address}` | {args} | | | {effect} |")
    lines += ["", "Antiphon sends, to the reply host and port:", "",
              "| address | arguments | when |", "|---|---|---|"]
    lines += [f"| `{address}` | {args} | {when} |" for address, args, when in FEEDBACK_ROWS]
    return "\n".join(lines) + "\n"


def _md_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


__all__ = [
    "DEFAULT_OSC_HOST", "DEFAULT_OSC_PORT", "DEFAULT_REPLY_HOST", "DEFAULT_REPLY_PORT", "OscConfig",
    "OscConfigError", "OscError", "OscFeedback", "OscMessageError", "OscPacketError", "OscServer", "OscStats",
    "add_osc_arguments", "address_table_markdown", "known_addresses", "osc_config_from_args", "parse_packet",
]
