"""Two-bar phrases: cutting, the last phrase of a file, tokens with the end event and back."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.errors import RepresentationError
from daemon.music.events import NoteEventCodec
from daemon.music.notes import Note
from daemon.music.phrases import (
    END_PITCH,
    check_phrase,
    cut_phrase,
    end_event,
    last_phrase,
    phrase_ticks,
    phrase_tokens,
    tokens_to_phrase,
)

CODEC = NoteEventCodec()
LENGTH = phrase_ticks(12)


def test_a_phrase_is_two_four_four_bars() -> None:
    assert LENGTH == 96
    assert phrase_ticks(24) == 192


def test_cut_phrase_retimes_notes_and_cuts_them_at_the_window_end() -> None:
    notes = [Note(40, 60, 12), Note(48, 62, 12), Note(130, 64, 30), Note(144, 65, 6)]
    assert cut_phrase(notes, 48, LENGTH) == [Note(0, 62, 12), Note(82, 64, 14)]


def test_last_phrase_takes_the_two_bars_ending_with_the_last_onset() -> None:
    notes = [Note(t, 60 + t // 12 % 12, 6) for t in range(0, 48 * 5, 12)]  # five bars of quarter notes
    start, phrase = last_phrase(notes, 48, LENGTH)
    assert start == 48 * 3
    assert [n.start for n in phrase] == list(range(0, 96, 12))


def test_last_phrase_of_a_short_file_is_the_whole_file_from_its_first_bar() -> None:
    notes = [Note(60, 60, 6), Note(66, 62, 6)]
    start, phrase = last_phrase(notes, 48, LENGTH)
    assert start == 48 and [n.start for n in phrase] == [12, 18]


def test_phrase_tokens_end_with_the_end_event_and_decode_back() -> None:
    notes = [Note(6, 60, 6), Note(12, 64, 18), Note(84, 67, 12)]
    tokens = phrase_tokens(CODEC, notes)
    assert np.array_equal(tokens[-1], end_event()) and tokens[-1, 1] == END_PITCH
    assert tokens_to_phrase(CODEC, tokens, LENGTH) == notes


def test_decoded_tokens_stop_at_the_end_event_and_at_the_phrase_end() -> None:
    tokens = np.array([[0, 60, 6, 80], [48, 62, 60, 80], [0, END_PITCH, 0, 0], [6, 64, 6, 80]])
    assert tokens_to_phrase(CODEC, tokens, LENGTH) == [Note(0, 60, 6, 80), Note(48, 62, 48, 80)]
    late = np.array([[40, 60, 6, 80], [48, 61, 6, 80], [10, 62, 6, 80]])
    assert [n.start for n in tokens_to_phrase(CODEC, late, LENGTH)] == [40, 88]


@pytest.mark.parametrize("count", [0, 1])
def test_a_phrase_of_fewer_than_two_notes_is_refused_with_a_message(count: int) -> None:
    with pytest.raises(RepresentationError, match="at least 2 notes"):
        check_phrase([Note(0, 60, 6)] * count, "in.mid")
