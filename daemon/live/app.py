"""``antiphon run`` (also ``python -m daemon``): build the daemon from a preset, run it until a signal, shut down.

Thread 5 in DESIGN.md, the main thread: parse options, load the preset and the models its mode
needs (a bad preset or model ends here, exit status 2, before any port opens), open the MIDI
ports, start the scheduler, the engine and then the OSC server, install SIGINT/SIGTERM
handlers that only set an event, wait for it, then shut down in order: OSC -> MIDI input ->
engine -> scheduler flush (note-offs, CC 123) -> MIDI output -> OSC feedback socket.
"ready" is logged with the port names once everything runs (tests wait for that line).

Lost and found ports: while it waits, the main thread polls a
:class:`~daemon.io.port_watch.PortWatch`. When the MIDI server (JACK) or a port named with
``--in``/``--out`` goes away, it logs one WARNING, sends ``/antiphon/error /antiphon/midi ...``
and ``/antiphon/state/midi lost``, closes the dead ports and retries with a growing delay; OSC
and the parameters stay live. A lost output: the scheduler sends into a :class:`Discard` (its
ledger kept) until the port is back, then closes on the new output everything that was sounding
(note-offs, CC 123) before anything else, and a ``panic`` trigger makes the engine drop what it
planned. A lost input alone: the ``panic`` comes at once (what the player held will never be
released). ``MIDI: reconnected`` and ``/antiphon/state/midi connected`` follow the return. The
engine is never called from here: the trigger goes on its control queue.

Precedence: command line > environment (``ANTIPHON_MIDI_API``, ``ANTIPHON_OSC_*``,
``ANTIPHON_PRESETS_DIR``) > preset file > defaults. ``antiphon run`` with no arguments plays the
bundled ``presets/default.toml``. Ports and OSC settings are read once, at start; a live preset
switch (``/antiphon/preset``) changes models, mode and parameters, and keeps the ports and the clock.

``-v`` adds a MIDI monitor: one log line per message in and out (the "out" lines are written
under the scheduler's lock, a fraction of a millisecond each: leave it off on stage).

The scheduler thread asks for real-time (SCHED_FIFO) priority, as JACK's threads do, and runs
at normal priority where that is refused (``--no-realtime`` does not ask). The GIL switch interval is shortened to :data:`SWITCH_INTERVAL_S` while the daemon runs: the
MIDI input callback (JACK's process thread) and the scheduler need the GIL within a fraction
of a millisecond, and Python's default would let a busy engine hold it for 5 ms.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

import mido

from daemon.control.cc_map import CcMapper
from daemon.control.events import ControlQueue, ControlQueueFullError, Trigger
from daemon.control.live_state import LiveState
from daemon.control.osc_config import OscConfig, add_osc_arguments, osc_config_from_args
from daemon.control.params import MODES
from daemon.control.presets import DEFAULT_PRESET, Preset, live_values, load_preset
from daemon.errors import PortError
from daemon.io import jack_watch
from daemon.io.link_session import LinkSession, LinkUnavailableError
from daemon.io.midi import (
    DEFAULT_CLIENT_NAME,
    MIDI_API_CHOICES,
    NATIVE_JACK,
    VIRTUAL_IN_NAME,
    VIRTUAL_OUT_NAME,
    InputQueue,
    is_jack,
    jack_full_name,
    list_ports,
    resolve_api,
)
from daemon.io.osc_addresses import MIDI, MIDI_STATE
from daemon.io.osc_feedback import OscFeedback
from daemon.io.osc_server import OscServer
from daemon.io.port_watch import MidiLink, PortWatch
from daemon.live.echo import EchoFilter
from daemon.live.outputs import Discard
from daemon.live.scheduler import DEFAULT_LATE_TOLERANCE_S, DEFAULT_PORT, Scheduler
from daemon.timebase import use_clock

if TYPE_CHECKING:
    from daemon.live.engine import Engine
    from daemon.live.model_store import ModelStore

log = logging.getLogger(__name__)
monitor_log = logging.getLogger("daemon.monitor")

MIDI_API_ENV = "ANTIPHON_MIDI_API"  # environment default for --midi-api
WAIT_SLICE_S = 0.25  # the main thread wakes this often while waiting for a signal, to poll the port watch
OUTPUT_DRAIN_S = 0.05  # after the last note-offs, before the output port closes: a JACK port sends
# what it was given in its next process cycle, and a port closed first would drop the note-offs
OUTPUT_DRAIN_MAX_S = 1.0  # Antiphon's own JACK client waits until its output is written, at most this long
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# The GIL hand-over interval while the daemon runs (Python's default is 5 ms): short, so that
# the MIDI callback and the scheduler never wait long behind the engine's numpy work.
SWITCH_INTERVAL_S = 0.0005
# SCHED_FIFO priority asked for the scheduler thread: below JACK's usual 70-95 (JACK's own
# threads come first), above everything that is not real-time.
SCHEDULER_RT_PRIORITY = 40


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``antiphon run``'s options to ``parser``."""
    parser.add_argument("--preset", default=DEFAULT_PRESET, metavar="NAME",
                        help="preset to play (presets/NAME.toml, or $ANTIPHON_PRESETS_DIR/NAME.toml; "
                             f"default: {DEFAULT_PRESET})")
    parser.add_argument("--mode", choices=MODES,
                        help="what to play, instead of the preset's: respond answers each phrase, accompany "
                             "plays bars along, both does both, thru passes what you play straight out")
    parser.add_argument("--midi-api", choices=MIDI_API_CHOICES,
                        default=os.environ.get(MIDI_API_ENV, "auto"),
                        help=f"MIDI system to use (default: ${MIDI_API_ENV} or auto: ALSA, else a running "
                             "JACK server, on Linux; CoreMIDI on macOS; Windows MM on Windows)")
    parser.add_argument("--in", dest="in_port", metavar="NAME",
                        help=f"read from this existing port (a unique part of its name will do) instead of "
                             f"opening the virtual port {VIRTUAL_IN_NAME!r} (default: the preset's [midi] in_port)")
    parser.add_argument("--out", dest="out_port", metavar="NAME",
                        help=f"send to this existing port instead of opening the virtual port "
                             f"{VIRTUAL_OUT_NAME!r} (default: the preset's [midi] out_port)")
    parser.add_argument("--client-name", default=DEFAULT_CLIENT_NAME,
                        help=f"MIDI client name of the virtual ports (default: {DEFAULT_CLIENT_NAME})")
    parser.add_argument("--late-tolerance-ms", type=float, default=DEFAULT_LATE_TOLERANCE_S * 1e3,
                        help="note-ons later than this are dropped, not played late "
                             f"(milliseconds, default: {DEFAULT_LATE_TOLERANCE_S * 1e3:g})")
    parser.add_argument("--seed", type=int, help="random seed of answers and bars (default: a fresh one)")
    parser.add_argument("--no-realtime", dest="realtime", action="store_false",
                        help=f"keep the scheduler thread at normal priority (default: ask for real-time "
                             f"priority {SCHEDULER_RT_PRIORITY}, as JACK does, and fall back if refused)")
    parser.add_argument("--link", action="store_true",
                        help="follow an Ableton Link session (tempo, bar phase, start/stop) instead of MIDI "
                             "clock; the preset's [clock] source = \"link\" does the same (needs the [link] extra)")
    parser.add_argument("-v", "--verbose", dest="monitor", action="store_true",
                        help="MIDI monitor: log one line per message in and out")
    add_osc_arguments(parser)


def main(args: argparse.Namespace) -> int:
    """Run the daemon until SIGINT or SIGTERM; return the exit status.

    Raises:
        AntiphonError: a bad preset, a model that cannot load, a port that cannot open, an OSC
            port in use (the command line prints the message, exit status 2).
    """
    from daemon.live.model_store import ModelStore, models_for  # onnxruntime loads only for `antiphon run`

    _log_daemon_life()
    preset = load_preset(args.preset)
    mode = args.mode or preset.mode
    values = live_values(preset)
    values["mode"] = mode
    state = LiveState(values)
    osc_config = osc_config_from_args(args, preset.osc)
    models = ModelStore()
    models_for(preset, mode, models)  # a missing or broken model stops us here, before any port opens
    stop = threading.Event()
    previous = {sig: signal.signal(sig, _setter(stop)) for sig in STOP_SIGNALS}
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        _serve(args, preset, state, models, osc_config, stop)
    finally:
        sys.setswitchinterval(switch_interval)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _serve(args: argparse.Namespace, preset: Preset, state: LiveState, models: ModelStore,
           osc_config: OscConfig, stop: threading.Event) -> None:
    from daemon.live.engine import Engine

    api = resolve_api(args.midi_api)
    if api == NATIVE_JACK:  # the daemon's clock is JACK's frame counter (daemon.io.jack_midi.FrameClock)
        from daemon.io.jack_midi import CLOCK

        use_clock(CLOCK)
    in_port = args.in_port or preset.midi.in_port or None
    out_port = args.out_port or preset.midi.out_port or None
    monitor = bool(getattr(args, "monitor", False) or getattr(args, "verbose", 0))
    inputs = InputQueue()
    controls = ControlQueue(wake=inputs.wake)
    echo = EchoFilter(preset.midi.echo_window_ms / 1e3)
    cc_map = CcMapper(preset.cc.bindings)
    feedback = OscFeedback.from_config(osc_config)
    link = MidiLink(api, inputs, in_port, out_port, args.client_name)
    session = _open_link(args, preset)
    scheduler: Scheduler | None = None
    engine: Engine | None = None
    osc: OscServer | None = None
    watch: PortWatch | None = None
    try:
        # Ports open before any thread starts (what they arrive with waits in the queue).
        link.open()
        assert link.input is not None and link.output is not None
        in_name, out_name = _shown_names(api, link.input.name, link.output.name, args, in_port, out_port)
        scheduler = Scheduler({DEFAULT_PORT: link.output}, late_tolerance_s=args.late_tolerance_ms / 1e3,
                              on_sent=_sent_hook(echo, monitor),
                              realtime_priority=SCHEDULER_RT_PRIORITY if args.realtime else None)
        engine = Engine(inputs, controls, scheduler, state, preset, models=models, cc_map=cc_map,
                        feedback=feedback, echo=echo, monitor=monitor, seed=args.seed, link=session)
        engine.prepare()
        scheduler.start()
        engine.start()
        if osc_config.enabled:
            osc = OscServer(osc_config, controls, state, feedback, cc_map)
            osc.start()
        recovery = MidiRecovery(link, scheduler, controls, feedback)
        watch = PortWatch(link, on_lost=recovery.lost, on_found=recovery.found)
        feedback.send(MIDI_STATE, "connected")
        osc_text = f"OSC {osc.address[0]}:{osc.address[1]}" if osc is not None else "no OSC"
        log.info("ready: preset %s, mode %s, %s MIDI, reading %r, sending on %r, %s, scheduler at %s priority",
                 preset.name, engine.mode, api, in_name, out_name, osc_text,
                 "real-time" if scheduler.realtime else "normal")
        while not stop.wait(WAIT_SLICE_S):
            _poll(watch)
        log.info("stopping")
    finally:
        # The order matters: nothing new comes in, the engine ends, the scheduler closes every
        # sounding note (note-offs, CC 123), and only then do the outputs close.
        if osc is not None:
            osc.stop()
        link.close_input()
        if engine is not None:
            engine.stop()
        if scheduler is not None:
            scheduler.stop()
        if link.output is not None:
            drain = getattr(link.output, "drain", None)  # Antiphon's own JACK client: until written
            if drain is None:
                time.sleep(OUTPUT_DRAIN_S)
            elif not drain(OUTPUT_DRAIN_MAX_S):
                log.warning("the last note-offs may not have left: JACK did not run for %.1f s", OUTPUT_DRAIN_MAX_S)
        link.close()
        if session is not None:
            session.close()
        jack_watch.restore_library_messages()
        feedback.close()
        if scheduler is not None and engine is not None:
            _log_counts(engine, scheduler, watch.losses if watch is not None else 0)


def _open_link(args: argparse.Namespace, preset: Preset) -> LinkSession | None:
    """The Ableton Link session asked for (``--link`` or ``[clock] source = "link"``), or None; when
    Link cannot run, say why and play on MIDI clock or the internal clock."""
    if not (getattr(args, "link", False) or preset.clock.source == "link"):
        return None
    try:
        session = LinkSession(preset.clock.bpm, preset.clock.link_start_stop)
    except LinkUnavailableError as exc:
        log.warning("%s; following MIDI clock, or the internal clock at %g bpm, instead", exc, preset.clock.bpm)
        return None
    log.info("Ableton Link: joined (start/stop sync %s)", "on" if preset.clock.link_start_stop else "off")
    return session


class MidiRecovery:
    """What the daemon does when its MIDI ports go away and come back (a :class:`PortWatch`'s callbacks).

    Runs on the main thread; it touches the engine only through its control queue.
    """

    def __init__(self, link: MidiLink, scheduler: Scheduler, controls: ControlQueue, feedback: OscFeedback) -> None:
        self._link = link
        self._scheduler = scheduler
        self._controls = controls
        self._feedback = feedback
        self._output = link.output  # the output the scheduler sends to

    def lost(self, message: str) -> None:
        """Before the dead ports close: tell OSC, and make sure nothing is left sounding or sent to them.

        A lost output: the scheduler sends into a :class:`Discard` (its ledger kept, to close on
        the port that comes back). A lost input alone: what the player held will never be
        released, so the engine silences everything on the output, which still works.
        """
        self._feedback.error(MIDI, f"MIDI: {message}")
        self._feedback.send(MIDI_STATE, "lost")
        if self._link.output_lost:
            self._scheduler.replace_output(DEFAULT_PORT, Discard(), close_sounding=False)
            self._output = None
        else:
            self._panic()

    def found(self, after_s: float) -> None:
        """The ports are back: close on a new output what was sounding, drop the engine's plan; tell OSC."""
        if self._link.output is not self._output and self._link.output is not None:
            self._output = self._link.output
            closed = self._scheduler.replace_output(DEFAULT_PORT, self._output)
            log.debug("MIDI: %d closing messages sent on the reopened output", closed)
            self._panic()
        self._feedback.send(MIDI_STATE, "connected")

    def _panic(self) -> None:
        try:
            self._controls.put(Trigger("panic"))
        except ControlQueueFullError as exc:
            log.warning("MIDI: could not ask the engine to silence what it planned: %s", exc)


def _poll(watch: PortWatch) -> None:
    """One poll of the port watch; whatever goes wrong in it is logged, and the daemon plays on."""
    try:
        watch.poll()
    except Exception:  # the daemon must never stop over its MIDI ports: log it, keep serving OSC
        log.exception("MIDI: watching the ports failed; still trying")


def _log_counts(engine: Engine, scheduler: Scheduler, midi_losses: int) -> None:
    counts = engine.stats()
    stats = scheduler.stats()
    log.info(
        "stopped: %d phrases answered (%d answer notes, %d answers dropped as the player went on), %d "
        "accompaniment bars, %d messages passed thru, %d messages sent, %d late note-ons dropped, "
        "%d echoes of our output dropped, %d messages filtered by channel, %d system messages ignored, "
        "%d input messages dropped (queue full), %d errors, %d losses of the MIDI ports",
        counts["phrases"], counts["answer_notes"], counts["discarded"], counts["bars"], counts["passed"],
        stats.sent, stats.late_note_ons_dropped, counts["echoes"], counts["filtered"], counts["ignored"],
        counts["input_dropped"], counts["errors"], midi_losses,
    )


def _sent_hook(echo: EchoFilter, monitor: bool) -> Callable[[str, mido.Message, float], None]:
    """The scheduler's ``on_sent``: remember for the echo filter; log when monitoring."""
    if not monitor:
        return echo.sent

    def hook(port: str, msg: mido.Message, time_s: float) -> None:
        echo.sent(port, msg, time_s)
        monitor_log.info("out  %s", str(msg.copy(time=0)).replace(" time=0", ""))
    return hook


def _shown_names(api: str, in_name: str, out_name: str, args: argparse.Namespace,
                 in_port: str | None, out_port: str | None) -> tuple[str, str]:
    """Port names as a user connects to them (JACK's ``client:port`` form for our virtual ports)."""
    if not is_jack(api) or (in_port and out_port):
        return in_name, out_name
    try:
        seen = list_ports(api)
    except PortError:
        return in_name, out_name
    if not in_port:
        in_name = jack_full_name(in_name, args.client_name, seen.outputs)
    if not out_port:
        out_name = jack_full_name(out_name, args.client_name, seen.inputs)
    return in_name, out_name


def _setter(event: threading.Event) -> Callable[[int, FrameType | None], None]:
    """A signal handler that only sets ``event`` (the main thread does the rest)."""
    def handler(signum: int, frame: FrameType | None) -> None:
        event.set()
    return handler


def _log_daemon_life() -> None:
    """Let the daemon's INFO lines (ready, phrases, counts) through whatever the CLI's level."""
    daemon_log = logging.getLogger("daemon")
    if daemon_log.getEffectiveLevel() > logging.INFO:
        daemon_log.setLevel(logging.INFO)
