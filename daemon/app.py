"""``antiphon run`` (also ``python -m daemon``): build the daemon, run it until a signal, shut down.

Thread 5 in DESIGN.md, the main thread: parse options, open the ports, start the scheduler
and engine threads, install SIGINT/SIGTERM handlers that only set an event, wait for it, then
shut down in order: inputs -> engine -> scheduler flush (note-offs, CC 123) -> outputs.
"ready" is logged with the port names once the ports are open (tests wait for that line).

Modes: ``thru`` passes what is played straight out through the scheduler. ``lstm`` and
``gan`` are named so the option is stable, and say that they are not built yet.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

from mido.ports import BaseInput, BaseOutput

from daemon.engine import ThruEngine
from daemon.errors import NotBuiltError, PortError
from daemon.midi_io import (
    DEFAULT_CLIENT_NAME,
    MIDI_API_CHOICES,
    VIRTUAL_IN_NAME,
    VIRTUAL_OUT_NAME,
    InputQueue,
    jack_full_name,
    list_ports,
    open_input,
    open_output,
    resolve_api,
)
from daemon.scheduler import DEFAULT_LATE_TOLERANCE_S, DEFAULT_PORT, Scheduler

log = logging.getLogger(__name__)

MODES = ("thru", "lstm", "gan")
BUILT_MODES = frozenset({"thru"})
MIDI_API_ENV = "ANTIPHON_MIDI_API"  # environment default for --midi-api
WAIT_SLICE_S = 1.0  # the main thread wakes this often while waiting for a signal
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``antiphon run``'s options to ``parser``."""
    parser.add_argument("--mode", choices=MODES, default="thru",
                        help="what to play back: thru passes what you play straight out (default: thru)")
    parser.add_argument("--midi-api", choices=MIDI_API_CHOICES,
                        default=os.environ.get(MIDI_API_ENV, "auto"),
                        help=f"MIDI system to use (default: ${MIDI_API_ENV} or auto: ALSA, else a running "
                             "JACK server, on Linux; CoreMIDI on macOS; Windows MM on Windows)")
    parser.add_argument("--in", dest="in_port", metavar="NAME",
                        help=f"read from this existing port (a unique part of its name will do) instead of "
                             f"opening the virtual port {VIRTUAL_IN_NAME!r}")
    parser.add_argument("--out", dest="out_port", metavar="NAME",
                        help=f"send to this existing port instead of opening the virtual port "
                             f"{VIRTUAL_OUT_NAME!r}")
    parser.add_argument("--client-name", default=DEFAULT_CLIENT_NAME,
                        help=f"MIDI client name of the virtual ports (default: {DEFAULT_CLIENT_NAME})")
    parser.add_argument("--late-tolerance-ms", type=float, default=DEFAULT_LATE_TOLERANCE_S * 1e3,
                        help="note-ons later than this are dropped, not played late "
                             f"(milliseconds, default: {DEFAULT_LATE_TOLERANCE_S * 1e3:g})")


def main(args: argparse.Namespace) -> int:
    """Run the daemon until SIGINT or SIGTERM; return the exit status."""
    if args.mode not in BUILT_MODES:
        raise NotBuiltError(
            f"--mode {args.mode} is not built yet in this version; use --mode thru "
            "(the LSTM and GAN engines come in later versions)"
        )
    _log_daemon_life()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, _setter(stop)) for sig in STOP_SIGNALS}
    try:
        _serve(args, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _serve(args: argparse.Namespace, stop: threading.Event) -> None:
    api = resolve_api(args.midi_api)
    inputs = InputQueue()
    output: BaseOutput | None = None
    scheduler: Scheduler | None = None
    engine: ThruEngine | None = None
    midi_in: BaseInput | None = None
    try:
        # Ports open before any thread starts (what they arrive with waits in the queue).
        midi_in = open_input(api, inputs, args.in_port, args.client_name)
        output = open_output(api, args.out_port, args.client_name)
        in_name, out_name = _shown_names(api, midi_in.name, output.name, args)
        scheduler = Scheduler({DEFAULT_PORT: output}, late_tolerance_s=args.late_tolerance_ms / 1e3)
        scheduler.start()
        engine = ThruEngine(inputs, scheduler)
        engine.start()
        log.info("ready: mode %s, %s MIDI, reading %r, sending on %r", args.mode, api, in_name, out_name)
        while not stop.wait(WAIT_SLICE_S):
            pass
        log.info("stopping")
    finally:
        # The order matters: nothing new comes in, the engine ends, the scheduler closes every
        # sounding note (note-offs, CC 123), and only then do the outputs close.
        if midi_in is not None:
            midi_in.close()
        if engine is not None:
            engine.stop()
        if scheduler is not None:
            scheduler.stop()
        if output is not None:
            output.close()
        if scheduler is not None and engine is not None:
            stats = scheduler.stats()
            log.info(
                "stopped: %d messages passed, %d sent, %d late note-ons dropped, %d input messages dropped "
                "(queue full)", engine.passed, stats.sent, stats.late_note_ons_dropped, inputs.dropped,
            )


def _shown_names(api: str, in_name: str, out_name: str, args: argparse.Namespace) -> tuple[str, str]:
    """Port names as a user connects to them (JACK's ``client:port`` form for our virtual ports)."""
    if api != "jack" or (args.in_port and args.out_port):
        return in_name, out_name
    try:
        seen = list_ports(api)
    except PortError:
        return in_name, out_name
    if not args.in_port:
        in_name = jack_full_name(in_name, args.client_name, seen.outputs)
    if not args.out_port:
        out_name = jack_full_name(out_name, args.client_name, seen.inputs)
    return in_name, out_name


def _setter(event: threading.Event) -> Callable[[int, FrameType | None], None]:
    """A signal handler that only sets ``event`` (the main thread does the rest)."""
    def handler(signum: int, frame: FrameType | None) -> None:
        event.set()
    return handler


def _log_daemon_life() -> None:
    """Let the daemon's INFO lines (ready, stopping, counts) through whatever the CLI's level."""
    daemon_log = logging.getLogger("daemon")
    if daemon_log.getEffectiveLevel() > logging.INFO:
        daemon_log.setLevel(logging.INFO)
