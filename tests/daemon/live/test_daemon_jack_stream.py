"""The daemon, whole, through a real JACK server: streams that used to leave it deaf.

A zero-length note (its note-off before its note-on at the same instant), a note-off that never
comes, and a flood of note-ons with no note-offs on every channel: each phrase is still answered,
the next phrase too, and nothing is left sounding on the output. Same rig as
``test_daemon_jack.py`` (:mod:`tests.daemon.live.jack_daemon`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import mido
import pytest

from benchmarks.jack_rig import Daemon, Peer, note_off, note_on
from daemon.live.scheduler import is_note_on
from daemon.music.notes import Note
from tests.daemon.corpus_phrase import Phrase
from tests.daemon.live.jack_daemon import (
    Setup,
    all_closed,
    grid_phase,
    phrase_events,
    play_and_hear_answer,
    reset,
    short,
)

pytestmark = pytest.mark.jack

HOLD_LIMIT_BEATS = 2.0  # set over OSC for these tests: a dropped note-off costs two beats, not the default eight


def _answer_notes(peer: Peer, setup: Setup, after_s: float) -> list[tuple[float, mido.Message]]:
    return [(t, m) for t, m in peer.timed() if t > after_s and is_note_on(m) and m.channel == setup.answer_channel]


def _play_and_wait_answer(daemon: Daemon, peer: Peer, setup: Setup, events: list[tuple[float, mido.Message]],
                          wait_beats: float) -> tuple[float, list[tuple[float, mido.Message]]]:
    """Play ``events`` from the beat after next; wait for the answer's first note; return (start, answer ons)."""
    position = grid_phase(daemon, setup.bpm)
    now = time.perf_counter()
    start = now + ((-position(now) % 1) + 1) * setup.beat_s
    peer.play(events, origin_s=start)
    last = start + max(offset for offset, _ in events)
    peer.wait_until(lambda got: any(t > last and is_note_on(m) and m.channel == setup.answer_channel
                                    for t, m in got),
                    timeout_s=last - time.perf_counter() + wait_beats * setup.beat_s + 5.0, what="an answer")
    time.sleep((setup.answer_bars * setup.beats_per_bar + 1) * setup.beat_s)
    return start, _answer_notes(peer, setup, last)


def test_a_phrase_with_a_zero_length_note_then_a_normal_phrase_are_both_answered(
        rig: tuple[Daemon, Peer], setup: Setup, phrase: Phrase, report: Callable[[str], None]) -> None:
    daemon, peer = rig
    reset(daemon, peer)
    before = daemon.status()
    notes = short(phrase)
    events = phrase_events(notes, setup.beat_s)
    at = events[len(events) // 2][0]
    pitch = notes[0].pitch + 2
    # The merged stream's zero-length note: its note-off first, its note-on at the same instant.
    events = sorted([*events, (at, note_off(pitch)), (at, note_on(pitch, velocity=90))],
                    key=lambda e: (e[0], e[1].type == "note_on"))
    _, first = _play_and_wait_answer(daemon, peer, setup, events, wait_beats=4)
    assert first, "the phrase with a zero-length note was not answered"
    reset(daemon, peer)
    _, second = play_and_hear_answer(daemon, peer, setup, notes)
    assert second, "the phrase after it was not answered"
    after = daemon.status()
    assert after["zero_length_notes"] >= before["zero_length_notes"] + 1
    assert after["phrases"] >= before["phrases"] + 2
    report(f"zero-length note in a phrase: answered ({len(first)} notes), the next phrase answered "
           f"({len(second)} notes)")


def test_a_phrase_whose_last_note_off_is_dropped_is_answered_after_the_hold_limit(
        rig: tuple[Daemon, Peer], setup: Setup, phrase: Phrase, report: Callable[[str], None]) -> None:
    daemon, peer = rig
    reset(daemon, peer)
    daemon.osc("/antiphon/set/hold_limit_beats", HOLD_LIMIT_BEATS)
    try:
        notes = short(phrase)
        events = phrase_events(notes, setup.beat_s)
        last_off = max(i for i, (_, m) in enumerate(events) if m.type == "note_off")
        dropped = events.pop(last_off)
        last_onset = max(offset for offset, m in events if is_note_on(m))
        start, answer = _play_and_wait_answer(daemon, peer, setup, events, wait_beats=HOLD_LIMIT_BEATS + 4)
        assert answer, "no answer: the dropped note-off kept the phrase open"
        waited_beats = (answer[0][0] - (start + last_onset)) / setup.beat_s
        assert waited_beats >= HOLD_LIMIT_BEATS - 0.05, f"answered {waited_beats:.2f} beats after the last onset"
        peer.send(dropped[1])  # the lost note-off comes after all
        reset(daemon, peer)
        _, again = play_and_hear_answer(daemon, peer, setup, notes)
        assert again, "the next phrase was not answered"
        assert all_closed(peer.timed()), "a note was left sounding on the output"
        assert daemon.status()["held_released"] >= 1
    finally:
        daemon.osc("/antiphon/set/hold_limit_beats", 8.0)
    report(f"dropped last note-off: answered {waited_beats:.2f} beats after the last onset "
           f"(hold limit {HOLD_LIMIT_BEATS:g} beats, then the phrase end and the answer's start beat)")


def test_a_flood_of_note_ons_with_no_offs_on_every_channel_is_survived(
        rig: tuple[Daemon, Peer], setup: Setup, phrase: Phrase) -> None:
    daemon, peer = rig
    reset(daemon, peer)
    daemon.osc("/antiphon/set/hold_limit_beats", HOLD_LIMIT_BEATS)
    try:
        flood = [(i * 0.002, note_on(36 + (i % 48), channel=i % 16, velocity=100)) for i in range(16 * 12)]
        _, answer = _play_and_wait_answer(daemon, peer, setup, flood, wait_beats=HOLD_LIMIT_BEATS + 4)
        assert answer, "no answer after a flood of note-ons with no note-offs"
        reset(daemon, peer)
        _, again = play_and_hear_answer(daemon, peer, setup, [Note(0, 65, 12), Note(12, 67, 12)])
        assert again, "the next phrase was not answered"
        assert all_closed(peer.timed()), "a note was left sounding on the output"
        assert daemon.proc.poll() is None and "Traceback" not in daemon.stderr()
    finally:
        daemon.osc("/antiphon/set/hold_limit_beats", 8.0)
