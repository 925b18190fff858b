"""Where OSC listens and replies: the ``[osc]`` settings, their environment and flags.

Loopback by default: nothing outside this machine can steer Antiphon unless the preset says so.
This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from daemon.control.params import show
from daemon.errors import AntiphonError

DEFAULT_OSC_HOST = "127.0.0.1"  # loopback: nothing outside this machine can steer Antiphon
DEFAULT_OSC_PORT = 7400  # Antiphon listens here (Max: udpsend 127.0.0.1 7400)
DEFAULT_REPLY_HOST = "127.0.0.1"
DEFAULT_REPLY_PORT = 7401  # Antiphon sends here (Max: udpreceive 7401)
ENV_PREFIX = "ANTIPHON_OSC_"  # ANTIPHON_OSC_HOST, _PORT, _REPLY_HOST, _REPLY_PORT


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
