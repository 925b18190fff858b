"""The engine thread: hears the player, follows the clock, decides what to play, hands it to the scheduler.

Thread 3 in DESIGN.md, and the only owner of the onnxruntime sessions (created with one
intra-op and one inter-op thread: the work is one small model step at a time, and it must not
take the CPU from JACK's process thread and the scheduler).

Waking
    The engine blocks on one queue: the MIDI input queue. Control events (OSC) go on their own
    queue, whose ``wake`` puts a marker on the input queue, so a control event wakes the engine
    as promptly as a note. Timed work (a phrase end, a note to hand to the scheduler, the next
    accompaniment bar, the MIDI clock timeout) sets the wait's timeout. Sampling an answer runs
    in slices of a few model steps between reads of the queue, so a MIDI Stop or a note never
    waits behind a whole answer.

Modes (the live parameter ``mode``)
    ``thru``: channel messages go straight out, due at their arrival time.
    ``respond``: call and response with the LSTM (:mod:`daemon.live.respond`).
    ``accompany``: the GAN plays one bar ahead, each bar conditioned on the bar just played
    (:mod:`daemon.live.accompany`), on its own channels.
    ``both``: the two together.
    ``restyle``: each bar played comes back a bar later in another style (:mod:`daemon.live.restyle`).

What comes in, in order
    Realtime messages drive the :class:`~daemon.live.transport.Transport` (MIDI Stop silences at
    once). Channel messages: an echo of what Antiphon just sent is dropped
    (:mod:`daemon.live.echo`); input on other channels than ``channel_in`` (and, with
    ``ignore_output_channels``, on Antiphon's own channels) is dropped; control changes go
    through the CC map (:func:`daemon.control.cc_map.apply_control_change`) before anything else;
    then the mode's part hears the notes. System messages (SysEx...) are ignored, counted.
    Drum-channel notes (channel 10) condition the accompaniment but are never part of a phrase.

Silence on purpose
    A mode or preset switch, ``/antiphon/panic``, a MIDI Stop, Start or Song Position, and a
    switch to MIDI clock close every sounding note and send CC 123 (:meth:`Scheduler.panic`)
    and drop what was planned.

A message or event that fails is logged and dropped; it never ends the thread.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import mido
import numpy as np

from daemon.control.cc_map import CcMapper, apply_control_change
from daemon.control.events import ControlEvent, ControlQueue
from daemon.control.live_state import LiveState
from daemon.control.params import ACCOMPANY_MODES, MAX_BPM, MIN_BPM, RESPOND_MODES
from daemon.control.presets import Preset, load_preset
from daemon.io.midi import WAKE, InputQueue
from daemon.live.accompany import Accompanist
from daemon.live.answering import Answering
from daemon.live.band_part import BandPart
from daemon.live.controls import Controls, LiveSampling
from daemon.live.echo import EchoFilter
from daemon.live.feedback import EngineCounts, Feedback, RollFeed
from daemon.live.input_notes import ALL_SOUND_OFF, InputNotes, NoteEvent
from daemon.live.link_clock import LinkClock, LinkPeer
from daemon.live.model_store import ModelPair, ModelStore, models_for
from daemon.live.plan import HANDOFF_S, Plan
from daemon.live.respond import Responder
from daemon.live.restyle import Restyler, band_for
from daemon.live.scheduler import ALL_NOTES_OFF, CONTROL_CHANGE, DEFAULT_PORT, Scheduler, is_note_off
from daemon.live.transport import CLOCK_MESSAGES, MIDI, Transport, TransportEvent, pulse_grid
from daemon.models.continuator import prompt_mode
from daemon.music.grid import DRUM_CHANNEL, MIDI_CLOCK_PPQN, NOTE_OFF, NOTE_ON
from daemon.timebase import Clock, now_s, tie_s

log = logging.getLogger(__name__)
monitor_log = logging.getLogger("daemon.monitor")


# mido's names of MIDI channel voice messages (status 0x80-0xEF).
CHANNEL_MESSAGE_TYPES = frozenset({
    NOTE_OFF, NOTE_ON, "polytouch", CONTROL_CHANGE, "program_change", "aftertouch", "pitchwheel",
})
IDLE_WAIT_S = 0.5  # longest the engine sleeps with nothing timed to do (it wakes on input anyway)
INPUT_BATCH = 256  # messages read per wake-up before controls and timers get a turn
WORK_SLICE_S = 0.002  # at most this long (seconds) of sampling between two looks at the input queue
TEMPO_REPORT_PULSES = 48  # MIDI clock tempo is logged once this many pulses were heard (two beats)
TEMPO_REPORT_CHANGE_BPM = 0.5  # ...and again when it moves by this much
JOIN_TIMEOUT_S = 2.0  # how long stop() waits for the thread to end


class Engine(BandPart):
    """Hears, decides and plans; see the module docstring.

    The engine is the loop and the router: what a phrase and its answer are is
    :class:`~daemon.live.answering.Answering`'s, what the band plays :class:`~daemon.live.accompany.Accompanist`'s,
    what a control event does :class:`~daemon.live.controls.Controls`'.

    Thread-safety: :meth:`start` and :meth:`stop` are for the main thread; everything else runs
    on the engine thread. Tests drive it by hand: :meth:`handle_input`, :meth:`handle_control`,
    :meth:`poll` and :meth:`work`, with a fake clock.

    Args:
        inputs: the stamped MIDI input queue (also the wake-up queue).
        controls: control events from OSC; its wake-up is set to ``inputs.wake``.
        scheduler: where notes go out.
        state: the live parameters (already holding the preset's values).
        preset: the preset to start with.
        models: the model store (default: loads with onnxruntime).
        cc_map: CC bindings (None: CCs drive nothing).
        feedback: OSC feedback (None: nothing is reported).
        echo: the echo filter the scheduler feeds (None: a filter of the preset's window that
            hears nothing: build one and pass it to the scheduler's ``on_sent`` to use it).
        preset_loader: ``name -> Preset`` for live switches (default :func:`daemon.control.presets.load_preset`).
        clock: time source in seconds.
        port: the scheduler output to play on.
        monitor: log one line per MIDI message in (``-v``).
        seed: random seed of every answer and bar (None: a fresh one).
    """

    def __init__(self, inputs: InputQueue, controls: ControlQueue, scheduler: Scheduler, state: LiveState,
                 preset: Preset, *, models: ModelStore | None = None, cc_map: CcMapper | None = None,
                 feedback: Feedback | None = None, echo: EchoFilter | None = None,
                 preset_loader: Callable[[str], Preset] = load_preset, clock: Clock = now_s,
                 port: str = DEFAULT_PORT, monitor: bool = False, seed: int | None = None,
                 link: LinkPeer | None = None) -> None:
        self._inputs = inputs
        self._events = controls
        controls.set_wake(inputs.wake)
        self._scheduler = scheduler
        self._state = state
        self._models = models or ModelStore()
        self._cc_map = cc_map or CcMapper()
        self._feedback = feedback
        self.echo = echo or EchoFilter(preset.midi.echo_window_ms / 1e3)
        self._clock = clock
        self._port = port
        self._monitor = monitor
        self._rng = np.random.default_rng(seed if seed is not None else secrets.randbits(64))
        self._groups = itertools.count(1)
        values = state.snapshot()
        follow = None if link is None else LinkClock(link, pulse_grid(), tie_s if clock is now_s else clock,
                                                     preset.clock.link_start_stop)
        self.transport = Transport(values["bpm"], clock(), values["meter_numerator"], values["meter_denominator"],
                                   preset.clock.follow_midi_clock, preset.clock.midi_clock_timeout_s, follow)
        self.preset = preset
        self.mode: str = values["mode"]
        self.counts = EngineCounts()
        self._plan = Plan(RollFeed(feedback) if feedback is not None else None)
        self._input = InputNotes()
        self.answering: Answering | None = None
        self._accompanist: Accompanist | Restyler | None = None
        self._sampling = LiveSampling(state, preset, self._error)
        self._controls = Controls(self, state, self._sampling, self._models, self._cc_map, preset_loader, clock,
                                  feedback)
        self._tempo_reported: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ life

    def prepare(self) -> None:
        """Load the models the starting mode needs (before the thread starts).

        Raises:
            ModelError: a model cannot be loaded or the preset lacks the kind the mode needs.
        """
        self.play(self.preset, self.mode, models_for(self.preset, self.mode, self._models))

    def start(self) -> None:
        """Start the engine thread."""
        if self._thread is not None:
            raise RuntimeError("the engine is already started")
        self._thread = threading.Thread(target=self._run, name="antiphon-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end and wait for it; what is still queued is dropped."""
        self._stop.set()
        self._inputs.wake()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
            if self._thread.is_alive():
                log.warning("the engine thread did not end within %.1f s", JOIN_TIMEOUT_S)

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._inputs.get(self._wait_s(self._clock()))
            batch = 0
            while item is not None and not self._stop.is_set():
                self._guarded(self.handle_input, *item)
                batch += 1
                item = self._inputs.get_nowait() if batch < INPUT_BATCH else None
            for event in self._events.drain():
                self._guarded(self.handle_control, event)
            self._guarded(self.poll, self._clock())
            self._guarded(self.work, self._clock() + WORK_SLICE_S)
            self._guarded(self.poll, self._clock())

    def _guarded(self, action: Callable[..., Any], *args: Any) -> None:
        try:
            action(*args)
        # DESIGN.md: a bad message or generation is logged and dropped; it never stops the thread.
        except Exception:
            self.counts.errors += 1
            log.exception("the engine failed on %s%r; dropped", getattr(action, "__name__", action), args)

    def _wait_s(self, now: float) -> float:
        """How long the loop may block on the input queue."""
        if self.answering is not None and self.answering.working():
            return 0.0
        deadlines = [d for d in (self._phrase_deadline(), self._handoff_deadline(), self._bar_deadline(),
                                 self._hold_deadline(), self.transport.deadline_s()) if d is not None]
        if not deadlines:
            return IDLE_WAIT_S
        return min(IDLE_WAIT_S, max(0.0, min(deadlines) - now))

    # ------------------------------------------------------------------ input

    def handle_input(self, time_s: float, msg: mido.Message) -> None:
        """Deal with one message that arrived at ``time_s`` (clock seconds)."""
        if msg is WAKE:
            return
        self.counts.messages += 1
        kind = msg.type
        if kind in CLOCK_MESSAGES:
            event = self.transport.handle(kind, time_s, getattr(msg, "pos", 0))
            if event is not None:
                self._on_transport(event, time_s)
            return
        if kind not in CHANNEL_MESSAGE_TYPES:
            self.counts.ignored += 1
            if self._monitor:
                monitor_log.info("in   %s (ignored)", _shown(msg))
            return
        if self.echo.is_echo(msg, time_s):
            self.counts.echoes += 1
            if self._monitor:
                monitor_log.info("in   %s (echo of our output: dropped)", _shown(msg))
            return
        if self._monitor:
            monitor_log.info("in   %s", _shown(msg))
        if not self._listening(msg.channel):
            self.counts.filtered += 1
            return
        if kind == CONTROL_CHANGE:
            change = apply_control_change(msg, self._cc_map, self._state, self._feedback)
            if change is not None:
                self._controls.on_param(change)
        if self.mode == "thru":
            self._scheduler.schedule(time_s, msg, self._port)
            self.counts.passed += 1
            return
        if not self.transport.running:
            return  # the DAW is stopped: nothing is heard until it plays again
        tick = self.transport.tick_at(time_s)
        if kind == NOTE_ON and msg.velocity > 0:
            self._hear(tick, self._input.note_on(tick, msg.channel, msg.note, msg.velocity))
        elif is_note_off(msg):
            self._hear(tick, self._input.note_off(tick, msg.channel, msg.note))
        elif kind == CONTROL_CHANGE and msg.control in (ALL_SOUND_OFF, ALL_NOTES_OFF):
            self._hear(tick, self._input.all_off(msg.channel))
            if self.answering is not None:
                self.answering.release(tick, msg.channel)
        elif kind == CONTROL_CHANGE and self.answering is not None and msg.channel != DRUM_CHANNEL:
            self.answering.pedal(tick, msg)

    def _hear(self, tick: float, events: list[NoteEvent]) -> None:
        """Hand paired note-ons and note-offs to the parts that listen (drums condition the band only)."""
        for event in events:
            if self._feedback is not None:
                self._feedback.heard(event.pitch, event.velocity, event.channel, tick / MIDI_CLOCK_PPQN)
            if self.answering is not None and event.channel != DRUM_CHANNEL:
                self.answering.hear(tick, event)
            if self._accompanist is not None:
                if event.on:
                    self._accompanist.note_on(tick, event.channel, event.pitch, event.velocity)
                else:
                    self._accompanist.note_off(tick, event.channel, event.pitch)
        if self._accompanist is not None and any(e.on and e.channel != DRUM_CHANNEL for e in events):
            self._revoice(tick)

    def _hold_deadline(self) -> float | None:
        """When the notes held now stop holding the phrase open (no new note for ``hold_limit_beats``)."""
        pedal_held = self.answering is not None and self.answering.responder.sounding
        tick = self._input.hold_deadline(self._state.get("hold_limit_beats"), MIDI_CLOCK_PPQN, pedal_held)
        return None if tick is None else self._time_of(tick)

    def _release_held(self, now: float) -> None:
        tick = self.transport.tick_at(now)
        events = self._input.release_held()
        log.info("no new note for %g beats with %d held: the phrase ends without them (a drone, or a note-off "
                 "that never came)", self._state.get("hold_limit_beats"), max(1, len(events)))
        self._hear(tick, events)
        if self.answering is not None:
            self.answering.release(tick)

    def _listening(self, channel: int) -> bool:
        wanted = self._state.get("channel_in")
        if wanted is not None and channel != wanted:
            return False
        return not (self.preset.midi.ignore_output_channels and channel in self._output_channels())

    def _output_channels(self) -> set[int]:
        channels: set[int] = set()
        if self.mode in RESPOND_MODES:
            channels.add(self._state.get("channel_out"))
        if self.mode in ACCOMPANY_MODES:
            channels.update(self._state.get("accompany_channels"))
        return channels

    # ------------------------------------------------------------------ time

    def poll(self, now: float) -> None:
        """Do what is due at ``now``: clock timeout, phrase end, accompaniment bar, handing notes over."""
        event = self.transport.check_timeout(now)
        if event is not None:
            self._on_transport(event, now)
        self._report_tempo()
        if not self.transport.running:
            return
        deadline = self._hold_deadline()
        if deadline is not None and now >= deadline:
            self._release_held(now)
        deadline = self._phrase_deadline()
        if deadline is not None and now >= deadline and self.answering is not None:
            self.answering.commit()
        deadline = self._bar_deadline()
        if deadline is not None and now >= deadline:
            self._make_bar(now)
        self._hand_over(now)

    def _time_of(self, tick: float) -> float | None:
        try:
            return self.transport.time_of_tick(tick)
        except LookupError:  # MIDI Start heard, no pulse yet: nothing has a time
            return None

    def _phrase_deadline(self) -> float | None:
        tick = None if self.answering is None else self.answering.deadline_tick()
        return None if tick is None else self._time_of(tick)

    def _handoff_deadline(self) -> float | None:
        start = self._plan.next_start()
        if start is None or not self.transport.running:
            return None
        when = self._time_of(start)
        return None if when is None else when - HANDOFF_S

    def _hand_over(self, now: float) -> None:
        """Give the scheduler every planned note due within :data:`HANDOFF_S`."""
        if not self._plan:
            return
        horizon = self.transport.tick_at(now + HANDOFF_S)
        tolerance = self._scheduler.late_tolerance_s
        for planned in self._plan.pop_until(horizon):
            note = planned.note
            on_s = self._time_of(note.start)
            off_s = self._time_of(note.end)
            if on_s is None or off_s is None:
                continue
            early = self.preset.midi.output_latency_ms / 1e3  # a synth that sounds late gets its notes early
            on_s, off_s = on_s - early, off_s - early
            if now - on_s > tolerance:
                self.counts.late_planned += 1
                continue
            self._scheduler.schedule(on_s, mido.Message(NOTE_ON, channel=note.channel, note=note.pitch,
                                                        velocity=note.velocity), self._port, planned.group)
            self._scheduler.schedule(max(off_s, on_s), mido.Message(NOTE_OFF, channel=note.channel,
                                                                    note=note.pitch, velocity=0),
                                     self._port, planned.group)
            self.counts.notes_sent += 1
            if self._feedback is not None:
                self._feedback.note(note.pitch, note.velocity, note.channel, note.duration / MIDI_CLOCK_PPQN)

    def _report_tempo(self) -> None:
        transport = self.transport
        if transport.source != MIDI or not transport.running or transport.midi.pulses_received < TEMPO_REPORT_PULSES:
            return
        bpm = transport.bpm
        if self._tempo_reported is None or abs(bpm - self._tempo_reported) >= TEMPO_REPORT_CHANGE_BPM:
            self._tempo_reported = bpm
            log.info("MIDI clock tempo: %.2f bpm", bpm)

    def _on_transport(self, event: TransportEvent, time_s: float) -> None:
        if event is TransportEvent.CONTINUED:
            if self._accompanist is not None:
                self._accompanist.reset()
            log.info("MIDI Continue")
            return
        if event is TransportEvent.INTERNAL:
            self._controls.set_live("bpm", round(min(max(self.transport.bpm, MIN_BPM), MAX_BPM), 2))
            self._tempo_reported = None
            return
        self.silence(event.value)
        self._tempo_reported = None
        if event is TransportEvent.FOLLOWING_MIDI:
            log.info("clock: following MIDI clock")

    # ------------------------------------------------------------------ sampling work

    def work(self, deadline_s: float) -> None:
        """Prepare the answer if a silence began, then sample answers until ``deadline_s`` (clock seconds)."""
        if self.answering is not None:
            self.answering.work(self.preset, lambda: self._clock() >= deadline_s)

    # ------------------------------------------------------------------ what the controls ask (Conductor)

    def handle_control(self, event: ControlEvent) -> None:
        """Act on one control event (SetParams were applied to the live state already)."""
        self._controls.handle(event)

    def respeculate(self) -> None:
        """Parameters changed during a silence: prepare the answer again with them."""
        if self.answering is not None:
            self.answering.respeculate(self.preset)

    def reset_parts(self) -> None:
        """Forget the phrase, the model's state and the band's last bar; parameters keep their values."""
        if self.answering is not None:
            self.answering.reset()
        if self._accompanist is not None:
            self._accompanist.reset()

    def answer_now(self, lead_s: float) -> str | None:
        """``/antiphon/generate``: answer from the first grid step ``lead_s`` ahead; why not, if it cannot."""
        if self.answering is None:
            return f"mode {self.mode!r} does not answer; set mode respond or both"
        if not self.transport.running:
            return "the DAW is stopped (MIDI Stop); start it to hear an answer"
        self.answering.answer_now(self.preset, self.transport.tick_at(self._clock() + lead_s))
        return None

    def stats(self) -> dict[str, int]:
        """Every count, with the input queue's and scheduler's drops (for status and the last log line)."""
        counts = asdict(self.counts)
        counts.update(asdict(self._input.counts))
        counts["input_dropped"] = self._inputs.dropped
        counts["late_dropped"] = self._scheduler.stats().late_note_ons_dropped
        return counts

    def silence(self, why: str) -> None:
        """Close every sounding note (note-offs, CC 123), drop everything planned, start listening afresh."""
        self._scheduler.panic()
        self._plan.clear()
        self._input.all_off()
        if self.answering is not None:
            self.answering.silence()
        if self._accompanist is not None:
            self._accompanist.reset()
        log.info("silenced: %s", why)
        if self._feedback is not None:
            self._feedback.silenced(why)

    def play(self, preset: Preset, mode: str, pair: ModelPair) -> None:
        """Play ``preset`` in ``mode`` with ``pair``'s models (the caller silenced what sounded)."""
        self.preset = preset
        self.mode = mode
        lstm, gan = pair.lstm, pair.gan
        self.answering = None
        if lstm is not None and mode in RESPOND_MODES:
            responder = Responder(lstm, prompt_mode(preset.midi.prompt, lstm))
            self.answering = Answering(responder, self.transport, self._state, self._plan, self._scheduler,
                                       self.counts, self._sampling.params, self._error, self._rng, self._groups,
                                       self._feedback)
        self._accompanist = band_for(gan, self._state.snapshot, self._sampling.params) \
            if gan is not None and mode in ACCOMPANY_MODES else None
        if self._accompanist is not None and not preset.accompany.channels:
            self._controls.set_live("accompany_channels", tuple(t.channel for t in gan.spec.tracks), quiet=True)

    def _error(self, address: str, message: str) -> None:
        if self._feedback is not None:
            self._feedback.error(address, message)


def _shown(msg: mido.Message) -> str:
    """One MIDI message for the monitor: channels 1-16, as a musician reads them."""
    if hasattr(msg, "channel"):
        text = str(msg.copy(time=0)).replace(" time=0", "")
        return text.replace(f"channel={msg.channel}", f"ch={msg.channel + 1}")
    return str(msg.copy(time=0)).replace(" time=0", "") if msg.type != "sysex" else f"sysex ({len(msg.data)} bytes)"
