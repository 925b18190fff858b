"""Load ONNX model files and run them with onnxruntime.

A model file carries everything the daemon needs in its ``metadata_props`` (JSON values;
see ``export/lstm.py`` for the full contract):

==============================  =========================================================
``antiphon.format``             ``"1"``: the layout of this metadata
``antiphon.kind``               ``"lstm"`` or ``"gan"``: which runner loads the file
``antiphon.representation``     the codec's ``to_dict()``, rebuilt with ``codec_from_dict``
``antiphon.model_config``       the model's constructor arguments
``antiphon.inputs/outputs``     graph input and output names, in order
``antiphon.training/metrics``   what it was trained on and how well it did (informational,
                                but for how a GAN's voices decode: ``daemon.models.gan``)
==============================  =========================================================

:func:`load_model` refuses, with :class:`~daemon.errors.ModelError` and a message that says
what to do, a missing file, a file that is not ONNX, an unknown format or kind, and a
representation name or version this Antiphon does not know. The daemon keeps the model it
had when loading a new one fails.

onnxruntime sessions are created with explicit intra-/inter-op thread counts (default 1:
the daemon steps one small model at a time and must not fight the audio/MIDI threads), and
with every graph optimisation on. A session is not shared across threads: the engine
thread owns it.

This module never imports torch, ``training`` or ``export``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnxruntime as ort

from daemon.errors import AntiphonError, ModelError
from daemon.models.onnx_file import ModelInfo, open_session
from daemon.music.chords import ChordCodec
from daemon.music.codecs import codec_from_dict
from daemon.music.events import NoteEventCodec

log = logging.getLogger(__name__)
LSTM_INPUTS = ("token", "h", "c")
STATE_OUTPUTS = ("h_out", "c_out")
TokenCodec = NoteEventCodec | ChordCodec


def logits_output_name(field_name: str) -> str:
    """Name of the step graph's logit output for a token field (``logits_pitch``)."""
    return f"logits_{field_name}"


class LstmState(NamedTuple):
    """Recurrent state, each ``(num_layers, batch, hidden_size)`` float32."""

    h: np.ndarray
    c: np.ndarray


class LstmModel:
    """An exported LSTM step graph, advanced one event at a time.

    Attributes:
        codec: the token representation the model was trained on.
        info: the file's metadata.
        field_names: token fields, in the codec's order.
        vocab_sizes: classes per field.
        num_layers, hidden_size: the recurrent state's shape (``(num_layers, B, hidden_size)``).

    :meth:`step` is the hot path: it reuses one token buffer and one input dict, checks the
    token against the vocabulary (onnxruntime's Gather would silently wrap a negative index),
    and returns onnxruntime's own output arrays without copying them.
    Not thread-safe: one engine thread owns a model.
    """

    def __init__(self, session: ort.InferenceSession, info: ModelInfo) -> None:
        self.session = session
        self.info = info
        try:
            codec = codec_from_dict(info.representation)
        except AntiphonError as exc:
            raise ModelError(f"{info.path}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{info.path}: representation metadata is incomplete ({exc!r}); re-export it") from exc
        if not isinstance(codec, (NoteEventCodec, ChordCodec)):
            raise ModelError(f"{info.path}: an LSTM needs a token representation, not {codec.NAME!r}")
        self.codec: TokenCodec = codec
        self.field_names: tuple[str, ...] = tuple(codec.FIELDS)
        self.vocab_sizes: tuple[int, ...] = tuple(int(v) for v in codec.vocab_sizes)
        self._output_names = [logits_output_name(f) for f in self.field_names] + list(STATE_OUTPUTS)
        self._check_graph()
        h_shape = session.get_inputs()[1].shape
        self.num_layers = int(h_shape[0])
        self.hidden_size = int(h_shape[2])
        self._vocab = np.array(self.vocab_sizes, np.int64)
        self._token = np.zeros((1, len(self.field_names)), np.int64)
        self._feed: dict[str, np.ndarray] = {"token": self._token}
        self._run: Callable[..., list[np.ndarray]] = session.run

    def _check_graph(self) -> None:
        path = self.info.path
        inputs = self.session.get_inputs()
        outputs = {o.name: o for o in self.session.get_outputs()}
        if tuple(i.name for i in inputs) != LSTM_INPUTS:
            raise ModelError(f"{path}: LSTM step graph inputs are {[i.name for i in inputs]}, "
                             f"expected {list(LSTM_INPUTS)}; re-export the model")
        missing = [n for n in self._output_names if n not in outputs]
        if missing:
            raise ModelError(f"{path}: LSTM step graph lacks outputs {missing}; re-export the model")
        token_width = inputs[0].shape[1]
        if token_width != len(self.field_names):
            raise ModelError(f"{path}: token width {token_width} does not match the representation's "
                             f"{len(self.field_names)} fields")
        for name, size in zip(self.field_names, self.vocab_sizes):
            width = outputs[logits_output_name(name)].shape[1]
            if isinstance(width, int) and width != size:
                raise ModelError(f"{path}: head {name!r} has {width} classes, the representation {size}; "
                                 "the file is inconsistent, re-export it")
        for i in (1, 2):
            shape = inputs[i].shape
            if len(shape) != 3 or not isinstance(shape[0], int) or not isinstance(shape[2], int):
                raise ModelError(f"{path}: state input {inputs[i].name} has shape {shape}, "
                                 "expected (layers, batch, hidden)")

    @property
    def kind(self) -> str:
        return "lstm"

    def initial_state(self, batch: int = 1) -> LstmState:
        """Zero state for ``batch`` sequences."""
        shape = (self.num_layers, batch, self.hidden_size)
        return LstmState(np.zeros(shape, np.float32), np.zeros(shape, np.float32))

    def step(self, token: np.ndarray | Sequence[int], state: LstmState) -> tuple[list[np.ndarray], LstmState]:
        """Advance one event.

        Args:
            token: ``(F,)`` int64 token (one index per field).
            state: the state after the previous token (batch 1).

        Returns:
            logits per field, each ``(V_f,)`` float32, and the new state.

        Raises:
            ModelError: a token index outside its field's vocabulary.
        """
        buf = self._token
        buf[0] = token
        if (buf < 0).any() or (buf >= self._vocab).any():
            raise ModelError(f"token {buf[0].tolist()} is outside the vocabulary sizes {self.vocab_sizes}")
        feed = self._feed
        feed["h"] = state.h
        feed["c"] = state.c
        out = self._run(self._output_names, feed)
        n = len(self.field_names)
        return [x[0] for x in out[:n]], LstmState(out[n], out[n + 1])

    def step_batch(self, tokens: np.ndarray, state: LstmState) -> tuple[list[np.ndarray], LstmState]:
        """Advance ``B`` independent sequences one event each.

        Args:
            tokens: ``(B, F)`` int64.
            state: ``(num_layers, B, hidden_size)`` each.

        Returns:
            logits per field ``(B, V_f)`` and the new state.
        """
        tokens = np.ascontiguousarray(tokens, np.int64)
        if tokens.ndim != 2 or tokens.shape[1] != len(self.field_names):
            raise ModelError(f"tokens of shape {tokens.shape} do not match ({len(self.field_names)} fields)")
        if (tokens < 0).any() or (tokens >= self._vocab).any():
            raise ModelError(f"a token is outside the vocabulary sizes {self.vocab_sizes}")
        out = self._run(self._output_names, {"token": tokens, "h": state.h, "c": state.c})
        n = len(self.field_names)
        return list(out[:n]), LstmState(out[n], out[n + 1])

    def __repr__(self) -> str:
        return (f"LstmModel({self.info.path.name!r}, {self.codec.NAME}/{self.codec.VERSION}, "
                f"{self.num_layers}x{self.hidden_size})")


def load_lstm(path: str | Path, intra_op_num_threads: int = 1, inter_op_num_threads: int = 1) -> LstmModel:
    """:func:`load_model`, refusing anything but an LSTM step graph.

    Raises:
        ModelError: as :func:`load_model`, or the file holds another kind of model.
    """
    session, info = open_session(path, intra_op_num_threads, inter_op_num_threads)
    if info.kind != "lstm":
        raise ModelError(f"{info.path} is a {info.kind!r} model; continuing a phrase needs an LSTM model")
    model = LstmModel(session, info)
    log.info("loaded %r", model)
    return model
