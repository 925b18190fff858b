"""``antiphon ports``: list the MIDI ports each MIDI API shows.

The listing is the command's output, so it goes to stdout (not through logging); an API whose
MIDI system is not running is listed with the reason and what to do.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from daemon.errors import PortError
from daemon.io.midi import MIDI_API_CHOICES, PortNames, compiled_apis, list_ports

ALL_APIS = "all"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``antiphon ports``'s options to ``parser``."""
    parser.add_argument("--midi-api", choices=(ALL_APIS, *MIDI_API_CHOICES), default=ALL_APIS,
                        help="which MIDI API to list (default: all that python-rtmidi has here)")


def main(args: argparse.Namespace) -> int:
    """List the ports; 0 if at least one API could be listed."""
    return list_apis(args.midi_api, sys.stdout)


def list_apis(api: str, out: TextIO) -> int:
    """Write the ports of ``api`` (or of every compiled API for ``all``) to ``out``; return the exit status.

    Raises:
        PortError: a single named API cannot be listed (with what to do).
    """
    if api != ALL_APIS:
        write_listing(list_ports(api), out)
        return 0
    listed = 0
    for name in compiled_apis():
        try:
            names = list_ports(name)
        except PortError as exc:
            out.write(f"{name}: unavailable: {exc}\n")
            continue
        write_listing(names, out)
        listed += 1
    return 0 if listed else 2


def write_listing(names: PortNames, out: TextIO) -> None:
    """Write one API's inputs and outputs, one port a line."""
    out.write(f"{names.api}:\n")
    for title, ports, option in (("inputs", names.inputs, "--in"), ("outputs", names.outputs, "--out")):
        out.write(f"  {title} (for {option}):\n")
        out.writelines(f"    {port}\n" for port in ports)
        if not ports:
            out.write("    (none)\n")
