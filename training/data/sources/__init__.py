"""Corpus sources: where pieces come from and how one unit of work becomes pieces.

Each source module (``bach``, ``abc``, ``grooves``, ``freedoom``, ``midi_files``) offers two
functions that :mod:`training.data.corpus` calls:

* ``list_items(...) -> list[WorkItem]`` runs in the parent process, is cheap (it reads file
  listings and headers, never parses music), and fixes the order of the work;
* ``parse_item(item) -> ItemResult`` runs in a worker process and turns one item (a chorale,
  an ABC file of many tunes, an mma library file of many grooves, a WAD lump, a MIDI file)
  into pieces, and into skips with a reason for everything it could not use. It never raises
  for bad input.

Nothing here writes outside a scratch directory of its own; caching and splitting live in
:mod:`training.data.corpus`.
"""

from __future__ import annotations

import importlib
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from daemon.errors import AntiphonError as AntiphonError
from training.data.records import CorpusError

# The name a piece's channel plays under; the GAN and LSTM data code select channels by it.
ROLES = ("melody", "soprano", "alto", "tenor", "bass", "drums", "chords", "other")


class ToolMissingError(CorpusError):
    """A program or data package a source needs is not installed."""


@dataclass(frozen=True)
class WorkItem:
    """One unit of parsing work.

    Attributes:
        source: the source name ("bach", "oneills", "grooves", ...).
        key: stable identity of the item's *input* (names, paths, sizes, modification times);
            the cache is keyed by it, so a changed file is parsed again.
        label: what to call the item in logs and skip reasons.
        expected: how many pieces the item should give (for ``--limit``), a guess.
        payload: what the source's ``parse_item`` needs (picklable).
    """

    source: str
    key: str
    label: str
    expected: int = 1
    payload: Mapping[str, Any] = field(default_factory=dict)


class Skip(NamedTuple):
    """A piece or file left out.

    Attributes:
        what: the piece id or file it concerns.
        reason: a short category the summary counts by ("no notes", "corrupt MIDI", ...).
        detail: the specific message, for the log.
    """

    what: str
    reason: str
    detail: str = ""


@dataclass
class ItemResult:
    """What one work item gave.

    Attributes:
        pieces: the pieces (``training.data.records.PieceRecord``), in the item's order.
        skipped: everything the item held that was left out, with the reason.
        cacheable: False when the result depends on luck (a timeout), so it is not cached.
    """

    pieces: list[Any] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    cacheable: bool = True


# source name -> module under training.data.sources that lists and parses it
SOURCE_MODULES: dict[str, str] = {
    "bach": "training.data.sources.bach",
    "oneills": "training.data.sources.abc",
    "ryans": "training.data.sources.abc",
    "airds": "training.data.sources.abc",
    "essen": "training.data.sources.abc",
    "grooves": "training.data.sources.grooves",
    "freedoom": "training.data.sources.freedoom",
    "dir": "training.data.sources.midi_files",
}


def source_module(source: str) -> Any:
    """The module that lists and parses ``source``."""
    name = SOURCE_MODULES.get(source)
    if name is None:
        raise CorpusError(f"unknown source {source!r}; known: {', '.join(SOURCE_MODULES)} (or dir:/path/to/folder)")
    return importlib.import_module(name)


def require_tool(program: str, install: str) -> str:
    """Full path of ``program``, or a :class:`ToolMissingError` that says how to install it."""
    path = shutil.which(program)
    if path is None:
        raise ToolMissingError(f"{program} is not installed: {install}")
    return path


_SLUG = re.compile(r"[^A-Za-z0-9]+")


def slug(text: str, max_chars: int = 48) -> str:
    """``"The Kesh (jig)"`` -> ``"The_Kesh_jig"``: safe in ids and file names."""
    return _SLUG.sub("_", text).strip("_")[:max_chars] or "untitled"


def first_line(exc: BaseException) -> str:
    """A one-line description of an exception, for a skip's detail."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
