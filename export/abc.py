"""Export an ABC LSTM checkpoint to the ONNX *step graph* the daemon runs, and check parity.

The ONNX ABC step graph (Antiphon model format 1)
=================================================

One call advances the model by one character; the daemon keeps the state between calls.

Inputs
    ``token``  int64   ``(B,)``         the character's index in the vocabulary
    ``h``      float32 ``(L, B, H)``    hidden state (zeros before the tune's start character)
    ``c``      float32 ``(L, B, H)``    cell state

Outputs
    ``logits``           float32 ``(B, V)``    unnormalised log-probabilities of the next character
    ``h_out``, ``c_out`` float32 ``(L, B, H)`` the state after this character

Metadata (``metadata_props``; every value is JSON)
    ``antiphon.format``          ``"1"``
    ``antiphon.kind``            ``"abc"``
    ``antiphon.representation``  ``{"name": "abc-text", "version": 1, "vocabulary": "...",
                                 "bos": "\\u0002", "eos": "\\u0003", "header_fields": ["R", "M", "L", "K"],
                                 "meters": {...}, "keys": {...}, "rhythms": {...}, "lengths": {...}}``
                                 (the header values the training tunes use, with their counts)
    ``antiphon.model_config``    ``asdict(AbcLSTMConfig)`` (the vocabulary included)
    ``antiphon.inputs``          ``["token", "h", "c"]``
    ``antiphon.outputs``         ``["logits", "h_out", "c_out"]``
    ``antiphon.training``        the checkpoint's ``training`` dict
    ``antiphon.metrics``         the checkpoint's ``metrics`` dict

Imports torch and onnx: run by ``antiphon export``, never by the daemon.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from daemon.models.abc import ABC_INPUTS, ABC_OUTPUTS, REPRESENTATION, REPRESENTATION_VERSION, load_abc
from daemon.models.onnx_file import FORMAT_VERSION
from export.onnx_file import BATCH_AXIS, OPSET, stamp_metadata
from training.abc.checkpoint import load_model
from training.abc.data import AbcTune
from training.abc.model import BOS, EOS, AbcLSTM

log = logging.getLogger(__name__)


class AbcStepGraph(nn.Module):
    """Wraps :meth:`AbcLSTM.step` for export."""

    def __init__(self, model: AbcLSTM) -> None:
        super().__init__()
        self.model = model

    def forward(self, token: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model.step(token, h, c)  # (B, V), (L, B, H), (L, B, H)


def header_conventions(tunes: list[AbcTune]) -> dict[str, dict[str, int]]:
    """Counts of each ``M:``, ``K:``, ``R:`` and ``L:`` value in the training tunes."""
    found: dict[str, Counter[str]] = {"meters": Counter(), "keys": Counter(), "rhythms": Counter(),
                                      "lengths": Counter()}
    names = {"M": "meters", "K": "keys", "R": "rhythms", "L": "lengths"}
    for tune in tunes:
        if tune.split != "train":
            continue
        for line in tune.text.splitlines():
            if len(line) > 1 and line[1] == ":" and line[0] in names:
                found[names[line[0]]][line[2:]] += 1
    return {k: dict(v.most_common()) for k, v in found.items()}


def export_abc(checkpoint_path: Path, onnx_path: Path, tunes: list[AbcTune]) -> Path:
    """Write the step graph with its metadata; ``tunes`` give the header conventions."""
    model, state = load_model(checkpoint_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    token = torch.zeros((1,), dtype=torch.int64)
    h, c = model.initial_state(1)
    dynamic_axes = {"token": {0: BATCH_AXIS}, "h": {1: BATCH_AXIS}, "c": {1: BATCH_AXIS},
                    "logits": {0: BATCH_AXIS}, "h_out": {1: BATCH_AXIS}, "c_out": {1: BATCH_AXIS}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(AbcStepGraph(model).eval(), (token, h, c), str(onnx_path), input_names=list(ABC_INPUTS),
                          output_names=list(ABC_OUTPUTS), dynamic_axes=dynamic_axes, opset_version=OPSET,
                          do_constant_folding=True, dynamo=False)
    representation: dict[str, Any] = {"name": REPRESENTATION, "version": REPRESENTATION_VERSION,
                                      "vocabulary": model.config.vocabulary, "bos": BOS, "eos": EOS,
                                      "header_fields": ["R", "M", "L", "K"], **header_conventions(tunes)}
    values = {"format": FORMAT_VERSION, "kind": "abc", "representation": representation,
              "model_config": asdict(model.config), "inputs": list(ABC_INPUTS), "outputs": list(ABC_OUTPUTS),
              "training": {**state.get("training", {}), "step": state.get("step")},
              "metrics": state.get("metrics", {})}
    stamp_metadata(onnx_path, values)
    log.info("exported %s -> %s", checkpoint_path, onnx_path)
    return onnx_path


@dataclass(frozen=True)
class AbcParity:
    steps: int
    max_logit_diff: float
    max_state_diff: float
    atol: float

    @property
    def ok(self) -> bool:
        return self.max_logit_diff <= self.atol and self.max_state_diff <= self.atol

    def summary(self) -> str:
        verdict = "OK" if self.ok else "FAILED"
        return (f"parity {verdict} over {self.steps} stateful steps: largest logit difference "
                f"{self.max_logit_diff:.2e}, largest state difference {self.max_state_diff:.2e} (tolerance {self.atol:g})")


def check_abc_parity(checkpoint_path: Path, onnx_path: Path, text: str, atol: float = 1e-4) -> AbcParity:
    """Feed ``text`` (from the start character) to torch and to onnxruntime step by step, and
    compare logits and state after every character."""
    model, _ = load_model(checkpoint_path)
    runner = load_abc(onnx_path)
    index = {ch: i for i, ch in enumerate(model.config.vocabulary)}
    h, c = model.initial_state(1)
    state = runner.initial_state()
    max_logit = max_state = 0.0
    with torch.no_grad():
        for ch in BOS + text:
            logits, h, c = model.step(torch.tensor([index[ch]]), h, c)
            ort_logits, state = runner.step(index[ch], state)
            max_logit = max(max_logit, float(np.abs(ort_logits - logits[0].numpy()).max()))
            max_state = max(max_state, float(np.abs(state.h - h.numpy()).max()), float(np.abs(state.c - c.numpy()).max()))
    return AbcParity(len(text) + 1, max_logit, max_state, atol)
