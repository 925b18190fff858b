"""The registry of model kinds the daemon runs, and the one loader that picks by kind.

A new model kind adds one module in ``daemon/models/`` and one row in :data:`RUNNERS`.
This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnxruntime as ort

from daemon.errors import ModelError
from daemon.models.abc import AbcModel
from daemon.models.gan import load_gan
from daemon.models.lstm import LstmModel
from daemon.models.onnx_file import ModelInfo, open_session
from daemon.models.restyle import RestyleModel
from daemon.models.vae import VaeModel

log = logging.getLogger(__name__)
ModelLoader = Callable[[ort.InferenceSession, ModelInfo], Any]


# Runner per ``antiphon.kind``: a callable (session, info) -> model. One row per model kind.
RUNNERS: dict[str, ModelLoader] = {"lstm": LstmModel, "gan": load_gan, "abc": AbcModel, "vae": VaeModel,
                                 "restyle": RestyleModel}


def load_model(path: str | Path, intra_op_num_threads: int = 1, inter_op_num_threads: int = 1) -> Any:
    """Load an Antiphon ONNX file and return the runner its ``antiphon.kind`` names.

    Args:
        path: the ``.onnx`` file.
        intra_op_num_threads: onnxruntime threads inside one operator (default 1).
        inter_op_num_threads: onnxruntime threads across operators (default 1).

    Returns:
        an :class:`LstmModel` for ``"lstm"`` files, the GAN runner for ``"gan"`` files.

    Raises:
        ModelError: the file is missing, not ONNX, of an unknown format, kind or
            representation version, or inconsistent with its metadata.
    """
    session, info = open_session(path, intra_op_num_threads, inter_op_num_threads)
    runner = RUNNERS.get(info.kind)
    if runner is None:
        raise ModelError(f"{info.path} is a {info.kind!r} model; this Antiphon runs {', '.join(sorted(RUNNERS))}. "
                         "Upgrade Antiphon or pick another model")
    model = runner(session, info)
    log.info("loaded %r", model)
    return model
