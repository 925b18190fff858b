"""Phrases of the folk tunes: which tunes, which windows, and the batches the model learns from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from daemon.music.events import NoteEventCodec
from daemon.music.phrases import END_PITCH
from tests.training.vae.corpus import SOURCES, write_corpus
from training.lstm.data import PAD, TrainingDataError
from training.vae.data import allowed_shift, batch_arrays, load_phrases

CODEC = NoteEventCodec()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, list[str]]]]:
    folder = tmp_path_factory.mktemp("data")
    return folder, write_corpus(folder)


def test_phrases_come_from_every_source_and_only_from_tunes_of_their_split(data) -> None:
    folder, ids = data
    split = load_phrases(folder, "valid", CODEC, stride_bars=2)
    assert {p.piece for p in split.phrases} == {i for s in SOURCES for i in ids[s]["valid"]}
    assert split.pieces == 3 * len(SOURCES)
    jigs = sum(load_phrases(folder, name, CODEC).skipped["tunes in 6/8"] for name in ("train", "valid", "test"))
    assert jigs == len(SOURCES)  # one 6/8 tune per source, in whichever split its id falls


def test_windows_start_every_bar_or_every_other_bar(data) -> None:
    folder, _ = data
    every = load_phrases(folder, "train", CODEC, stride_bars=1)
    other = load_phrases(folder, "train", CODEC, stride_bars=2)
    starts = sorted({p.start for p in every.phrases})
    assert starts == list(range(0, 8 * 48, 48))
    assert sorted({p.start for p in other.phrases}) == list(range(0, 8 * 48, 96))
    assert all(p.tokens[-1, 1] == END_PITCH and max(n.end for n in p.notes) <= 96 for p in every.phrases)


def test_a_missing_data_folder_names_the_command_that_builds_it(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="antiphon train data"):
        load_phrases(tmp_path / "nothing", "train", CODEC)


def test_batches_pad_and_ignore_what_a_rest_or_the_end_does_not_say() -> None:
    a = np.array([[0, 60, 6, 80], [48, 128, 0, 0], [6, 62, 6, 80], [0, END_PITCH, 0, 0]])
    b = np.array([[12, 64, 12, 80], [0, END_PITCH, 0, 0]])
    enc, lengths, dec_in, targets = batch_arrays([a, b], CODEC, shifts=[2, -1])
    assert lengths.tolist() == [3, 1]
    assert enc.shape == (2, 3, 4) and (enc[1, 1:] == 0).all()
    assert enc[0, :, 1].tolist() == [62, 128, 64] and enc[1, 0, 1] == 63  # notes moved, the rest not
    assert (dec_in[:, 0] == CODEC.bos()).all() and np.array_equal(dec_in[0, 1:], enc[0])
    assert targets[0, 1, 2] == PAD and targets[0, 1, 3] == PAD  # the rest's duration and velocity
    assert targets[0, 3].tolist() == [PAD, END_PITCH, PAD, PAD]
    assert (targets[1, 2:] == PAD).all()


def test_transposition_keeps_every_pitch_in_midi_range() -> None:
    tokens = np.array([[0, 5, 6, 80], [6, 124, 6, 80], [0, END_PITCH, 0, 0]])
    assert allowed_shift(tokens, (-5, 6)) == (-5, 3)


def test_sources_by_group_or_name_and_a_voice_by_role() -> None:
    from daemon.music.grid import Grid
    from daemon.music.notes import Note
    from training.data.records import PieceRecord
    from training.lstm.data import TrainingDataError, piece_notes
    from training.vae.data import FOLK_SOURCES, resolve_sources

    assert resolve_sources("folk") == FOLK_SOURCES and resolve_sources("bach") == ("bach",)
    assert resolve_sources("bach, folk, bach") == ("bach", *FOLK_SOURCES)
    with pytest.raises(TrainingDataError, match="--source names"):
        resolve_sources(" , ")
    notes = tuple(Note(0, 72 - 5 * ch, 12, 80, ch) for ch in range(4))
    piece = PieceRecord(id="bach/x", source="bach", name="x", notes=notes, grid=Grid(12), bpm=90.0,
                        roles={0: "soprano", 1: "alto", 2: "tenor", 3: "bass"})
    assert [n.pitch for n in piece_notes(piece, "soprano")] == [72]
    assert len(piece_notes(piece, "all")) == len(piece_notes(piece, "melody")) == 4  # no melody role: every part


def test_a_voice_no_piece_has_is_named_in_the_error(data) -> None:
    folder, _ = data
    with pytest.raises(TrainingDataError, match="role 'sopranoo'"):
        load_phrases(folder, "train", CODEC, voices="sopranoo")
