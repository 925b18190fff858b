"""Phrase VAE checkpoints: one ``.pt`` file that rebuilds the model and its representation alone.

Layout (the contract with ``export/vae.py``)::

    {"kind": "vae",
     "model_args": dataclasses.asdict(VAEConfig),
     "representation": codec.to_dict(),
     "phrase": {"bars": 2, "ticks": 96, "meters": [...]},
     "state_dict": model.state_dict(),
     "training": {...}, "metrics": {...},
     "resume": {...}}          # last.pt only: optimizer, step, random states

Imports torch at module level: import it from training code only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.music.codecs import codec_from_dict
from daemon.music.events import NoteEventCodec
from training.data.checkpoint_files import (  # CheckpointError: callers catch it from here
    CheckpointError,
    read_checkpoint,
    write_checkpoint,
)
from training.vae.model import PhraseVAE, VAEConfig

KIND = "vae"


@dataclass
class LoadedVAE:
    """A model rebuilt from a checkpoint (CPU, eval mode) with everything the file said."""

    model: PhraseVAE
    codec: NoteEventCodec
    payload: dict[str, Any]

    @property
    def phrase(self) -> dict[str, Any]:
        return dict(self.payload.get("phrase", {}))

    @property
    def training(self) -> dict[str, Any]:
        return dict(self.payload.get("training", {}))

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.payload.get("metrics", {}))


def config_from_dict(model_args: Mapping[str, Any]) -> VAEConfig:
    """``VAEConfig`` from ``asdict`` output (lists become tuples)."""
    return VAEConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in model_args.items()})


def save_checkpoint(path: Path, model: PhraseVAE, codec: NoteEventCodec, phrase: Mapping[str, Any],
                    training: Mapping[str, Any], metrics: Mapping[str, Any],
                    resume: Mapping[str, Any] | None = None) -> None:
    """Write a checkpoint atomically (a temporary file renamed over ``path``)."""
    payload: dict[str, Any] = {
        "kind": KIND,
        "model_args": dataclasses.asdict(model.config),
        "representation": codec.to_dict(),
        "phrase": dict(phrase),
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
        CheckpointError: the file is missing, unreadable or not a phrase VAE checkpoint.
    """
    return read_checkpoint(path, KIND, "a phrase VAE", "train vae")


def load_vae(path: str | Path) -> LoadedVAE:
    """Rebuild the model (CPU, eval mode) and codec a checkpoint describes."""
    payload = read_payload(path)
    model = PhraseVAE(config_from_dict(payload["model_args"]))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    codec = codec_from_dict(payload["representation"])
    if not isinstance(codec, NoteEventCodec):
        raise CheckpointError(f"{path} names the {codec.NAME!r} representation; the phrase VAE reads note-events")
    return LoadedVAE(model, codec, payload)
