"""What every exported file shares: the opset, the batch axis and the metadata writer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from daemon.models.onnx_file import META_PREFIX

OPSET = 17
BATCH_AXIS = "batch"


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, (Path, set, frozenset)):
        return str(value) if isinstance(value, Path) else sorted(value)
    return repr(value)


def _json(value: Any) -> str:
    return json.dumps(value, default=_json_default, sort_keys=True)


def _set_metadata(model: onnx.ModelProto, metadata: Mapping[str, str]) -> None:
    kept = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith(META_PREFIX)]
    del model.metadata_props[:]
    for key, value in [*kept, *sorted(metadata.items())]:
        model.metadata_props.add(key=key, value=value)


def stamp_metadata(path: Path | str, values: Mapping[str, Any]) -> None:
    """Write ``values`` (name -> JSON-able) as the file's ``antiphon.*`` metadata, check the model, save it."""
    model = onnx.load(str(path))
    _set_metadata(model, {META_PREFIX + k: _json(v) for k, v in values.items()})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
