"""``antiphon train data``: parse the real corpora into cached, split training data.

Example::

    antiphon train data --source bach,folk,grooves,freedoom --out data/

Sources: ``bach``, ``oneills``, ``ryans``, ``airds`` (``folk`` = the three), ``grooves`` (mma),
``freedoom``, ``essen`` (non-commercial licence: only when named) and ``dir:/path`` (any
folder of .mid files). For each source it prints pieces, notes, bars, skips by reason, the
train/valid/test split and the seconds taken; ``DIR/summary.json`` keeps the same counts.

``--transpose N`` records ±N semitones of augmentation for the train split; it is applied
lazily (``training.data.records.load_split(..., augment=True)``), so the files hold each piece once.
The table shows the train split's size with and without it.

This module imports no torch.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

from training.data.corpus import (
    DEFAULT_SOURCES,
    build_corpus,
    default_cache_dir,
    format_summary,
    resolve_sources,
)

log = logging.getLogger(__name__)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", default="bach,folk,grooves,freedoom",
                        help="comma-separated sources: bach, folk (= oneills,ryans,airds), oneills, ryans, airds, "
                             "grooves, freedoom, essen (non-commercial use only), dir:/path/to/midi "
                             f"(default: bach,folk,grooves,freedoom = {','.join(DEFAULT_SOURCES)})")
    parser.add_argument("--out", default="data", type=Path, help="folder to write the splits to (default: data)")
    parser.add_argument("--cache", type=Path, default=None,
                        help=f"cache of parsed pieces (default: {default_cache_dir()})")
    parser.add_argument("--no-cache", action="store_true", help="parse everything again and cache nothing")
    parser.add_argument("--jobs", type=_positive, default=os.cpu_count() or 1,
                        help="worker processes (default: the number of CPUs)")
    parser.add_argument("--transpose", type=_non_negative, default=0, metavar="N",
                        help="augment the train split with +-1..N semitones, applied when it is loaded (default: 0)")
    parser.add_argument("--limit", type=_positive, default=None, metavar="N",
                        help="first N pieces of each source only (smoke tests)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    sources = resolve_sources(args.source)
    cache = None if args.no_cache else (args.cache or default_cache_dir())
    started = time.perf_counter()
    summaries = build_corpus(sources, args.out, cache_dir=cache, jobs=args.jobs, limit=args.limit,
                             transpose=args.transpose, progress=not args.no_progress)
    total = time.perf_counter() - started
    print(format_summary(summaries, total))
    print(f"wrote {args.out}/<source>/{{train,valid,test}}.{{npz,json}} and {args.out}/summary.json"
          + (f" (cache: {cache})" if cache else ""))
    return 0
