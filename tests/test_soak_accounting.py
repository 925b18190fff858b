"""The soak benchmark's accounting of notes left down, across a JACK server's stop and return (logic only)."""

from __future__ import annotations

import mido

from benchmarks.soak import closed_on_return, down_keys, stuck_notes


def msg(kind: str, note: int = 60, channel: int = 2, velocity: int = 80) -> tuple[float, mido.Message]:
    if kind == "cc123":
        return 0.0, mido.Message("control_change", channel=channel, control=123, value=0)
    return 0.0, mido.Message(kind, channel=channel, note=note, velocity=velocity if kind == "note_on" else 0)


def test_a_note_on_without_its_note_off_is_stuck_and_all_notes_off_does_not_excuse_it_at_the_end() -> None:
    timed = [msg("note_on", 60), msg("note_on", 62), msg("note_off", 62), msg("cc123")]
    assert down_keys(timed) == {(2, 60): 1}
    assert stuck_notes(timed) == 1
    assert stuck_notes([msg("note_on", 60), msg("note_on", 60, velocity=0)]) == 0


def test_notes_cut_by_a_server_stop_are_closed_by_a_note_off_or_cc_123_before_they_are_played_again() -> None:
    cut = {(2, 50): 1, (2, 64): 1, (3, 40): 1, (4, 70): 1}
    after = [msg("note_off", 50), msg("cc123", channel=2), msg("note_on", 40, channel=3), msg("note_off", 40, channel=3)]
    assert closed_on_return(cut, after) == (1, 1), "50 by its note-off, 64 by CC 123; 40 played again first; 70 never"
