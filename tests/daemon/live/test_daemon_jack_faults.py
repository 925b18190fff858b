"""The daemon, whole, through a real JACK server: bad input, floods, echoes, broken presets, signals.

Same rig as ``test_daemon_jack.py`` (:mod:`tests.daemon.live.jack_daemon`).
"""


from __future__ import annotations

import signal
import time
from collections.abc import Callable

import mido
import pytest
import rtmidi

from benchmarks.jack_rig import (
    Daemon,
    Peer,
    jack_connect,
    jack_disconnect,
    note_off,
    note_on,
)
from daemon.live.scheduler import ALL_NOTES_OFF, is_note_on
from tests.daemon.corpus_phrase import Phrase
from tests.daemon.live.jack_daemon import (
    SEED,
    Setup,
    _ports,
    all_closed,
    grid_phase,
    phrase_events,
    play_and_hear_answer,
    reset,
    short,
)

pytestmark = pytest.mark.jack


def test_bad_input_is_survived_and_playing_continues(rig: tuple[Daemon, Peer], setup: Setup, phrase: Phrase) -> None:
    daemon, peer = rig
    reset(daemon, peer)
    before = daemon.status()
    raw = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=f"Raw{daemon.client_name}")
    raw.open_virtual_port("Raw Out")
    try:
        jack_connect(next(p for p in _ports() if p.startswith(f"Raw{daemon.client_name}")), daemon.port("Antiphon In"))
        for msg in (note_off(50), note_off(51, channel=3), mido.Message("note_on", note=52, velocity=0),
                    mido.Message("sysex", data=[0x7E, 0x7F, 0x06, 0x01]),
                    mido.Message("sysex", data=list(range(100)))):
            peer.send(msg)
        # Running status on the wire: data bytes that lean on the status byte before them.
        # rtmidi sends each call as one event; a status-less event cannot be parsed on its own.
        for event in ([0x90, 60, 100], [64, 100], [67, 100], [0x80, 60, 0], [64, 0], [67, 0], [0x91, 61], [0xF8, 0]):
            raw.send_message(event)
        for channel in range(16):
            peer.send(note_on(40 + channel, channel))
        time.sleep(0.05)
        for channel in range(16):
            peer.send(note_off(40 + channel, channel))
        time.sleep(0.3)
    finally:
        raw.close_port()
        raw.delete()
    reset(daemon, peer)
    _, answer = play_and_hear_answer(daemon, peer, setup, short(phrase))
    assert answer, "no answer after the bad input"
    after = daemon.status()
    assert after["ignored"] >= before["ignored"] + 2, "the SysEx messages were not counted as ignored"
    assert daemon.proc.poll() is None and "Traceback" not in daemon.stderr()


def test_a_flood_of_5000_events_a_second_is_counted_not_fatal(
        rig: tuple[Daemon, Peer], setup: Setup, phrase: Phrase, report: Callable[[str], None]) -> None:
    daemon, peer = rig
    reset(daemon, peer)
    before = daemon.status()
    begin = time.perf_counter()
    events = []
    for k in range(2500):  # 5,000 messages in one second
        events.append((k * 4e-4, note_on(36 + k % 48, k % 8, 1 + k % 120)))
        events.append((k * 4e-4 + 2e-4, note_off(36 + k % 48, k % 8)))
    peer.play(events, origin_s=begin)
    took = time.perf_counter() - begin
    time.sleep(0.5)
    reset(daemon, peer)
    _, answer = play_and_hear_answer(daemon, peer, setup, short(phrase))
    after = daemon.status()
    assert answer, "no answer after the flood"
    assert daemon.proc.poll() is None and "Traceback" not in daemon.stderr()
    heard = after["messages"] - before["messages"]
    dropped = after["input_dropped"] - before["input_dropped"]
    report(f"flood of 5,000 note messages in {took:.2f} s: daemon read {heard} messages (clock included), "
           f"{dropped} dropped at its full input queue (counted), still answering")


# ------------------------------------------------------------------ echoes


def test_output_looped_back_to_input_is_not_answered(rig: tuple[Daemon, Peer], setup: Setup, phrase: Phrase,
                                                      report: Callable[[str], None]) -> None:
    daemon, peer = rig
    reset(daemon, peer)
    before = daemon.status()
    jack_connect(daemon.port("Antiphon Out"), daemon.port("Antiphon In"))
    try:
        _, answer = play_and_hear_answer(daemon, peer, setup, short(phrase))
        time.sleep(setup.answer_bars * setup.beats_per_bar * setup.beat_s)  # long enough for an answer to the answer
        after = daemon.status()
    finally:
        jack_disconnect(daemon.port("Antiphon Out"), daemon.port("Antiphon In"))
    assert answer
    assert after["phrases"] - before["phrases"] == 1, "the daemon answered its own answer"
    echoes = after["echoes"] - before["echoes"]
    assert echoes >= 2 * len(answer), f"{echoes} echoes dropped for {len(answer)} answer notes"
    report(f"output looped to input: {echoes} echoes dropped for an answer of {len(answer)} notes; one phrase answered")


# ------------------------------------------------------------------ presets


def test_a_live_switch_to_a_broken_preset_keeps_the_model_and_the_clock(
        rig: tuple[Daemon, Peer], setup: Setup, phrase: Phrase) -> None:
    daemon, peer = rig
    reset(daemon, peer)
    assert daemon.replies is not None
    for name, expected in (("broken", "does not exist"), ("notonnx", "not an ONNX model"),
                           ("nosuchpreset", "no preset called 'nosuchpreset'")):
        start = daemon.replies.mark()
        daemon.osc("/antiphon/preset", name)
        error = daemon.replies.wait_for(lambda m: m.address == "/antiphon/error", start=start)
        assert error.params[0] == "/antiphon/preset" and expected in error.params[1], error.params
    status = daemon.status()
    assert status["preset"] == setup.preset
    # a good switch (the same preset again) keeps the clock where it was
    position = grid_phase(daemon, setup.bpm)
    daemon.osc("/antiphon/preset", setup.preset)
    time.sleep(0.5)
    status = daemon.status()
    assert abs(status["clock"][3] - position(status["clock_received_s"])) < 0.05, "the clock moved on a preset switch"
    _, answer = play_and_hear_answer(daemon, peer, setup, short(phrase))
    assert answer


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_in_the_middle_of_an_answer_leaves_no_note_sounding(
        setup: Setup, phrase: Phrase, jack_server: str, signum: int) -> None:
    peer = Peer()
    daemon = Daemon("--preset", setup.preset, "--seed", SEED, env=setup.env(), osc=False)
    try:
        daemon.wait_for("ready")
        peer.wire(daemon)
        peer.play(phrase_events(short(phrase), setup.beat_s))
        peer.wait_until(lambda got: any(is_note_on(m) and m.channel == setup.answer_channel for _, m in got),
                        timeout_s=10.0, what="the answer's first note")
        assert daemon.signal(signum) == 0

        def silenced(got: list[tuple[float, mido.Message]]) -> bool:  # CC 123 on the answer channel comes last
            return any(m.type == "control_change" and m.control == ALL_NOTES_OFF and m.channel == setup.answer_channel
                       for _, m in got)

        peer.wait_until(silenced, timeout_s=2.0, what="the daemon's closing CC 123")  # in flight when it exited
        timed = peer.timed()
    finally:
        daemon.stop()
        peer.close()
    assert all_closed(timed), [m for _, m in timed]
    assert "Traceback" not in daemon.stderr()
    assert "stopped:" in daemon.stderr()

