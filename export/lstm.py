"""Export an LSTM checkpoint to the ONNX *step graph* the daemon runs.

The ONNX LSTM step graph (Antiphon model format 1)
==================================================

One call advances the model by one event; the daemon keeps the state between calls.

Inputs
    ``token``  int64   ``(B, F)``       one index per token field, in the codec's field order
    ``h``      float32 ``(L, B, H)``    hidden state (zeros before the first token)
    ``c``      float32 ``(L, B, H)``    cell state (zeros before the first token)

Outputs
    ``logits_<field>``  float32 ``(B, V_f)``   unnormalised log-probabilities of the *next*
                        event's field, one output per field in codec ``FIELDS`` order
                        (``note-events/1``: ``logits_shift, logits_pitch, logits_duration,
                        logits_velocity``; ``chord/1``: ``logits_chord, logits_duration``)
    ``h_out``, ``c_out`` float32 ``(L, B, H)``  the state after this token

``B`` is dynamic (axis name ``batch``); ``L`` (layers), ``H`` (hidden size), ``F`` and ``V_f``
are fixed. Opset :data:`OPSET`; weights stay float32. The graph holds a native ONNX ``LSTM``
node per layer (the TorchScript exporter writes one; onnxruntime runs it with a fused kernel
and its dynamic quantiser turns it into ``DynamicQuantizeLSTM``).

Metadata (``metadata_props``; every value is JSON)
    ``antiphon.format``          ``"1"``
    ``antiphon.kind``            ``"lstm"``
    ``antiphon.representation``  ``codec.to_dict()`` (name, version, grid, ...)
    ``antiphon.model_config``    ``asdict(LSTMConfig)``
    ``antiphon.inputs``          ``["token", "h", "c"]``
    ``antiphon.outputs``         ``["logits_<field>", ..., "h_out", "c_out"]``
    ``antiphon.training``        the checkpoint's ``training`` dict
    ``antiphon.metrics``         the checkpoint's ``metrics`` dict
    ``antiphon.quantization``    ``"none"`` or ``"int8-dynamic"`` (weights int8, activations
                                 quantised per call; the int8 file is written beside the fp32 one)

Why ``dynamo=False``: the torch.export-based exporter needs ``onnxscript`` and lowers
``nn.LSTM`` to a loop rather than the ``LSTM`` operator; the TorchScript exporter gives the
fused operator, which is both faster in onnxruntime and quantisable.

Imports torch and onnx: run by ``antiphon export``, never by the daemon.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from daemon.errors import ModelError
from daemon.models.lstm import LSTM_INPUTS, STATE_OUTPUTS, logits_output_name
from daemon.models.onnx_file import FORMAT_VERSION, META_PREFIX
from export.lstm_checkpoint import LstmCheckpoint, load_lstm_checkpoint
from export.onnx_file import BATCH_AXIS, OPSET, _json, _set_metadata
from training.lstm.model import EventLSTM

log = logging.getLogger(__name__)
INT8_SUFFIX = ".int8.onnx"


class LstmStepGraph(nn.Module):
    """Wraps :meth:`EventLSTM.step` so its outputs are a flat tuple (logits..., h, c)."""

    def __init__(self, model: EventLSTM) -> None:
        super().__init__()
        self.model = model

    def forward(self, token: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, h_out, c_out = self.model.step(token, h, c)  # [(B, V_f)], (L, B, H), (L, B, H)
        return (*logits, h_out, c_out)


def int8_path(onnx_path: str | Path) -> Path:
    """Where the int8 twin of ``model.onnx`` goes: ``model.int8.onnx``."""
    path = Path(onnx_path)
    return path.with_name(path.name[: -len(".onnx")] + INT8_SUFFIX if path.name.endswith(".onnx")
                          else path.name + INT8_SUFFIX)


def lstm_metadata(ckpt: LstmCheckpoint, quantization: str = "none") -> dict[str, str]:
    """The ``antiphon.*`` metadata of an LSTM step graph, values as JSON text."""
    outputs = [logits_output_name(f) for f in ckpt.codec.FIELDS] + list(STATE_OUTPUTS)
    values: Mapping[str, Any] = {
        "format": FORMAT_VERSION,
        "kind": "lstm",
        "representation": ckpt.codec.to_dict(),
        "model_config": asdict(ckpt.config),
        "inputs": list(LSTM_INPUTS),
        "outputs": outputs,
        "training": dict(ckpt.training),
        "metrics": dict(ckpt.metrics),
        "quantization": quantization,
    }
    return {META_PREFIX + k: _json(v) for k, v in values.items()}


def export_lstm(checkpoint_path: str | Path, onnx_path: str | Path, quantize: bool = False) -> Path:
    """Export a checkpoint's LSTM as the step graph above, with metadata.

    Args:
        checkpoint_path: a ``.pt`` written by training.
        onnx_path: where the float32 model goes (parent folders are created).
        quantize: also write an int8 dynamically quantised twin at :func:`int8_path`.

    Returns:
        ``onnx_path`` (the float32 file).

    Raises:
        ModelError: the checkpoint cannot be read or does not fit its own representation.
    """
    ckpt = load_lstm_checkpoint(checkpoint_path)
    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    config = ckpt.config
    graph = LstmStepGraph(ckpt.model).eval()
    token = torch.zeros((1, len(config.vocab_sizes)), dtype=torch.int64)
    h, c = ckpt.model.initial_state(1)
    output_names = [logits_output_name(f) for f in ckpt.codec.FIELDS] + list(STATE_OUTPUTS)
    dynamic_axes: dict[str, dict[int, str]] = {"token": {0: BATCH_AXIS}, "h": {1: BATCH_AXIS}, "c": {1: BATCH_AXIS}}
    dynamic_axes.update({name: {0: BATCH_AXIS} for name in output_names[:-2]})
    dynamic_axes.update({name: {1: BATCH_AXIS} for name in STATE_OUTPUTS})
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy exporter warns that it is legacy, and that LSTM batch sizes other than 1
        # need h0/c0 as inputs -- which they are; tracing warns about nn.LSTM's shape checks.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # nn.LSTM's shape checks, constant here
        torch.onnx.export(graph, (token, h, c), str(onnx_path), input_names=list(LSTM_INPUTS),
                          output_names=output_names, dynamic_axes=dynamic_axes, opset_version=OPSET,
                          do_constant_folding=True, dynamo=False)
    model = onnx.load(str(onnx_path))
    _set_metadata(model, lstm_metadata(ckpt))
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))
    log.info("exported %s -> %s (%d layers x %d hidden, %s/%d)", ckpt.path, onnx_path, config.num_layers,
             config.hidden_size, ckpt.codec.NAME, ckpt.codec.VERSION)
    if quantize:
        quantize_lstm(onnx_path, int8_path(onnx_path))
    return onnx_path


def quantize_lstm(fp32_path: str | Path, out_path: str | Path) -> Path:
    """Write an int8 dynamically quantised copy of an exported step graph (weights int8).

    onnxruntime's ``quantize_dynamic`` turns ``LSTM`` into ``DynamicQuantizeLSTM``, the heads'
    ``MatMul`` into integer matmuls and the embeddings' ``Gather`` into int8 lookups. The
    Antiphon metadata is kept, with ``antiphon.quantization`` set to ``"int8-dynamic"``.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32_path, out_path = Path(fp32_path), Path(out_path)
    quant_log = logging.getLogger()  # the quantiser logs a pre-processing hint on the root logger
    previous = quant_log.level
    quant_log.setLevel(max(previous, logging.ERROR))
    try:
        quantize_dynamic(str(fp32_path), str(out_path), weight_type=QuantType.QInt8)
    finally:
        quant_log.setLevel(previous)
    model = onnx.load(str(out_path))
    meta = {p.key: p.value for p in model.metadata_props if p.key.startswith(META_PREFIX)}
    if META_PREFIX + "format" not in meta:
        raise ModelError(f"quantising {fp32_path} lost its metadata")
    meta[META_PREFIX + "quantization"] = _json("int8-dynamic")
    _set_metadata(model, meta)
    onnx.save(model, str(out_path))
    log.info("quantised %s -> %s", fp32_path, out_path)
    return out_path
