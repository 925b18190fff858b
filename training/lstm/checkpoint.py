"""LSTM checkpoints: one ``.pt`` file that rebuilds the model and its representation alone.

The layout is the contract with ``export/`` (which reads it without this module)::

    {"kind": "lstm",
     "model_args": dataclasses.asdict(LSTMConfig),
     "representation": codec.to_dict(),
     "state_dict": model.state_dict(),            # CPU tensors, no DDP "module." prefix
     "training": {"sources", "pieces", "events", "epochs", "seed", "command", ...},
     "metrics": {...},
     "resume": {...}}                              # last.pt only: optimizer, scheduler, counters

Imports torch at module level: import it from training code only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.music.chords import ChordCodec
from daemon.music.codecs import codec_from_dict
from daemon.music.events import NoteEventCodec
from training.data.checkpoint_files import (  # CheckpointError: callers catch it from here
    CheckpointError,
    read_checkpoint,
    write_checkpoint,
)
from training.lstm.model import EventLSTM, LSTMConfig

KIND = "lstm"


@dataclass
class LoadedCheckpoint:
    """A model rebuilt from a checkpoint, on CPU and in eval mode, with everything the file said."""

    model: EventLSTM
    codec: NoteEventCodec | ChordCodec
    payload: dict[str, Any]

    @property
    def training(self) -> dict[str, Any]:
        return dict(self.payload.get("training", {}))

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.payload.get("metrics", {}))


def config_from_dict(model_args: Mapping[str, Any]) -> LSTMConfig:
    """``LSTMConfig`` from ``asdict`` output (lists, as some serialisers leave them, become tuples)."""
    args: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in model_args.items()}
    return LSTMConfig(**args)


def save_checkpoint(path: Path, model: EventLSTM, codec: NoteEventCodec | ChordCodec, training: Mapping[str, Any],
                    metrics: Mapping[str, Any], resume: Mapping[str, Any] | None = None) -> None:
    """Write a checkpoint atomically (to a temporary file, then renamed over ``path``)."""
    payload: dict[str, Any] = {
        "kind": KIND,
        "model_args": dataclasses.asdict(model.config),
        "representation": codec.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "training": dict(training),
        "metrics": dict(metrics),
    }
    if resume is not None:
        payload["resume"] = dict(resume)
    write_checkpoint(path, payload)


def read_payload(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dictionary.

    Raises:
        CheckpointError: the file is missing, unreadable or not an LSTM checkpoint.
    """
    return read_checkpoint(path, KIND, "an LSTM", "train lstm")


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    """Rebuild the model (CPU, eval mode) and codec a checkpoint describes."""
    payload = read_payload(path)
    model = EventLSTM(config_from_dict(payload["model_args"]))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    codec = codec_from_dict(payload["representation"])
    if not isinstance(codec, (NoteEventCodec, ChordCodec)):
        raise CheckpointError(f"{path} names the {codec.NAME!r} representation, which is not an LSTM token codec")
    return LoadedCheckpoint(model, codec, payload)
