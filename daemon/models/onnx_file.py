"""Opening an Antiphon ONNX file: sessions, threads, and the metadata every file carries.

The daemon refuses a file whose format or representation version it does not know, with a clear
message. This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime as ort

from daemon.errors import ModelError

FORMAT_VERSION = "1"
META_PREFIX = "antiphon."


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself.

    Attributes:
        path: the file.
        kind: ``"lstm"`` or another runner's name.
        representation: the representation dict as stored.
        model_config: the model's constructor arguments.
        inputs: graph input names, in order.
        outputs: graph output names, in order.
        training: data, steps, seed... as the trainer recorded them.
        metrics: evaluation numbers as the trainer recorded them.
        extra: any other ``antiphon.*`` keys (e.g. ``quantization``).
    """

    path: Path
    kind: str
    representation: Mapping[str, Any]
    model_config: Mapping[str, Any]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    training: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


def session_options(intra_op_num_threads: int = 1, inter_op_num_threads: int = 1) -> ort.SessionOptions:
    """onnxruntime options as the daemon uses them: explicit threads, all graph optimisations."""
    if intra_op_num_threads < 1 or inter_op_num_threads < 1:
        raise ModelError("onnxruntime thread counts must be at least 1")
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_num_threads
    options.inter_op_num_threads = inter_op_num_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only; onnxruntime's warnings are not the musician's business
    return options


def open_session(path: str | Path, intra_op_num_threads: int = 1,
                 inter_op_num_threads: int = 1) -> tuple[ort.InferenceSession, ModelInfo]:
    """Open an ONNX file on the CPU and read its Antiphon metadata.

    Raises:
        ModelError: missing file, not ONNX, no or unknown Antiphon metadata.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist; check the preset's [model] file or --model")
    options = session_options(intra_op_num_threads, inter_op_num_threads)
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's errors derive from Exception only (InvalidProtobuf, Fail, ...)
        raise ModelError(f"{path} is not an ONNX model onnxruntime can load ({_first_line(exc)}); "
                         "export one with 'antiphon export'") from exc
    return session, read_info(path, session.get_modelmeta().custom_metadata_map)


def read_info(path: Path, metadata: Mapping[str, str]) -> ModelInfo:
    """Parse and check the ``antiphon.*`` metadata of a model file."""
    if META_PREFIX + "format" not in metadata:
        raise ModelError(f"{path} carries no Antiphon metadata; export it with 'antiphon export'")
    values: dict[str, Any] = {}
    for key, text in metadata.items():
        if not key.startswith(META_PREFIX):
            continue
        try:
            values[key[len(META_PREFIX):]] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"{path}: metadata {key} is not valid JSON ({exc}); re-export the model") from exc
    fmt = str(values.pop("format"))
    if fmt != FORMAT_VERSION:
        raise ModelError(f"{path} uses Antiphon model format {fmt}; this Antiphon reads format {FORMAT_VERSION}. "
                         "Upgrade Antiphon or re-export the model")
    missing = [k for k in ("kind", "representation", "model_config", "inputs", "outputs") if k not in values]
    if missing:
        raise ModelError(f"{path} lacks metadata {', '.join(META_PREFIX + k for k in missing)}; re-export it")
    if not isinstance(values["representation"], dict):
        raise ModelError(f"{path}: antiphon.representation is not an object; re-export the model")
    return ModelInfo(
        path=path,
        kind=str(values.pop("kind")),
        representation=values.pop("representation"),
        model_config=values.pop("model_config"),
        inputs=tuple(values.pop("inputs")),
        outputs=tuple(values.pop("outputs")),
        training=values.pop("training", {}) or {},
        metrics=values.pop("metrics", {}) or {},
        extra=values,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
