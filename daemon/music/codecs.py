"""The registry of encodings: rebuild a codec from the dictionary a model file carries.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.errors import RepresentationError
from daemon.music.chords import ChordCodec
from daemon.music.events import NoteEventCodec
from daemon.music.pianoroll import RollSpec


def codec_from_dict(data: Mapping[str, Any]) -> NoteEventCodec | ChordCodec | RollSpec:
    """Rebuild whichever representation a model file's metadata names."""
    kinds: dict[str, Any] = {NoteEventCodec.NAME: NoteEventCodec, ChordCodec.NAME: ChordCodec,
                             RollSpec.NAME: RollSpec}
    kind = kinds.get(str(data.get("name")))
    if kind is None:
        raise RepresentationError(f"unknown representation {data.get('name')!r}; known: {', '.join(kinds)}")
    return kind.from_dict(data)
