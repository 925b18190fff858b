"""The models a preset and mode need, each loaded once and shared between presets.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.control.params import ACCOMPANY_MODES, RESPOND_MODES
from daemon.control.presets import Preset
from daemon.errors import ModelError
from daemon.models.loader import load_model
from daemon.models.restyle import RestyleSet, bundled_restyle_paths
from presets import PRESETS_DIR

log = logging.getLogger(__name__)


class ModelStore:
    """Model files loaded on demand and kept by path (the engine thread's; one ORT thread each).

    Args:
        loader: ``path -> model`` (default :func:`daemon.models.loader.load_model` with one thread).
    """

    def __init__(self, loader: Callable[[Path], Any] | None = None) -> None:
        self._loader = loader or (lambda path: load_model(path, intra_op_num_threads=1, inter_op_num_threads=1))
        self._models: dict[Path, Any] = {}

    def get(self, path: Path) -> Any:
        """The model in ``path``, loading it the first time.

        Raises:
            ModelError: missing file, not ONNX, unknown format or representation.
        """
        model = self._models.get(path)
        if model is None:
            model = self._loader(path)
            self._models[path] = model
        return model


@dataclass(frozen=True)
class ModelPair:
    """The models a preset plays: the LSTM that answers and the GAN (or restyle model) that plays bar by bar
    (either may be None)."""

    lstm: Any = None
    gan: Any = None


ANSWER_KINDS = ("lstm", "abc", "vae")  # kinds that answer phrases in the respond modes


def models_for(preset: Preset, mode: str, store: ModelStore) -> ModelPair:
    """Load what ``mode`` needs from ``preset``: ``[model]`` (either kind), and ``[accompany] model``.

    Raises:
        ModelError: a file cannot be loaded, or the mode needs a kind of model the preset lacks.
    """
    if mode == "thru":
        return ModelPair()
    where = preset.path or preset.name
    if not preset.model.file:
        raise ModelError(f"mode {mode!r} needs a model, and preset {where} has no [model] file")
    main = store.get(preset.model_path)
    lstm = main if getattr(main, "kind", None) in ANSWER_KINDS else None
    gan = main if getattr(main, "kind", None) == "gan" else None
    if mode in RESPOND_MODES and lstm is None:
        raise ModelError(f"mode {mode!r} answers with an LSTM, ABC or VAE model, but {preset.model_path.name} "
                         f"(preset {where}) is a {getattr(main, 'kind', '?')} model; choose mode "
                         f"{'restyle' if getattr(main, 'kind', None) == 'restyle' else 'accompany'} or a "
                         "preset that answers")
    band_kind = "restyle" if mode == "restyle" else "gan"
    band = main if getattr(main, "kind", None) == band_kind else None
    if mode in ACCOMPANY_MODES and band is None:
        path = preset.accompany_model_path
        what, bundled = ("a restyle model", "restyle") if band_kind == "restyle" else ("a GAN", "gan")
        if path is None:
            raise ModelError(f"mode {mode!r} plays bars with {what}; preset {where} names none: add "
                             f"[accompany] model = \"{bundled}-grooves.onnx\" (or play the preset "
                             f"{'restyle' if band_kind == 'restyle' else 'grooves'})")
        band = store.get(path)
        if getattr(band, "kind", None) != band_kind:
            raise ModelError(f"[accompany] model {path.name} (preset {where}) is not {what}; name "
                             f"{what}'s .onnx file")
    if band_kind == "restyle" and band is not None:
        band = restyle_set(band, store)
    return ModelPair(lstm, band if mode in ACCOMPANY_MODES else gan)


def restyle_set(model: Any, store: ModelStore) -> RestyleSet:
    """The preset's restyle model with the bundled restyle files beside it, so that the live
    ``style`` reaches every style they make (rock, latin, swing); the preset's file makes its own
    styles and ``auto``. A bundled file that cannot be read or restyles other bars is left out,
    with a warning."""
    models = [model]
    for path in bundled_restyle_paths(PRESETS_DIR, first=model.info.path)[1:]:
        try:
            other = store.get(path)
            if getattr(other, "kind", None) != "restyle":
                raise ModelError(f"a {getattr(other, 'kind', '?')} model, not a restyle model")
            RestyleSet([model, other])
        except ModelError as exc:
            log.warning("restyle: %s left out: %s", path.name, exc)
            continue
        models.append(other)
    return RestyleSet(models)
