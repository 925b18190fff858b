"""Clock logic on hand-fed pulse times (the JACK test with jack_midi_clock is the real proof)."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.errors import AntiphonError
from daemon.live.clock import InternalClock, MidiClock
from daemon.music.grid import Grid

GRID = Grid(12)  # 2 MIDI clock pulses per tick


def feed(clock: MidiClock, bpm: float, pulses: int, t0: float, jitter_s: float = 0.0, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    period = 60.0 / (bpm * 24)
    for k in range(pulses):
        clock.pulse(t0 + k * period + rng.uniform(-jitter_s, jitter_s))
    return t0 + pulses * period


def test_tempo_is_followed_within_half_a_bpm_despite_jack_period_jitter() -> None:
    clock = MidiClock(GRID, fallback_bpm=90)
    clock.start(0.0)
    feed(clock, 127.0, 200, t0=0.01, jitter_s=64 / 48000)  # a JACK period of 64 frames at 48 kHz
    assert clock.bpm == pytest.approx(127.0, abs=0.5)


def test_tempo_change_is_followed_within_a_window() -> None:
    clock = MidiClock(GRID, window_pulses=48)
    clock.start(0.0)
    t = feed(clock, 100.0, 96, 0.0)
    feed(clock, 140.0, 48, t)
    assert clock.bpm == pytest.approx(140.0, abs=0.01)


def test_position_counts_pulses_from_start_and_predicts_beat_times() -> None:
    clock = MidiClock(GRID)
    clock.start(5.0)
    period = 60.0 / (120 * 24)
    feed(clock, 120.0, 48, t0=5.1)  # two beats
    assert clock.position_pulses == 48
    assert clock.tick_at(5.1 + 48 * period) == pytest.approx(24.0)
    assert clock.time_of_tick(48) == pytest.approx(5.1 + 96 * period)  # the next bar line


def test_stop_freezes_position_and_continue_resumes_from_it() -> None:
    clock = MidiClock(GRID)
    clock.start(0.0)
    t = feed(clock, 120.0, 30, 0.0)
    clock.stop(t)
    assert not clock.running
    clock.pulse(t + 1.0)  # clocks while stopped do not move the song
    assert clock.tick_at(t + 5.0) == 15.0
    clock.continue_(t + 10.0)
    feed(clock, 120.0, 6, t + 10.0)
    assert clock.position_pulses == 36


def test_song_position_pointer_moves_the_song() -> None:
    clock = MidiClock(GRID)
    clock.song_position(16)  # bar 2 in sixteenths
    clock.continue_(0.0)
    clock.pulse(1.0)
    assert clock.tick_at(1.0) == pytest.approx(48.0)


def test_start_resets_to_the_top_and_needs_a_pulse_for_timing() -> None:
    clock = MidiClock(GRID)
    clock.start(0.0)
    feed(clock, 120.0, 10, 0.0)
    clock.start(3.0)
    assert clock.position_pulses == 0
    with pytest.raises(LookupError):
        clock.time_of_tick(0)


def test_a_stalled_master_restarts_the_fit_instead_of_skewing_tempo() -> None:
    clock = MidiClock(GRID)
    clock.start(0.0)
    t = feed(clock, 120.0, 48, 0.0)
    feed(clock, 120.0, 48, t + 10.0)  # ten seconds of silence, then the same tempo
    assert clock.glitches == 1
    assert clock.bpm == pytest.approx(120.0, abs=0.01)


def test_internal_clock_keeps_position_across_tempo_changes() -> None:
    clock = InternalClock(GRID, bpm=120.0, origin_s=2.0)
    assert clock.tick_at(2.5) == pytest.approx(12.0)
    clock.set_bpm(60.0, now_s=2.5)
    assert clock.tick_at(2.5) == pytest.approx(12.0)
    assert clock.time_of_tick(24) == pytest.approx(3.5)
    clock.stop(3.0)
    assert clock.tick_at(100.0) == pytest.approx(18.0)
    with pytest.raises(AntiphonError, match="outside"):
        clock.set_bpm(1000.0, 3.0)
