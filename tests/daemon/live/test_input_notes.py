"""The input ledger repairs the stream: offs before ons, dropped offs, CC 120/123, orphans."""

from __future__ import annotations

from daemon.live.input_notes import ZERO_LENGTH_TICKS, InputNotes, NoteEvent


def test_a_paired_note_passes_through() -> None:
    notes = InputNotes()
    assert notes.note_on(0.0, 0, 60, 90) == [NoteEvent(True, 0, 60, 90)]
    assert notes.held == 1
    assert notes.note_off(12.0, 0, 60) == [NoteEvent(False, 0, 60, 0)]
    assert notes.held == 0


def test_an_off_just_before_its_on_makes_a_zero_length_note() -> None:
    notes = InputNotes()
    assert notes.note_off(24.0, 0, 64) == []
    assert notes.note_on(24.0, 0, 64, 80) == [NoteEvent(True, 0, 64, 80), NoteEvent(False, 0, 64, 0)]
    assert notes.held == 0
    assert notes.counts.zero_length_notes == 1


def test_an_off_long_before_an_on_is_an_orphan_and_the_note_stays_down() -> None:
    notes = InputNotes()
    assert notes.note_off(24.0, 0, 64) == []
    assert notes.note_on(24.0 + 2 * ZERO_LENGTH_TICKS, 0, 64, 80) == [NoteEvent(True, 0, 64, 80)]
    assert notes.held == 1
    assert notes.counts.orphan_offs == 1 and notes.counts.zero_length_notes == 0


def test_offs_for_notes_never_played_are_dropped_and_counted() -> None:
    notes = InputNotes()
    for pitch in range(128):
        assert notes.note_off(float(pitch), 3, pitch) == []
    assert notes.counts.orphan_offs == 128 and notes.held == 0


def test_a_key_struck_twice_needs_two_offs() -> None:
    notes = InputNotes()
    notes.note_on(0.0, 0, 60, 90)
    notes.note_on(6.0, 0, 60, 90)
    assert notes.note_off(12.0, 0, 60) == [NoteEvent(False, 0, 60, 0)]
    assert notes.held == 1
    assert notes.note_off(13.0, 0, 60) == [NoteEvent(False, 0, 60, 0)]
    assert notes.held == 0


def test_cc_123_closes_its_channel_only_and_stop_closes_all() -> None:
    notes = InputNotes()
    notes.note_on(0.0, 0, 60, 90)
    notes.note_on(0.0, 1, 62, 90)
    assert notes.all_off(0) == [NoteEvent(False, 0, 60, 0)]
    assert notes.held == 1
    assert notes.all_off() == [NoteEvent(False, 1, 62, 0)]
    assert notes.held == 0 and notes.counts.mode_offs == 2


def test_the_hold_deadline_follows_the_last_onset_and_release_closes_everything() -> None:
    notes = InputNotes()
    assert notes.hold_deadline(8.0, 24) is None
    notes.note_on(0.0, 0, 48, 90)  # a drone
    notes.note_on(24.0, 0, 60, 90)
    notes.note_off(36.0, 0, 60)
    assert notes.hold_deadline(8.0, 24) == 24.0 + 8 * 24
    assert notes.release_held() == [NoteEvent(False, 0, 48, 0)]
    assert notes.hold_deadline(8.0, 24) is None
    assert notes.note_off(400.0, 0, 48) == [], "the drone's real note-off, when it comes, is dropped"
    assert notes.counts.held_released == 1 and notes.counts.orphan_offs == 0


def test_pedal_held_notes_keep_a_deadline_without_keys_down() -> None:
    notes = InputNotes()
    notes.note_on(0.0, 0, 60, 90)
    notes.note_off(6.0, 0, 60)
    assert notes.hold_deadline(4.0, 24) is None
    assert notes.hold_deadline(4.0, 24, pedal_held=True) == 96.0


def test_a_flood_of_ons_on_every_channel_is_bounded_and_released() -> None:
    notes = InputNotes()
    for channel in range(16):
        for pitch in range(128):
            notes.note_on(float(pitch), channel, pitch, 100)
    notes.note_on(200.0, 0, 0, 100)
    assert notes.held == 16 * 128 + 1
    assert len(notes.release_held()) == 16 * 128 + 1
    assert notes.held == 0
