"""The daemon, whole, through a real JACK server: the band plays bars on its channels, on the grid.

Same rig as ``test_daemon_jack.py`` (:mod:`tests.daemon.live.jack_daemon`).
"""


from __future__ import annotations

import time
from collections.abc import Callable

import mido
import pytest

from benchmarks.jack_rig import (
    Daemon,
    Peer,
    note_off,
    note_on,
)
from daemon.live.scheduler import ALL_NOTES_OFF, is_note_on
from tests.daemon.live.jack_daemon import (
    Setup,
    _assert_on_grid,
    all_closed,
    grid_error_s,
    grid_phase,
    heard_notes,
    ms,
    reset,
)
from tests.daemon.live.test_accompany import PROGRESSION

pytestmark = pytest.mark.jack


def test_accompany_plays_bars_on_its_channels_on_the_grid_and_a_mode_switch_closes_them(
        rig: tuple[Daemon, Peer], setup: Setup, report: Callable[[str], None]) -> None:
    daemon, peer = rig
    reset(daemon, peer)
    if setup.bundled:  # the bundled GAN band: the grooves preset plays drums, bass, chords on 10, 2, 3
        daemon.osc("/antiphon/preset", "grooves")
        time.sleep(0.5)
        channels, back, band = {9, 1, 2}, ("/antiphon/preset", setup.preset), "bundled gan-grooves"
    else:
        daemon.osc("/antiphon/set/mode", "accompany")
        channels, back, band = {9, 2, 3}, ("/antiphon/set/mode", "respond"), "tiny GAN"  # [accompany] 10, 3, 4
    bpm = float(daemon.status()["clock"][1])
    beat_s = 60.0 / bpm
    position = grid_phase(daemon, bpm)
    peer.wait_until(lambda got: any(is_note_on(m) and m.channel in channels for _, m in got),
                    timeout_s=4 * setup.beats_per_bar * beat_s, what="an accompaniment note")
    time.sleep(setup.beats_per_bar * beat_s)
    daemon.osc(*back)
    time.sleep(0.3)
    timed = peer.timed()
    notes = [h for h in heard_notes(timed) if h.channel in channels]
    assert notes
    assert {h.channel for h in heard_notes(timed)} <= channels | {setup.answer_channel}
    errors = [grid_error_s(position(h.on_s), 0.25, beat_s) for h in notes]  # sixteenth-note steps
    _assert_on_grid(errors, "accompaniment onsets vs sixteenth steps")
    assert all_closed(timed)
    assert any(m.type == "control_change" and m.control == ALL_NOTES_OFF for _, m in timed)
    report(f"accompaniment ({band}): {len(notes)} notes on channels {sorted(c + 1 for c in channels)}, "
           f"onsets vs sixteenth steps {ms(errors)}")


def test_the_groove_band_keeps_drumming_under_a_players_chords(
        rig: tuple[Daemon, Peer], setup: Setup, report: Callable[[str], None]) -> None:
    """Hold a triad a bar on channel 1: the bundled groove band goes on with drums and bass, the
    parts the player leaves out, in every bar it makes from the chords (daemon.live.accompany; without it about half
    the bars lose their drums)."""
    if not setup.bundled:
        pytest.skip("the bundled groove model plays the band; a tiny random GAN says nothing of it")
    daemon, peer = rig
    reset(daemon, peer)
    daemon.osc("/antiphon/preset", "grooves")
    time.sleep(0.5)
    bars = 8
    try:
        bpm = float(daemon.status()["clock"][1])
        beat_s = 60.0 / bpm
        bar_s = 4 * beat_s
        position = grid_phase(daemon, bpm)
        now = time.perf_counter()
        start = now + ((-position(now) % 4) + 4) * beat_s  # the bar line after next
        events: list[tuple[float, mido.Message]] = []
        for b in range(bars):
            for pitch in PROGRESSION[b % len(PROGRESSION)]:
                events += [(b * bar_s + 0.01, note_on(pitch, 0, 90)), ((b + 0.9) * bar_s, note_off(pitch, 0))]
        peer.play(sorted(events, key=lambda e: (e[0], e[1].type == "note_on")), origin_s=start)
        time.sleep(max(0.0, start + (bars + 1) * bar_s + 0.3 - time.perf_counter()))  # the bar made from the last chord
    finally:
        daemon.osc("/antiphon/preset", setup.preset)
        time.sleep(0.3)
    timed = peer.timed()
    first = round(position(start))  # the bar line the chords began on
    made = range(1, bars + 1)  # bars made from the chords heard in the bar before

    def bars_with(channel: int) -> list[int]:
        return sorted({round((position(h.on_s) - first) * 4) // 16 for h in heard_notes(timed, {channel})}
                      & set(made))  # each onset in the bar of its nearest sixteenth

    drums, bass = bars_with(9), bars_with(1)
    assert all_closed(timed)
    report(f"groove band under held triads (bundled gan-grooves): drums in bars {drums}, bass in bars {bass} "
           f"of {list(made)}")
    # the band may sit a bar out now and then (its drums rest in about 8 % of bars, as the grooves' do)
    assert len(drums) >= len(made) - 1, f"the band dropped its drums: drum bars {drums} of {list(made)}"
    assert all(b in drums or b + 1 in drums for b in made[:-1]), f"two bars without drums: {drums}"


# ------------------------------------------------------------------ signals


