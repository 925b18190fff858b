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
