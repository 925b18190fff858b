"""A real phrase for the live tests: the opening of a tune from the corpus's *test* split.

"The Brown Maid" (O'Neill's Music of Ireland, 1850, no. 154; public domain; music21's corpus
file ``oneills1850/0101-0200.abc``) is read with music21 at test time, and checked to be in the
test split of :func:`training.data.records.split_of` (so no bundled model was trained on it).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import pytest

from daemon.music.notes import Note

TUNE_FILE = "oneills1850/0101-0200.abc"
TUNE_NUMBER = "154"
PIECE_ID = f"oneills/0101-0200/{TUNE_NUMBER}"  # the id the corpus pipeline gives it (see training/data/sources/abc.py)
TICKS_PER_BEAT = 12


@dataclass(frozen=True)
class Phrase:
    """The phrase: notes on a 12-ticks-per-beat grid from tick 0, and what the tune's header says.

    Attributes:
        notes: the first ``beats`` beats of the tune, ties joined.
        title: the tune's title.
        key_root: the header's key as a pitch class (F = 5).
        minor: the header's key is minor.
        numerator: beats in a bar.
        denominator: note value of a beat.
    """

    notes: tuple[Note, ...]
    title: str
    key_root: int
    minor: bool
    numerator: int
    denominator: int


def load_phrase(beats: int = 8) -> Phrase:
    """The first ``beats`` beats of "The Brown Maid" (skips the test when music21 is missing)."""
    music21 = pytest.importorskip("music21")
    from training.data.records import split_of

    assert split_of(PIECE_ID) == "test", f"{PIECE_ID} is no longer in the test split; pick another tune"
    path = next(p for p in music21.corpus.getPaths(fileExtensions=("abc",)) if str(p).endswith(TUNE_FILE))
    text = path.read_text(encoding="latin-1")
    block = next(b for b in re.split(r"(?m)^(?=X:)", text) if re.match(rf"X:\s*{TUNE_NUMBER}\s*$", b.splitlines()[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = music21.converter.parse(block, format="abc").stripTies()
    notes = []
    for n in score.flatten().notes:
        if not n.isNote:
            continue
        start = round(float(n.offset) * TICKS_PER_BEAT)
        if start >= beats * TICKS_PER_BEAT:
            break
        notes.append(Note(start, n.pitch.midi, max(1, round(float(n.quarterLength) * TICKS_PER_BEAT)), 90, 0))
    header_key = re.search(r"(?m)^K:\s*([A-G][b#]?)(m?)", block)
    meter = re.search(r"(?m)^M:\s*(\S+)", block)
    assert header_key is not None and meter is not None
    names = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
    root = (names[header_key.group(1)[0]] + {"#": 1, "b": -1}.get(header_key.group(1)[1:], 0)) % 12
    numerator, denominator = (4, 4) if meter.group(1) in ("C", "C|") else map(int, meter.group(1).split("/"))
    title = re.search(r"(?m)^T:\s*(.*)$", block)
    return Phrase(tuple(notes), title.group(1).strip() if title else PIECE_ID, root, header_key.group(2) == "m",
                  numerator, denominator)
