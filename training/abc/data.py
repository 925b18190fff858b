"""The ABC text of O'Neill's, Ryan's and Aird's collections, normalised for a character model.

One tune per sequence, its text normalised so that only what carries music is left:

* header and body in the normal form of :mod:`daemon.music.abc_text` (the daemon writes the
  tunes it asks the model to continue in the same form): ``R:``, ``M:``, ``L:``, ``K:`` kept,
  everything else that is not notes, rests, bar lines, ties, tuplets, chords or broken rhythm
  dropped;
* keys are kept **as written** (no transposition): the collections' keys (mostly G, D, A and
  their modes) are the keys the players use, and the model is asked for a key by its header.

A tune is skipped, with its reason counted, when it changes meter, key or length inside the
body, has several voices, a multi-bar rest, a key this reader does not know, characters outside
ASCII after cleaning, no notes, or when ``abc2midi`` or music21 cannot read its normalised text.

Piece ids are those of :mod:`training.data.sources.abc` (``oneills/0001-0050/1``), so the
split of a tune (:func:`training.data.records.split_of`) is the one the note-event folk model
used. The prepared tunes are cached in ``data/abc/tunes.jsonl``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from daemon.music.abc_keys import AbcError
from daemon.music.abc_text import normalise_tune, split_numbered
from training.data.records import SPLITS, split_of
from training.data.sources import require_tool
from training.data.sources.abc import INSTALL_HINT, collection_files

log = logging.getLogger(__name__)

SOURCES = ("oneills", "ryans", "airds")
CACHE_NAME = "abc/tunes.jsonl"
FORMAT = "abc-text/1"  # changes whenever the normalisation would write different text
ABC2MIDI_TIMEOUT_S = 20.0

@dataclass(frozen=True)
class AbcTune:
    """One normalised tune.

    Attributes:
        id: ``<source>/<file stem>/<X: number>`` (as :mod:`training.data.sources.abc`).
        source: ``oneills``, ``ryans`` or ``airds``.
        split: ``train``, ``valid`` or ``test``.
        text: header lines then body lines, each ending in ``\\n``.
    """

    id: str
    source: str
    split: str
    text: str


def abc2midi_reads(text: str) -> str | None:
    """None when ``abc2midi`` converts the tune without an error, else the first error line."""
    with tempfile.TemporaryDirectory(prefix="antiphon-abc-") as scratch:
        (Path(scratch) / "t.abc").write_text(f"X:1\n{_without_rhythm(text)}", encoding="ascii")
        try:
            done = subprocess.run([require_tool("abc2midi", INSTALL_HINT), "t.abc", "-o", "t.mid"], cwd=scratch,
                                  capture_output=True, text=True, timeout=ABC2MIDI_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return "abc2midi timed out"
        errors = [line for line in (done.stdout + done.stderr).splitlines() if line.lower().startswith("error")]
        if errors:
            return errors[0]
        if done.returncode != 0 or not (Path(scratch) / "t.mid").exists():
            return f"abc2midi exited with {done.returncode}"
    return None


def _without_rhythm(text: str) -> str:
    """The tune without its ``R:`` line: abc2midi takes ``R:hornpipe`` as an order to swing, and
    refuses it outside 2/4 and 4/4; the rhythm is a label, not notes."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("R:"))


def music21_reads(text: str) -> str | None:
    """None when music21 parses the tune into at least one note, else the reason."""
    from music21 import converter

    try:
        score = converter.parse(f"X:1\n{text}", format="abc")
    except Exception as exc:  # noqa: BLE001 - music21 raises many kinds; each is a reason counted
        return f"{type(exc).__name__}: {str(exc)[:80]}"
    if not score.recurse().notes:
        return "music21 found no notes"
    return None


def collect(check_readers: bool = True, sources: tuple[str, ...] = SOURCES) -> tuple[list[AbcTune], Counter[str]]:
    """Every tune of ``sources``, normalised, with the count of tunes skipped per reason."""
    tunes: list[AbcTune] = []
    skipped: Counter[str] = Counter()
    for source in sources:
        for path in collection_files(source):
            text = path.read_bytes().decode("latin-1")
            seen: set[str] = set()
            for index, (number, lines) in enumerate(split_numbered(text), start=1):
                piece_id = f"{source}/{path.stem}/{number}"
                if piece_id in seen:
                    piece_id = f"{piece_id}-{index}"
                seen.add(piece_id)
                try:
                    normal = normalise_tune(lines)
                except AbcError as exc:
                    skipped[str(exc)] += 1
                    continue
                if check_readers:
                    if abc2midi_reads(normal) is not None:
                        skipped["abc2midi error"] += 1
                        continue
                    if music21_reads(normal) is not None:
                        skipped["music21 error"] += 1
                        continue
                tunes.append(AbcTune(piece_id, source, split_of(piece_id), normal))
    return tunes, skipped


def write_cache(data_dir: Path, tunes: list[AbcTune], skipped: Counter[str]) -> Path:
    path = data_dir / CACHE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="ascii") as out:
        out.write(json.dumps({"format": FORMAT, "skipped": dict(skipped)}) + "\n")
        for tune in tunes:
            out.write(json.dumps(asdict(tune)) + "\n")
    return path


def load_tunes(data_dir: Path, build: bool = True) -> list[AbcTune]:
    """The cached tunes under ``data_dir``, built (and counts logged) when missing or stale."""
    path = data_dir / CACHE_NAME
    if path.exists():
        with path.open(encoding="ascii") as lines:
            head = json.loads(lines.readline())
            if head.get("format") == FORMAT:
                tunes = [AbcTune(**json.loads(line)) for line in lines]
                log_counts(tunes, Counter(head.get("skipped", {})))
                return tunes
    if not build:
        raise FileNotFoundError(f"{path} is missing: run `antiphon train abc --data {data_dir}` (it builds them)")
    log.info("normalising the ABC collections (abc2midi and music21 read every tune; a few minutes)")
    tunes, skipped = collect()
    write_cache(data_dir, tunes, skipped)
    log_counts(tunes, skipped)
    return tunes


def counts(tunes: list[AbcTune]) -> dict[str, dict[str, int]]:
    """Tunes and characters per split, and tunes per source."""
    out: dict[str, dict[str, int]] = {"tunes": dict.fromkeys(SPLITS, 0), "chars": dict.fromkeys(SPLITS, 0),
                                      "sources": dict.fromkeys(SOURCES, 0)}
    for tune in tunes:
        out["tunes"][tune.split] += 1
        out["chars"][tune.split] += len(tune.text)
        out["sources"][tune.source] += 1
    return out


def log_counts(tunes: list[AbcTune], skipped: Counter[str]) -> None:
    table = counts(tunes)
    log.info("tunes per split: %s; characters per split: %s; per source: %s", table["tunes"], table["chars"],
             table["sources"])
    log.info("skipped %d tunes: %s", sum(skipped.values()), dict(skipped.most_common()))
