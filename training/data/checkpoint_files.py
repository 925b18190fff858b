"""The file side of every model's checkpoint: written atomically, read back with its kind checked.

A checkpoint is one ``torch.save`` dictionary tagged with its model's ``kind``; each model's own
``checkpoint`` module decides what goes in it. torch is imported here only when a file is written or
read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from daemon.errors import AntiphonError


class CheckpointError(AntiphonError):
    """A checkpoint is missing, unreadable, or of another kind."""


def write_checkpoint(path: Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` to a temporary file beside ``path``, then rename it over ``path`` (a crash
    mid-write never leaves half a checkpoint where a resume would read it)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(dict(payload), tmp)
    os.replace(tmp, path)


def read_checkpoint(path: str | Path, kind: str, what: str, train_command: str) -> dict[str, Any]:
    """The dictionary at ``path``, which must be a ``kind`` checkpoint.

    Args:
        what: the model in words, for messages ("an LSTM").
        train_command: the subcommand that makes one (``train lstm``), for messages.

    Raises:
        CheckpointError: the file is missing, unreadable or of another kind.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; train one with `antiphon {train_command} --out {path.parent}`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        found = payload.get("kind") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path} is not {what} checkpoint (kind {found!r})")
    return payload
