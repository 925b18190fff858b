"""The ABC training text: real collections normalised, split by tune, skipped tunes counted."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from daemon.music.abc import parse_tune
from training.abc.data import (
    abc2midi_reads,
    collect,
    counts,
    load_tunes,
    music21_reads,
    write_cache,
)
from training.data.records import split_of

pytest.importorskip("music21")


@pytest.fixture(scope="module")
def airds():
    return collect(check_readers=False, sources=("airds",))


def test_every_tune_of_a_real_collection_is_normalised_or_counted_as_skipped(airds):
    tunes, skipped = airds
    assert len(tunes) > 1000
    assert all(t.text.startswith(("M:", "R:")) and "\nK:" in t.text for t in tunes)
    assert not any(line.startswith(("T:", "X:", "Z:", "Q:")) for t in tunes for line in t.text.splitlines())
    assert all(t.text.isascii() and '"' not in t.text and "!" not in t.text for t in tunes)
    assert sum(skipped.values()) > 0 and all(isinstance(reason, str) for reason in skipped)


def test_the_split_is_by_tune_and_follows_the_piece_id(airds):
    tunes, _ = airds
    assert len({t.id for t in tunes}) == len(tunes)
    assert all(t.split == split_of(t.id) for t in tunes)
    table = counts(tunes)
    assert table["tunes"]["train"] > 5 * table["tunes"]["test"] > 0
    assert all(t.id.startswith("airds/book") for t in tunes)


def test_the_daemon_reads_every_normalised_tune(airds):
    tunes, _ = airds
    for tune in tunes[::25]:
        assert parse_tune(tune.text).notes


def test_both_readers_accept_a_normalised_tune_and_refuse_a_broken_one(airds):
    tunes, _ = airds
    assert abc2midi_reads(tunes[0].text) is None
    assert music21_reads(tunes[0].text) is None
    assert abc2midi_reads("M:4/4\nL:1/8\nK:D\nAB [cd|\n") is not None


def test_the_cache_reads_back_what_was_written(tmp_path: Path, airds):
    tunes, skipped = airds
    write_cache(tmp_path, tunes[:20], Counter(skipped))
    assert load_tunes(tmp_path, build=False) == tunes[:20]
