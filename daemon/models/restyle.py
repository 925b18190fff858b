"""The restyle model: a groove bar in, the same bar in another style out (CycleGAN generators).

One ONNX file (``antiphon.kind = "restyle"``) holds both directions of a style pair:

* input ``bar`` float32 ``(B, T, S, P)``: 0/1 pianoroll bars (:mod:`daemon.music.pianoroll`, the
  file's ``representation``), any style;
* outputs ``to_<style>`` float32 ``(B, T, S, P)``: each bar's note probabilities in that style,
  one output per style of the pair.

Metadata beside the common keys: ``styles`` (the pair, A then B), ``files`` (the library files
each style was learned from), ``threshold`` (binarisation, 0.5). A bar asked for in its own style
comes back nearly as it was (the identity loss), so restyling to either side is always allowed.

Several files of one bar layout play as one (:class:`RestyleSet`): each style is made by the first
file that makes it. The bundled files (:data:`BUNDLED_RESTYLE_FILES`, under ``presets/``) are
rock <-> latin and rock <-> swing, so a preset on either plays all three styles.

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from daemon.errors import AntiphonError, ModelError
from daemon.models.onnx_file import FORMAT_VERSION, ModelInfo, open_session
from daemon.music.codecs import codec_from_dict
from daemon.music.pianoroll import Bars, RollSpec, binarise

KIND = "restyle"
INPUT_NAME = "bar"
OUTPUT_PREFIX = "to_"
AUTO = "auto"  # the pair's second style (B), the one the model was trained to make from A
# The bundled restyle files (under presets/), each a pair of styles; the first is the default offline.
BUNDLED_RESTYLE_FILES = ("restyle-grooves.onnx", "restyle-swing.onnx")


class RestyleError(ModelError):
    """A style the model does not make, or a bar it cannot read."""


class RestyleModel:
    """Both directions of one style pair, behind one onnxruntime session.

    Args:
        session: an ``onnxruntime.InferenceSession`` of a restyle graph.
        info: the file's :class:`~daemon.models.onnx_file.ModelInfo`.

    Raises:
        ModelError: the file is not a restyle model of a representation this version reads.
    """

    kind = KIND
    hears_chords = False

    def __init__(self, session: Any, info: ModelInfo) -> None:
        if info.kind != KIND:
            raise ModelError(f"{info.path.name} is a {info.kind!r} model, not a restyle model")
        try:
            spec = codec_from_dict(info.representation)
        except (AntiphonError, KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{info.path.name}: the representation cannot be read ({exc}); re-export it") from exc
        if not isinstance(spec, RollSpec):
            raise ModelError(f"{info.path.name}: a restyle model needs a pianoroll representation")
        outputs = [o.name for o in session.get_outputs()]
        targets = tuple(name[len(OUTPUT_PREFIX):] for name in outputs if name.startswith(OUTPUT_PREFIX))
        styles = tuple(str(s) for s in info.extra.get("styles", ()))
        if len(styles) != 2 or set(styles) != set(targets):
            raise ModelError(f"{info.path.name}: styles {list(styles)} do not match the graph's outputs {outputs}; "
                             "re-export it")
        self.session = session
        self.info = info
        self.spec = spec
        self.styles = styles
        self.threshold = float(info.extra.get("threshold", 0.5))
        self.format = FORMAT_VERSION

    def __repr__(self) -> str:
        return f"RestyleModel({self.info.path.name}: {self.styles[0]} <-> {self.styles[1]})"

    def target(self, to: str | None) -> str:
        """The style name ``to`` resolved: ``auto``/None is the pair's B.

        Raises:
            RestyleError: a style this model does not make (the message lists those it does).
        """
        if to is None or to.lower() == AUTO:
            return self.styles[1]
        name = to.strip().lower()
        if name not in self.styles:
            raise RestyleError(f"{self.info.path.name} restyles to {' or '.join(self.styles)}, not {to!r}")
        return name

    def probabilities(self, bars: np.ndarray, to: str | None) -> np.ndarray:
        """Note probabilities ``(N, T, S, P)`` of ``bars`` (bool or 0/1, ``(N, T, S, P)``) in style ``to``."""
        bars = np.asarray(bars, np.float32)
        if bars.ndim != 4 or bars.shape[1:] != self.spec.bar_shape:
            raise RestyleError(f"bars of shape {bars.shape} do not match the model's {self.spec.bar_shape}")
        name = OUTPUT_PREFIX + self.target(to)
        (out,) = self.session.run([name], {INPUT_NAME: bars})
        return out

    def restyle(self, bars: np.ndarray, to: str | None, allowed_pitches: np.ndarray | None = None,
                velocity: int = 90, threshold: float | None = None) -> Bars:
        """``bars`` in style ``to``, binarised; pitched rows whose MIDI pitch is not in
        ``allowed_pitches`` (bool ``(128,)``, e.g. a key mask) stay silent.

        A part silent in a source bar stays silent in its restyled bar (and an empty bar empty):
        restyling changes how each part you play sounds, not which parts play. Without this rule
        the generators add scattered bass and chord notes to a drums-only bar.
        """
        probs = self.probabilities(bars, to)
        probs = probs * row_mask(self.spec, allowed_pitches)
        silent = ~np.asarray(bars, bool).any(axis=(2, 3))  # (N, T): the part plays nothing in the bar
        probs[silent] = 0.0
        return binarise(probs, self.spec, self.threshold if threshold is None else threshold, velocity=velocity)


def with_velocities(moved: Bars, source: Bars) -> Bars:
    """``moved`` with each track of each bar at the median onset velocity of the same track and bar
    of ``source`` (the model's own velocity where the source track has no onset)."""
    velocity = np.zeros_like(moved.velocity)
    for b in range(len(moved)):
        for t in range(moved.velocity.shape[1]):
            played = source.velocity[b, t][source.onset[b, t]]
            level = int(np.median(played)) if played.size else int(moved.velocity[b, t].max(initial=0))
            velocity[b, t][moved.onset[b, t]] = max(1, min(127, level or 90))
    return Bars(moved.active, moved.onset, velocity)


def row_mask(spec: RollSpec, allowed_pitches: np.ndarray | None) -> np.ndarray:
    """``(1, T, 1, P)`` float32: 1 where a row may sound (drum rows always; pitched rows whose pitch
    is allowed), 0 elsewhere."""
    mask = np.ones((1, *spec.bar_shape), np.float32)[:, :, :1, :]
    if allowed_pitches is None:
        return mask
    allowed = np.asarray(allowed_pitches, bool)
    for t, track in enumerate(spec.tracks):
        if track.drums:
            continue
        pitches = track.lowest_pitch + np.arange(spec.n_pitches)
        ok = (pitches < len(allowed)) & allowed[np.clip(pitches, 0, len(allowed) - 1)]
        mask[0, t, 0, :] = ok.astype(np.float32)
    return mask


def open_restyle(path: Any, threads: int = 1) -> RestyleModel:
    """Open a restyle ``.onnx`` file on the CPU.

    Raises:
        ModelError: missing, not ONNX, or not a restyle model this version reads.
    """
    session, info = open_session(path, intra_op_num_threads=threads)
    return RestyleModel(session, info)


class RestyleSet:
    """Several restyle files of one bar layout played as one: each style by the first file that
    makes it; ``auto`` is the first file's own. Offers what :class:`RestyleModel` offers to players.

    Args:
        models: at least one :class:`RestyleModel`, the first the preset's own.

    Raises:
        ModelError: no model, or files whose bars differ.
    """

    kind = KIND

    def __init__(self, models: Sequence[RestyleModel]) -> None:
        if not models:
            raise ModelError("a restyle set needs at least one restyle model")
        first = models[0]
        for other in models[1:]:
            if other.spec != first.spec:
                raise ModelError(f"{other.info.path.name} restyles bars of another layout than "
                                 f"{first.info.path.name}'s")
        self.models = tuple(models)
        self.spec = first.spec
        self.info = first.info
        self.threshold = first.threshold
        self.styles = tuple(dict.fromkeys(style for model in self.models for style in model.styles))

    def __repr__(self) -> str:
        return f"RestyleSet({', '.join(repr(m) for m in self.models)})"

    def maker(self, to: str | None) -> RestyleModel:
        """The model that makes style ``to`` (``auto``/None: the first).

        Raises:
            RestyleError: no model of the set makes it (the message lists the styles they make).
        """
        if to is None or to.strip().lower() == AUTO:
            return self.models[0]
        name = to.strip().lower()
        for model in self.models:
            if name in model.styles:
                return model
        files = " and ".join(m.info.path.name for m in self.models)
        verb = "restyles" if len(self.models) == 1 else "restyle"
        raise RestyleError(f"{files} {verb} to {', '.join(self.styles)}, not {to!r}")

    def target(self, to: str | None) -> str:
        """The style name ``to`` resolved (see :meth:`RestyleModel.target`)."""
        return self.maker(to).target(to)

    def probabilities(self, bars: np.ndarray, to: str | None) -> np.ndarray:
        return self.maker(to).probabilities(bars, to)

    def restyle(self, bars: np.ndarray, to: str | None, allowed_pitches: np.ndarray | None = None,
                velocity: int = 90, threshold: float | None = None) -> Bars:
        """``bars`` in style ``to`` by the file that makes it (see :meth:`RestyleModel.restyle`)."""
        return self.maker(to).restyle(bars, to, allowed_pitches, velocity=velocity, threshold=threshold)


def bundled_restyle_paths(presets_dir: Path, first: Path | None = None) -> list[Path]:
    """``first`` (when given), then the bundled restyle files under ``presets_dir`` that exist, each once."""
    paths = [] if first is None else [Path(first)]
    for name in BUNDLED_RESTYLE_FILES:
        path = presets_dir / name
        if path.is_file() and all(path.resolve() != p.resolve() for p in paths):
            paths.append(path)
    return paths
