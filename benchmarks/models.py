"""Which model files the daemon benchmarks play, found once per run and shared by the sections.

LSTM (``--lstm-model`` first):
    the bundled ``presets/folk-events.onnx``; else the trained ``runs/folk-events/best.pt``
    exported on the fly; else a freshly initialised note-events LSTM of the bundled size
    (2 x 256), exported on the fly.
GAN (``--gan-model`` first):
    the bundled ``presets/gan-grooves.onnx``; else ``runs/gan-grooves/model.onnx``; else
    ``runs/gan-grooves/checkpoint.pt`` exported on the fly; else a freshly initialised groove
    GAN (drums/bass/chords) of the training defaults, exported on the fly.

Exporting needs torch (the [train] extra); it runs in the benchmark process, never in the
daemon. Every choice comes back with a note saying which it was, for the results.

This module must not import torch at module level.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
from pathlib import Path

import presets
from daemon.errors import AntiphonError, ModelError

log = logging.getLogger(__name__)

BUNDLED_LSTM = presets.PRESETS_DIR / "folk-events.onnx"
BUNDLED_GAN = presets.PRESETS_DIR / "gan-grooves.onnx"
RUNS = Path(__file__).resolve().parents[1] / "runs"
LSTM_RUN = RUNS / "folk-events"
GAN_RUN = RUNS / "gan-grooves"
RANDOM_HIDDEN, RANDOM_LAYERS = 256, 2

_CACHE: dict[str, tuple[Path, str]] = {}
_WORKDIR: list[Path] = []


def _workdir() -> Path:
    """A folder for exported models that lives as long as this process."""
    if not _WORKDIR:
        path = Path(tempfile.mkdtemp(prefix="antiphon-bench-models-"))
        atexit.register(shutil.rmtree, path, True)
        _WORKDIR.append(path)
    return _WORKDIR[0]


def lstm_model(given: Path | None = None) -> tuple[Path, str]:
    """(an LSTM .onnx file, a note saying which) as the module docstring orders them.

    Raises:
        AntiphonError: nothing bundled and no torch to export a stand-in.
    """
    if given is not None:
        return given, f"LSTM: {given}"
    if "lstm" in _CACHE:
        return _CACHE["lstm"]
    if BUNDLED_LSTM.is_file():
        found = BUNDLED_LSTM, f"LSTM: bundled {BUNDLED_LSTM.name}"
    else:
        found = _export_lstm()
    _CACHE["lstm"] = found
    return found


def _export_lstm() -> tuple[Path, str]:
    try:
        from export.lstm import export_lstm
        from export.lstm_checkpoint import random_lstm_checkpoint
    except ModuleNotFoundError as exc:
        raise AntiphonError("no bundled LSTM yet and no torch to export one: install the [train] extra or pass "
                            "--lstm-model FILE.onnx") from exc
    out = _workdir() / "lstm.onnx"
    checkpoint = LSTM_RUN / "best.pt"
    if checkpoint.is_file():
        copy = _workdir() / "folk-events-best.pt"  # training may rewrite it meanwhile
        shutil.copyfile(checkpoint, copy)
        try:
            return export_lstm(copy, out), (f"LSTM: {BUNDLED_LSTM.name} is not bundled yet, so the trained "
                                            f"{checkpoint.relative_to(RUNS.parent)}, exported on the fly")
        except ModelError as exc:
            log.warning("cannot export %s (%s): using a freshly initialised LSTM", checkpoint, exc)
    random = random_lstm_checkpoint(_workdir() / "random-lstm.pt", hidden_size=RANDOM_HIDDEN,
                                    num_layers=RANDOM_LAYERS, seed=0)
    return export_lstm(random, out), (f"LSTM: no bundled or trained model, so a freshly initialised note-events "
                                      f"LSTM of the bundled size ({RANDOM_LAYERS} x {RANDOM_HIDDEN}), exported "
                                      "on the fly")


def gan_model(given: Path | None = None) -> tuple[Path, str]:
    """(a GAN .onnx file, a note saying which) as the module docstring orders them.

    Raises:
        AntiphonError: nothing bundled or exported, and no torch to export a stand-in.
    """
    if given is not None:
        return given, f"GAN: {given}"
    if "gan" in _CACHE:
        return _CACHE["gan"]
    if BUNDLED_GAN.is_file():
        found = BUNDLED_GAN, f"GAN: bundled {BUNDLED_GAN.name}"
    elif (GAN_RUN / "model.onnx").is_file():
        found = GAN_RUN / "model.onnx", f"GAN: {BUNDLED_GAN.name} is not bundled yet, so runs/gan-grooves/model.onnx"
    else:
        found = _export_gan()
    _CACHE["gan"] = found
    return found


def _export_gan() -> tuple[Path, str]:
    try:
        import torch

        from export.gan import export_gan
        from training.gan.checkpoint import save_checkpoint
        from training.gan.data import groove_spec
        from training.gan.model import Critic, GanConfig, Generator
    except ModuleNotFoundError as exc:
        raise AntiphonError("no bundled GAN yet and no torch to export one: install the [train] extra or pass "
                            "--gan-model FILE.onnx") from exc
    out = _workdir() / "gan.onnx"
    checkpoint = GAN_RUN / "checkpoint.pt"
    if checkpoint.is_file():
        copy = _workdir() / "gan-grooves-checkpoint.pt"
        shutil.copyfile(checkpoint, copy)
        try:
            return export_gan(copy, out), (f"GAN: {BUNDLED_GAN.name} is not bundled yet, so the checkpoint in "
                                           f"training, {checkpoint.relative_to(RUNS.parent)}, exported on the fly")
        except ModelError as exc:
            log.warning("cannot export %s (%s): using a freshly initialised GAN", checkpoint, exc)
    torch.manual_seed(0)
    spec = groove_spec()
    config = GanConfig(len(spec.tracks), spec.steps_per_bar, spec.n_pitches, tuple(t.rows for t in spec.tracks))
    generator = Generator(config).eval()
    random = save_checkpoint(_workdir() / "random-gan.pt", config, spec, generator, Critic(config),
                             {"sources": ["none"]}, {})
    return export_gan(random, out), ("GAN: no bundled or trained model, so a freshly initialised groove GAN "
                                     "(drums/bass/chords), exported on the fly")


DEFAULT_THRESHOLD = 0.5  # the bundled accompany presets' binarisation threshold
DENSITY_RANGE = (0.001, 0.10)  # fraction of a bar's cells on at the threshold that plays like music
FALLBACK_DENSITY = 0.02  # ...else the threshold that keeps this fraction (an untrained GAN's outputs bunch up)
CALIBRATION_BARS = 8


def accompany_threshold(path: Path) -> tuple[float, str]:
    """A binarisation threshold for the GAN in ``path``, and a note saying how it was chosen.

    :data:`DEFAULT_THRESHOLD` when it turns between 0.1 % and 10 % of a sampled bar's cells on
    (a trained model); otherwise (a freshly initialised one, whose outputs all sit near one
    value) the quantile that keeps :data:`FALLBACK_DENSITY` of them, so the daemon neither
    falls silent nor floods the port.
    """
    import numpy as np

    from daemon.models.gan import open_gan

    model = open_gan(path)
    rolls = np.concatenate([model.roll(None, np.random.default_rng(seed)) for seed in range(CALIBRATION_BARS)])
    density = float(np.mean(rolls > DEFAULT_THRESHOLD))
    if DENSITY_RANGE[0] <= density <= DENSITY_RANGE[1]:
        return DEFAULT_THRESHOLD, f"threshold {DEFAULT_THRESHOLD:g} ({density:.1%} of cells on)"
    threshold = float(np.quantile(rolls, 1.0 - FALLBACK_DENSITY))
    return threshold, (f"threshold {threshold:.4g}: {DEFAULT_THRESHOLD:g} would turn {density:.1%} of cells on, so "
                       f"the one keeping {FALLBACK_DENSITY:.0%}")
