"""Which clock is followed: MIDI clock while pulses arrive, the internal clock otherwise."""

from __future__ import annotations

import pytest

from daemon.live.transport import INTERNAL, MIDI, Transport, TransportEvent

PULSE_100_BPM_S = 60.0 / (100 * 24)


def pulses(transport: Transport, start_s: float, n: int, period_s: float = PULSE_100_BPM_S) -> float:
    for k in range(n):
        transport.handle("clock", start_s + k * period_s)
    return start_s + (n - 1) * period_s


def test_the_internal_clock_runs_from_the_start_at_the_preset_tempo() -> None:
    transport = Transport(bpm=120.0, now_s=10.0)
    assert transport.source == INTERNAL and transport.running
    assert transport.tick_at(10.5) == pytest.approx(24.0)  # one beat = 24 ticks
    assert transport.time_of_tick(48.0) == pytest.approx(11.0)


def test_the_first_pulse_switches_to_midi_clock_and_its_tempo_is_estimated() -> None:
    transport = Transport(bpm=120.0, now_s=0.0)
    assert transport.handle("clock", 1.0) is TransportEvent.FOLLOWING_MIDI
    last = pulses(transport, 1.0 + PULSE_100_BPM_S, 60)
    assert transport.source == MIDI and transport.running  # pulses without a Start are followed
    assert transport.bpm == pytest.approx(100.0, abs=1e-6)
    assert transport.tick_at(last) == pytest.approx(60.0, abs=1e-6)


def test_start_counts_from_the_top_and_stop_freezes_the_position() -> None:
    transport = Transport(bpm=120.0, now_s=0.0)
    assert transport.handle("start", 1.0) is TransportEvent.STARTED
    with pytest.raises(LookupError):
        transport.time_of_tick(0)  # no pulse yet: nothing has a time
    last = pulses(transport, 1.01, 48)
    assert transport.tick_at(last) == pytest.approx(47.0, abs=1e-6)
    assert transport.handle("stop", last + 0.001) is TransportEvent.STOPPED
    assert not transport.running
    assert transport.tick_at(last + 5.0) == transport.tick_at(last + 0.1)
    assert transport.handle("continue", last + 6.0) is TransportEvent.CONTINUED
    assert transport.running


def test_a_second_without_pulses_brings_the_internal_clock_back_at_the_last_tempo_in_place() -> None:
    transport = Transport(bpm=120.0, now_s=0.0, timeout_s=1.0)
    transport.handle("start", 0.5)
    last = pulses(transport, 0.51, 96)
    assert transport.deadline_s() == pytest.approx(last + 1.0)
    assert transport.check_timeout(last + 0.99) is None
    position = transport.tick_at(last + 1.0)
    assert transport.check_timeout(last + 1.0) is TransportEvent.INTERNAL
    assert transport.source == INTERNAL and transport.bpm == pytest.approx(100.0, abs=1e-6)
    assert transport.tick_at(last + 1.0) == pytest.approx(position)
    assert transport.tick_at(last + 1.6) == pytest.approx(position + 24.0)  # 0.6 s at 100 bpm is one beat


def test_stop_and_song_position_without_midi_clock_silence_but_do_not_switch() -> None:
    transport = Transport(bpm=120.0, now_s=0.0)
    assert transport.handle("songpos", 1.0, song_position=8) is None
    assert transport.handle("stop", 1.1) is TransportEvent.STOPPED
    assert transport.source == INTERNAL and transport.running
    transport.handle("continue", 2.0)
    transport.handle("clock", 2.01)
    assert transport.tick_at(2.01) == pytest.approx(48.0)  # 8 sixteenths = 48 pulses


def test_following_midi_clock_can_be_turned_off() -> None:
    transport = Transport(bpm=90.0, now_s=0.0, follow_midi=False)
    assert transport.handle("start", 1.0) is None and transport.handle("clock", 1.01) is None
    assert transport.source == INTERNAL and transport.bpm == 90.0


def test_meter_and_tempo_changes_keep_the_position() -> None:
    transport = Transport(bpm=120.0, now_s=0.0)
    position = transport.tick_at(3.0)
    transport.set_bpm(60.0, 3.0)
    transport.set_meter(3, 4)
    assert transport.tick_at(3.0) == pytest.approx(position)
    assert transport.ticks_per_bar == 72
    assert transport.tick_at(4.0) == pytest.approx(position + 24.0)
