"""Port finding and the stamping input queue, without a MIDI system."""

from __future__ import annotations

import mido
import pytest

from daemon.errors import PortError
from daemon.io.midi import InputQueue, find_port, jack_full_name

PORTS = [
    "Midi Through:Midi Through Port-0 14:0",
    "loopMIDI Port A",
    "loopMIDI Port B",
    "Antiphon-01:Antiphon Out",
]


def test_find_port_takes_an_exact_name_or_a_unique_part_of_one() -> None:
    assert find_port(PORTS, "loopMIDI Port A", "input") == "loopMIDI Port A"
    assert find_port(PORTS, "through", "input") == "Midi Through:Midi Through Port-0 14:0"
    assert find_port(PORTS, "port b", "output") == "loopMIDI Port B"


def test_an_ambiguous_port_name_lists_the_matches() -> None:
    with pytest.raises(PortError, match="several MIDI input ports.*'loopMIDI Port A', 'loopMIDI Port B'"):
        find_port(PORTS, "loopMIDI", "input")


def test_a_missing_port_name_lists_the_candidates() -> None:
    with pytest.raises(PortError, match="no MIDI output port matches 'Keystation'.*'loopMIDI Port A'"):
        find_port(PORTS, "Keystation", "output")
    with pytest.raises(PortError, match="the input ports are: none"):
        find_port([], "anything", "input")


def test_jack_full_name_finds_a_renamed_client() -> None:
    assert jack_full_name("Antiphon Out", "Antiphon", PORTS) == "Antiphon-01:Antiphon Out"
    assert jack_full_name("Antiphon In", "Antiphon", PORTS) == "Antiphon In"


def test_input_queue_stamps_with_its_clock_and_drops_when_full() -> None:
    times = iter([1.0, 2.0, 3.0])
    inputs = InputQueue(maxsize=2, clock=lambda: next(times))
    first, second, third = (mido.Message("note_on", note=n) for n in (60, 61, 62))
    inputs.put(first)
    inputs.put(second)
    inputs.put(third)  # full: dropped, counted, never blocks
    assert inputs.dropped == 1
    assert inputs.get(0.01) == (1.0, first)
    assert inputs.get(0.01) == (2.0, second)
    assert inputs.get(0.01) is None


def test_a_port_name_that_exists_twice_is_used_and_said(caplog: pytest.LogCaptureFixture) -> None:
    twice = ["Synth:In", "Synth:In", "Other"]
    with caplog.at_level("WARNING", logger="daemon.io.midi"):
        assert find_port(twice, "Synth:In", "output") == "Synth:In"
    assert "2 MIDI output ports are called 'Synth:In'" in caplog.text
