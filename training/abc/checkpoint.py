"""ABC LSTM checkpoints: weights, constructor arguments (vocabulary included) and training facts.

Imports torch: used by training, evaluation and export, never by the daemon.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from daemon.errors import ModelError
from training.abc.model import AbcLSTM, AbcLSTMConfig

KIND = "abc-lstm"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (``model``, ``config``, ``step``, ...) atomically, tagged with :data:`KIND`."""
    tmp = path.with_suffix(".tmp")
    torch.save({**payload, "kind": KIND}, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ModelError(f"{path} does not exist: train one with `antiphon train abc --out {path.parent}`")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or state.get("kind") != KIND:
        raise ModelError(f"{path} is not an ABC LSTM checkpoint")
    return state


def load_model(path: Path) -> tuple[AbcLSTM, dict[str, Any]]:
    """The model in eval mode and the whole checkpoint dict."""
    state = load_checkpoint(path)
    model = AbcLSTM(AbcLSTMConfig(**state["config"]))
    model.load_state_dict(state["model"])
    model.eval()
    return model, state
