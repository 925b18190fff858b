"""Read LSTM checkpoints, and write random-weight ones for tests and benchmarks.

A checkpoint is what ``training`` writes with ``torch.save``::

    {"kind": "lstm", "model_args": asdict(LSTMConfig), "representation": codec.to_dict(),
     "state_dict": model.state_dict(), "training": {...}, "metrics": {...}}

Imports torch: only ``export``, ``training``, benchmarks and tests use this module.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from daemon.errors import AntiphonError, ModelError
from daemon.music.chords import ChordCodec
from daemon.music.codecs import codec_from_dict
from daemon.music.events import NoteEventCodec
from training.lstm.model import EventLSTM, LSTMConfig

log = logging.getLogger(__name__)

# Embedding widths per field for random models of the bundled size (shift, pitch, duration, velocity).
DEFAULT_EMBED_DIMS = {NoteEventCodec.NAME: (16, 64, 32, 16), ChordCodec.NAME: (128, 16)}


@dataclass
class LstmCheckpoint:
    """A loaded LSTM checkpoint, the model in eval mode on the CPU."""

    path: Path
    model: EventLSTM
    codec: NoteEventCodec | ChordCodec
    config: LSTMConfig
    training: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # The training/metrics dicts may hold objects weights_only refuses (numpy scalars...).
        log.warning("%s holds more than tensors and plain values (numpy scalars in its metrics?); "
                    "loading it in full, which is safe only for checkpoints you trust", path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.load(path, map_location="cpu", weights_only=False)


def load_lstm_checkpoint(path: str | Path) -> LstmCheckpoint:
    """Rebuild the model, its config and codec from a checkpoint file.

    Raises:
        ModelError: missing or unreadable file, not an LSTM checkpoint, a representation that
            does not match the model's vocabulary sizes, or weights that do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint {path} does not exist")
    try:
        data = _torch_load(path)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise ModelError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, Mapping):
        raise ModelError(f"{path} is not an Antiphon checkpoint (a dict with kind, model_args, ...)")
    missing = [k for k in ("kind", "model_args", "representation", "state_dict") if k not in data]
    if missing:
        raise ModelError(f"{path} is not an Antiphon checkpoint: it lacks {', '.join(missing)}")
    if data["kind"] != "lstm":
        raise ModelError(f"{path} is a {data['kind']!r} checkpoint; 'antiphon export lstm' exports LSTMs")
    try:
        codec = codec_from_dict(data["representation"])
    except AntiphonError as exc:
        raise ModelError(f"{path}: {exc}") from exc
    if not isinstance(codec, (NoteEventCodec, ChordCodec)):
        raise ModelError(f"{path}: an LSTM needs a token representation, not {codec.NAME!r}")
    args = dict(data["model_args"])
    args["vocab_sizes"] = tuple(args["vocab_sizes"])
    args["embed_dims"] = tuple(args["embed_dims"])
    try:
        config = LSTMConfig(**args)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{path}: model_args do not build an LSTMConfig ({exc})") from exc
    if tuple(config.vocab_sizes) != tuple(codec.vocab_sizes):
        raise ModelError(f"{path}: the model's vocabulary sizes {config.vocab_sizes} do not match its "
                         f"representation's {tuple(codec.vocab_sizes)}")
    model = EventLSTM(config)
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not fit the model ({str(exc).splitlines()[0]})") from exc
    model.eval()
    return LstmCheckpoint(path, model, codec, config, dict(data.get("training") or {}),
                          dict(data.get("metrics") or {}))


def random_lstm_checkpoint(
    path: str | Path,
    codec: NoteEventCodec | ChordCodec | None = None,
    hidden_size: int = 256,
    num_layers: int = 2,
    embed_dims: tuple[int, ...] | None = None,
    seed: int = 0,
) -> Path:
    """Write a checkpoint of a freshly initialised :class:`EventLSTM` (for tests and benchmarks).

    The ``training`` entry says ``{"data": "none (random weights)"}`` so nobody mistakes it
    for a trained model.
    """
    codec = codec or NoteEventCodec()
    dims = embed_dims or DEFAULT_EMBED_DIMS[codec.NAME]
    config = LSTMConfig(tuple(codec.vocab_sizes), tuple(dims), hidden_size=hidden_size, num_layers=num_layers)
    torch.manual_seed(seed)
    model = EventLSTM(config)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"kind": "lstm", "model_args": asdict(config), "representation": codec.to_dict(),
                "state_dict": model.state_dict(),
                "training": {"data": "none (random weights)", "seed": seed}, "metrics": {}}, path)
    return path
