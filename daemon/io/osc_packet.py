"""Reading OSC packets: messages and flat bundles, with checks python-osc does not make.

A packet that cannot be read (random bytes, a truncated or misaligned packet, an unsupported
argument type, a nested bundle) raises :class:`daemon.control.osc_config.OscPacketError`.
This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import re
import struct

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message import ParseError as MessageParseError
from pythonosc.parsing import osc_types

from daemon.control.osc_config import OscPacketError
from daemon.control.params import show

BUNDLE_PREFIX = b"#bundle\x00"
BUNDLE_HEADER_BYTES = 16  # "#bundle\0" + 8-byte time tag
MAX_ADDRESS_CHARS = 256
MAX_STRING_CHARS = 256  # a string argument longer than this is refused (preset names are at most 64)
MAX_SHOWN_ADDRESS_CHARS = 100  # an address echoed in an error reply is cut to this
ACCEPTED_TYPE_TAGS = frozenset("ihfdsbTFN")  # parsed; the value checks then refuse what does not fit
FIXED_ARGUMENT_BYTES = {"i": 4, "f": 4, "h": 8, "d": 8, "T": 0, "F": 0, "N": 0}  # bytes each takes
TYPE_TAG_NAMES = {"S": "symbol", "c": "char", "m": "MIDI", "t": "time tag", "r": "colour", "[": "array",
                  "]": "array", "I": "impulse"}
ADDRESS_RE = re.compile(r"^/[!-~]*$")  # printable ASCII, no spaces
PATTERN_CHARS = frozenset("*?[]{}")  # OSC address-pattern wildcards


def _ascii(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii").replace("\x00", "\\x00")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


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
