"""The corpus pipeline: real sources -> parsed pieces -> cached -> split by piece -> files on disk.

What ``antiphon train data`` builds and what training reads back:

* :class:`PieceRecord` -- one piece: normalised notes on a ``Grid(12, num, den)`` (time in
  ticks, 12 per quarter note), its first meter, tempo and the role of each channel.
* :func:`split_of` -- the train/valid/test split of a piece, from a hash of its id: ~80/10/10,
  by piece (never by window), the same on every machine and every run.
* :func:`load_split` -- the pieces of one source and split, read from what
  :func:`build_corpus` wrote.
* :func:`transposed` / :func:`augmented` -- pitch augmentation (pitched channels only, never
  drums).

On disk, under ``DIR`` (``--out``)::

    DIR/summary.json            counts per source: pieces, notes, bars, skipped by reason, seconds
    DIR/<source>/<split>.npz    notes (N, 5) int32 (start, pitch, duration, velocity, channel),
                                offsets (P + 1,) int64: piece i is notes[offsets[i]:offsets[i + 1]]
    DIR/<source>/<split>.json   one metadata entry per piece, in the same order
    DIR/<source>/skipped.json   every piece or file left out: [what, reason, detail]

Transposition (``--transpose N``) is *lazy*: the files hold each piece once, in its own key,
and N is recorded in ``summary.json`` and the train split's JSON. ``load_split(...,
augment=True)`` returns the train split with every in-range transposition of ±1..N semitones
added; by default ``load_split`` returns the pieces as written (the trainers draw their own
random transposition per window or bar).

Parsing runs in worker processes (``jobs``); every parsed item is cached under
``cache_dir/corpus/<source>-<key>/`` where the key hashes the source, its parser version (with
the version of music21, abc2midi or mma) and the representation (``daemon/music/``
and its encodings' versions), so a second run only reads the cache, and a change to the
representation or a parser parses again. A bad file never stops a run: it is skipped, logged
and counted by reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from daemon.music import grid, midi_files, notes
from daemon.music.notes import notes_to_array
from training.data.records import (
    FORMAT_VERSION,
    REPRESENTATION_VERSIONS,
    SPLIT_PERCENT,
    SPLITS,
    TICKS_PER_BEAT,
    PieceRecord,
    _pack,
    _record_meta,
    _save_json,
    _save_npz,
    _unpack,
    augmented,
    split_of,
)
from training.data.sources import (
    CorpusError,
    ItemResult,
    Skip,
    WorkItem,
    first_line,
    source_module,
)

log = logging.getLogger(__name__)
FOLK = ("oneills", "ryans", "airds")
DEFAULT_SOURCES = ("bach", *FOLK, "grooves", "freedoom")
SOURCE_GROUPS: dict[str, tuple[str, ...]] = {"folk": FOLK, "all": DEFAULT_SOURCES}
ASK_BY_NAME = frozenset({"essen"})  # licensed for non-commercial use only: never part of a group


@dataclass(frozen=True)
class SourceSpec:
    """A source asked for on the command line (``dir`` carries its folder)."""

    name: str
    path: Path | None = None

    @property
    def out_name(self) -> str:
        """The folder under ``--out`` (and the ``source`` of its pieces)."""
        return self.name


def resolve_sources(text: str | Sequence[str]) -> list[SourceSpec]:
    """``"bach,folk,dir:/music"`` -> sources, groups expanded, each once, in order.

    Raises:
        CorpusError: an unknown source, or more than one ``dir:``.
    """
    words = [w.strip() for w in (text.split(",") if isinstance(text, str) else text) if w.strip()]
    out: list[SourceSpec] = []
    for word in words:
        if word.startswith("dir:") or word == "dir":
            path = word[4:]
            if not path:
                raise CorpusError("--source dir needs a folder: dir:/path/to/midi/files")
            if any(s.name == "dir" for s in out):
                raise CorpusError("give one dir: source per run (its pieces are written under DIR/dir/)")
            out.append(SourceSpec("dir", Path(path).expanduser()))
            continue
        names = SOURCE_GROUPS.get(word, (word,))
        for name in names:
            source_module(name)  # raises for an unknown name
            if all(s.name != name for s in out):
                out.append(SourceSpec(name))
    if not out:
        raise CorpusError("no source given; e.g. --source bach,folk,grooves,freedoom")
    return out


def _licence(name: str) -> str:
    module = source_module(name)
    return str(module.licence(name)) if hasattr(module, "licence") else str(module.LICENCE)


def _list_items(spec: SourceSpec, ticks_per_beat: int) -> tuple[list[WorkItem], list[Skip]]:
    module = source_module(spec.name)
    if spec.name == "dir":
        assert spec.path is not None
        return module.list_items(spec.path, ticks_per_beat)  # type: ignore[no-any-return]
    if module.__name__.endswith(".abc"):
        return module.list_items(spec.name, ticks_per_beat)  # type: ignore[no-any-return]
    return module.list_items(ticks_per_beat)  # type: ignore[no-any-return]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/antiphon`` or ``~/.cache/antiphon``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "antiphon"


def representation_key() -> str:
    """Hash of the modules that turn files into notes, and the encodings' versions: a change re-parses."""
    digest = hashlib.sha1(json.dumps(REPRESENTATION_VERSIONS, sort_keys=True).encode())
    for module in (grid, notes, midi_files):
        source_file = inspect.getsourcefile(module)
        if source_file:
            digest.update(Path(source_file).read_bytes())
    return digest.hexdigest()[:12]


def cache_namespace(source: str) -> str:
    """Folder name of ``source``'s cache entries for this parser and representation."""
    parser = str(source_module(source).parser_version())
    key = hashlib.sha1(f"{source}|{parser}|{representation_key()}|format={FORMAT_VERSION}".encode()).hexdigest()
    return f"{source}-{key[:16]}"


def _cache_path(folder: Path, item: WorkItem) -> Path:
    return folder / f"{hashlib.sha1(item.key.encode('utf-8')).hexdigest()[:24]}.npz"


def _cache_load(folder: Path | None, item: WorkItem) -> ItemResult | None:
    if folder is None:
        return None
    path = _cache_path(folder, item)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            meta = json.loads(str(arrays["meta"]))
            if meta.get("key") != item.key:
                return None
            pieces = _unpack(arrays["notes"], arrays["offsets"], meta["pieces"])
        return ItemResult(pieces=pieces, skipped=[Skip(*s) for s in meta["skipped"]])
    except (OSError, ValueError, KeyError, TypeError, CorpusError) as exc:
        log.warning("ignoring unreadable cache entry %s (%s)", path, exc)
        return None


def _cache_save(folder: Path | None, item: WorkItem, result: ItemResult) -> None:
    if folder is None or not result.cacheable:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        notes, offsets = _pack(result.pieces)
        meta = {"key": item.key, "pieces": [_record_meta(r) for r in result.pieces],
                "skipped": [list(s) for s in result.skipped]}
        _save_npz(_cache_path(folder, item), notes=notes, offsets=offsets, meta=np.array(json.dumps(meta)))
    except OSError as exc:
        log.warning("could not write the cache in %s (%s); continuing without it", folder, exc)


def _parse_item(item: WorkItem, cache_folder: Path | None) -> ItemResult:
    """Parse one item in a worker and cache it. Never raises: a surprise becomes a skip."""
    try:
        result: ItemResult = source_module(item.source).parse_item(item)
    except Exception as exc:  # one bad file must never stop the run; the reason is kept
        log.debug("parsing %s failed", item.label, exc_info=True)
        return ItemResult(skipped=[Skip(item.label, "parser error", first_line(exc))], cacheable=False)
    _cache_save(cache_folder, item, result)
    return result


@dataclass
class SourceSummary:
    """What one source gave.

    Attributes:
        source: the source name.
        licence: the licence its material comes under.
        pieces, notes, bars: kept pieces, their notes, and the bars they span (first meter).
        skipped: skipped pieces or files by reason (duplicates included).
        seconds: wall time to list, parse (or read from the cache) and check the source.
        items, cached_items: work items, and how many of them came from the cache.
        splits: pieces per split.
        meters: pieces per first meter ("4/4", "3/4", ...).
        tempo_change_pieces, meter_change_pieces: pieces that change tempo / meter.
        drum_bars_4_4: bars of 4/4 pieces with at least one drum hit.
        transpose: ±semitones of augmentation recorded for the train split.
        augmented_pieces, augmented_notes: the train split's size with augmentation.
    """

    source: str
    licence: str = ""
    pieces: int = 0
    notes: int = 0
    bars: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    items: int = 0
    cached_items: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    meters: Counter[str] = field(default_factory=Counter)
    tempo_change_pieces: int = 0
    meter_change_pieces: int = 0
    drum_bars_4_4: int = 0
    transpose: int = 0
    augmented_pieces: int = 0
    augmented_notes: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["skipped"] = dict(sorted(self.skipped.items()))
        data["meters"] = dict(self.meters.most_common())
        data["seconds"] = round(self.seconds, 2)
        return data


def _select_for_limit(items: list[WorkItem], limit: int | None) -> list[WorkItem]:
    if limit is None:
        return items
    chosen, expected = [], 0
    for item in items:
        if expected >= limit:
            break
        chosen.append(item)
        expected += max(1, item.expected)
    return chosen


def _run_items(items: list[WorkItem], cache_folder: Path | None, jobs: int, progress: bool,
               desc: str) -> tuple[list[ItemResult], int]:
    """Results in item order, and how many came from the cache."""
    from tqdm import tqdm

    results: list[ItemResult | None] = [None] * len(items)
    todo: list[int] = []
    for i, item in enumerate(items):
        results[i] = _cache_load(cache_folder, item)
        if results[i] is None:
            todo.append(i)
    cached = len(items) - len(todo)
    with tqdm(total=len(items), initial=cached, desc=desc, unit="file", file=sys.stderr, disable=not progress,
              dynamic_ncols=True, leave=False) as bar:
        if jobs <= 1 or len(todo) <= 1:
            for i in todo:
                results[i] = _parse_item(items[i], cache_folder)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
                futures: dict[Future[ItemResult], int] = {
                    pool.submit(_parse_item, items[i], cache_folder): i for i in todo}
                for future in as_completed(futures):
                    i = futures[future]
                    try:
                        results[i] = future.result()
                    except Exception as exc:  # noqa: BLE001  # a worker that died (killed, out of memory): skip its item
                        results[i] = ItemResult(skipped=[Skip(items[i].label, "parser crashed", first_line(exc))],
                                                cacheable=False)
                    bar.update()
    return [r if r is not None else ItemResult() for r in results], cached


def parse_source(spec: SourceSpec | str, *, cache_dir: Path | str | None = None, jobs: int = 1,
                 limit: int | None = None, progress: bool = False,
                 ticks_per_beat: int = TICKS_PER_BEAT) -> tuple[list[PieceRecord], list[Skip], SourceSummary]:
    """Parse one source (or read it from the cache): pieces, skips and a summary.

    Args:
        spec: a source name or :class:`SourceSpec` (``dir`` needs one with a path).
        cache_dir: where parsed items are cached (None: no cache).
        jobs: worker processes (1: parse in this process).
        limit: keep the first ``limit`` pieces (for smoke tests); only the files they need are parsed.
        progress: show a progress bar on stderr.
        ticks_per_beat: grid resolution (the corpus uses :data:`TICKS_PER_BEAT`).

    Raises:
        ToolMissingError: a program or package the source needs is not installed.
    """
    spec = SourceSpec(spec) if isinstance(spec, str) else spec
    module = source_module(spec.name)
    started = time.perf_counter()
    module.check_available()
    items, skipped = _list_items(spec, ticks_per_beat)
    if limit is not None:
        items = _select_for_limit(items, limit)
        skipped = []  # what the listing left out lies anywhere in the source, not only in its first pieces
    folder = Path(cache_dir) / "corpus" / cache_namespace(spec.name) if cache_dir is not None else None
    results, cached = _run_items(items, folder, jobs, progress, spec.name)

    pieces: list[PieceRecord] = []
    skipped = list(skipped)
    first_of: dict[bytes, str] = {}
    for result in results:
        skipped.extend(result.skipped)
        for piece in result.pieces:
            if limit is not None and len(pieces) >= limit:
                break
            if not piece.notes:
                skipped.append(Skip(piece.id, "no notes", "nothing to learn from"))
                continue
            digest = hashlib.sha1(notes_to_array(piece.notes).tobytes()
                                  + json.dumps(piece.grid.to_dict(), sort_keys=True).encode()).digest()
            if digest in first_of:
                skipped.append(Skip(piece.id, "duplicate", f"the same notes as {first_of[digest]}"))
                continue
            first_of[digest] = piece.id
            pieces.append(piece)
    for skip in skipped:
        log.log(logging.DEBUG if skip.reason == "duplicate" else logging.INFO,
                "%s: skipped %s: %s (%s)", spec.name, skip.what, skip.reason, skip.detail)
    if skipped:
        log.info("%s: skipped %d (%s)", spec.name, len(skipped),
                 ", ".join(f"{reason} {n}" for reason, n in Counter(s.reason for s in skipped).most_common()))

    summary = SourceSummary(spec.name, licence=_licence(spec.name), items=len(items), cached_items=cached)
    for piece in pieces:
        summary.pieces += 1
        summary.notes += len(piece.notes)
        summary.bars += piece.n_bars
        summary.meters[f"{piece.grid.numerator}/{piece.grid.denominator}"] += 1
        summary.tempo_change_pieces += piece.tempo_changes > 0
        summary.meter_change_pieces += not piece.single_meter
        if (piece.grid.numerator, piece.grid.denominator) == (4, 4):
            drums = {ch for ch, role in piece.roles.items() if role == "drums"}
            summary.drum_bars_4_4 += len({n.start // piece.grid.ticks_per_bar for n in piece.notes
                                          if n.channel in drums})
    summary.skipped = Counter(s.reason for s in skipped)
    summary.splits = dict(Counter(split_of(p.id) for p in pieces))
    summary.seconds = time.perf_counter() - started
    return pieces, skipped, summary


def write_source(out_dir: Path, source: str, pieces: Sequence[PieceRecord], transpose: int,
                 skipped: Sequence[Skip] = ()) -> dict[str, int]:
    """Write ``out_dir/<source>/<split>.{npz,json}`` for every split and ``skipped.json``; pieces per split."""
    folder = out_dir / source
    folder.mkdir(parents=True, exist_ok=True)
    _save_json(folder / "skipped.json", [list(s) for s in skipped])
    by_split: dict[str, list[PieceRecord]] = {s: [] for s in SPLITS}
    for piece in pieces:
        by_split[split_of(piece.id)].append(piece)
    for split, records in by_split.items():
        notes, offsets = _pack(records)
        _save_npz(folder / f"{split}.npz", notes=notes, offsets=offsets)
        _save_json(folder / f"{split}.json", {
            "format_version": FORMAT_VERSION, "representation": REPRESENTATION_VERSIONS,
            "ticks_per_beat": TICKS_PER_BEAT, "source": source, "split": split,
            "transpose": transpose if split == SPLITS[0] else 0,
            "pieces": [_record_meta(r) for r in records],
        })
    return {split: len(records) for split, records in by_split.items()}


def build_corpus(sources: Sequence[SourceSpec] | str, out_dir: Path | str, *, cache_dir: Path | str | None = None,
                 jobs: int = 1, limit: int | None = None, transpose: int = 0,
                 progress: bool = False) -> list[SourceSummary]:
    """Parse every source, write its splits under ``out_dir`` and update ``summary.json``.

    Sources run one after another (each in parallel over ``jobs`` workers), so each one's
    time is its own. ``transpose`` (±semitones) is recorded for lazy augmentation; the
    summaries count what it would add to each train split.

    Raises:
        ToolMissingError: a source's program or package is missing (checked before any work).
        CorpusError: an unknown source.
    """
    specs = resolve_sources(sources) if isinstance(sources, str) else list(sources)
    if transpose < 0:
        raise CorpusError(f"--transpose takes a number of semitones >= 0, not {transpose}")
    for spec in specs:
        source_module(spec.name).check_available()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summaries = []
    for spec in specs:
        if spec.name in ASK_BY_NAME:
            log.warning("%s: %s", spec.name, _licence(spec.name))
        pieces, skipped, summary = parse_source(spec, cache_dir=cache_dir, jobs=jobs, limit=limit, progress=progress)
        started = time.perf_counter()
        summary.splits = write_source(out, spec.out_name, pieces, transpose, skipped)
        summary.transpose = transpose
        train = [p for p in pieces if split_of(p.id) == SPLITS[0]]
        for piece in augmented(train, transpose):
            summary.augmented_pieces += 1
            summary.augmented_notes += len(piece.notes)
        summary.seconds += time.perf_counter() - started
        summaries.append(summary)
    _update_summary_file(out, summaries, transpose, limit)
    return summaries


def _update_summary_file(out: Path, summaries: Sequence[SourceSummary], transpose: int, limit: int | None) -> None:
    path = out / "summary.json"
    previous: dict[str, Any] = {}
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {}
    if previous.get("format_version") != FORMAT_VERSION:
        previous = {}
    sources = dict(previous.get("sources", {}))
    for s in summaries:
        sources[s.source] = {**s.to_dict(), "limit": limit}
    _save_json(path, {
        "format_version": FORMAT_VERSION, "representation": REPRESENTATION_VERSIONS,
        "ticks_per_beat": TICKS_PER_BEAT, "split_percent": dict(zip(SPLITS, SPLIT_PERCENT)),
        "transpose": transpose, "sources": sources,
    })


def format_summary(summaries: Sequence[SourceSummary], total_seconds: float | None = None) -> str:
    """The table ``antiphon train data`` prints: one row per source, then skips and notes."""
    header = f"{'source':<10} {'pieces':>7} {'notes':>9} {'bars':>7} {'skipped':>7} {'train/valid/test':>17} " \
             f"{'cached':>9} {'seconds':>8}"
    lines = [header, "-" * len(header)]
    for s in summaries:
        split = "/".join(str(s.splits.get(k, 0)) for k in SPLITS)
        lines.append(f"{s.source:<10} {s.pieces:>7,d} {s.notes:>9,d} {s.bars:>7,d} {sum(s.skipped.values()):>7,d} "
                     f"{split:>17} {f'{s.cached_items}/{s.items}':>9} {s.seconds:>8.1f}")
    if len(summaries) > 1:
        lines.append("-" * len(header))
        lines.append(f"{'total':<10} {sum(s.pieces for s in summaries):>7,d} {sum(s.notes for s in summaries):>9,d} "
                     f"{sum(s.bars for s in summaries):>7,d} {sum(sum(s.skipped.values()) for s in summaries):>7,d}")
    details = []
    for s in summaries:
        parts = []
        if s.skipped:
            parts.append("skipped: " + ", ".join(f"{reason} {n}" for reason, n in s.skipped.most_common()))
        parts.append("meters: " + ", ".join(f"{m} {n}" for m, n in s.meters.most_common(6))
                     + (", ..." if len(s.meters) > 6 else ""))
        if s.tempo_change_pieces or s.meter_change_pieces:
            parts.append(f"tempo changes in {s.tempo_change_pieces} pieces, meter changes in {s.meter_change_pieces}")
        if s.drum_bars_4_4:
            parts.append(f"4/4 bars with drums: {s.drum_bars_4_4:,d}")
        if s.transpose:
            train = s.splits.get(SPLITS[0], 0)
            parts.append(f"train with ±{s.transpose} semitones: {train:,d} -> {s.augmented_pieces:,d} pieces, "
                         f"{s.augmented_notes:,d} notes")
        parts.append(f"licence: {s.licence}")
        details.append(f"{s.source}: " + "; ".join(parts))
    lines += ["", *details]
    if total_seconds is not None:
        lines.append(f"total time: {total_seconds:.1f} s")
    return "\n".join(lines)
