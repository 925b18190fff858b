"""Export a restyle checkpoint (both CycleGAN generators) to one ONNX file and check parity.

The graph (``antiphon.kind = "restyle"``, read by :mod:`daemon.models.restyle`):
    Input    ``bar`` float32 ``(B, T, S, P)``, 0/1 bars, ``B`` dynamic.
    Outputs  ``to_<B>`` (``g_ab``) and ``to_<A>`` (``g_ba``), float32 ``(B, T, S, P)`` probabilities.

Metadata: ``format``, ``kind``, ``representation`` (the bar layout), ``model_config``, ``inputs``,
``outputs``, ``styles`` (A, B), ``files`` (library files per style), ``threshold``, ``training``,
``metrics`` (the evaluation's figures when ``--metrics`` names its JSON).

Imports torch and onnx: run by ``antiphon export``, never by the daemon.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from daemon.models.onnx_file import FORMAT_VERSION
from daemon.models.restyle import INPUT_NAME, KIND, OUTPUT_PREFIX, open_restyle
from export.onnx_file import BATCH_AXIS, OPSET, stamp_metadata
from training.restyle import checkpoint

log = logging.getLogger(__name__)
THRESHOLD = 0.5


class BothWays(nn.Module):
    """One bar through both generators: (as B, as A)."""

    def __init__(self, g_ab: nn.Module, g_ba: nn.Module) -> None:
        super().__init__()
        self.g_ab, self.g_ba = g_ab, g_ba

    def forward(self, bar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.g_ab(bar), self.g_ba(bar)


def export_restyle(checkpoint_path: Path, out: Path, metrics: Path | None = None) -> Path:
    """Write the restyle graph of ``checkpoint_path`` to ``out``."""
    payload = checkpoint.load(checkpoint_path, checkpoint.RESTYLE_KIND)
    g_ab, g_ba = checkpoint.generators(payload)
    styles = list(payload["styles"])
    outputs = [OUTPUT_PREFIX + styles[1], OUTPUT_PREFIX + styles[0]]
    config = payload["config"]
    example = torch.zeros(1, config.n_tracks, config.n_steps, config.n_pitches)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(BothWays(g_ab, g_ba).eval(), (example,), str(out), input_names=[INPUT_NAME],
                          output_names=outputs, dynamic_axes={INPUT_NAME: {0: BATCH_AXIS},
                                                              **{o: {0: BATCH_AXIS} for o in outputs}},
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
    figures: dict[str, Any] = json.loads(Path(metrics).read_text(encoding="utf-8")) if metrics else {}
    values = {"format": FORMAT_VERSION, "kind": KIND, "representation": payload["spec"],
              "model_config": asdict(config), "inputs": [INPUT_NAME], "outputs": outputs, "styles": styles,
              "files": payload.get("files", {}), "threshold": THRESHOLD,
              "training": {**payload.get("training", {}), "step": payload.get("step")}, "metrics": figures}
    stamp_metadata(out, values)
    log.info("exported %s -> %s", checkpoint_path, out)
    return out


@torch.no_grad()
def check_restyle_parity(checkpoint_path: Path, model_path: Path, bars: int = 64, seed: int = 0) -> dict[str, float]:
    """Largest probability difference between PyTorch and onnxruntime over random sparse bars,
    both ways, and the share of cells binarised differently."""
    payload = checkpoint.load(checkpoint_path, checkpoint.RESTYLE_KIND)
    g_ab, g_ba = checkpoint.generators(payload)
    config = payload["config"]
    runner = open_restyle(model_path)
    rng = np.random.default_rng(seed)
    x = (rng.random((bars, config.n_tracks, config.n_steps, config.n_pitches)) < 0.05).astype(np.float32)
    for t, rows in enumerate(config.track_rows):
        x[:, t, :, rows:] = 0.0
    worst, flipped = 0.0, 0.0
    for g, style in ((g_ab, payload["styles"][1]), (g_ba, payload["styles"][0])):
        ref = g(torch.from_numpy(x)).numpy()
        got = runner.probabilities(x, style)
        worst = max(worst, float(np.abs(ref - got).max()))
        flipped = max(flipped, float(((ref > THRESHOLD) != (got > THRESHOLD)).mean()))
    return {"bars": bars, "max_abs_diff": worst, "cells_flipped": flipped}
