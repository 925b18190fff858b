"""Export a phrase VAE checkpoint to two ONNX files (encoder, decoder step) and check parity.

The decoder step graph (``OUT.onnx``, ``antiphon.kind = "vae"``)
    Inputs   ``z`` float32 ``(B, Z)``; ``token`` int64 ``(B, 4)`` (the previous event, BOS first);
             ``h``, ``c`` float32 ``(L, B, H)``; ``start`` float32 ``(B, 1)``: 1 on the first
             step (the state comes from ``z``, ``h`` and ``c`` are ignored), 0 after.
    Outputs  ``logits_shift``, ``logits_pitch``, ``logits_duration``, ``logits_velocity``
             float32 ``(B, V_f)``; ``h_out``, ``c_out`` ``(L, B, H)``.

The encoder graph (``OUT.encoder.onnx``, ``antiphon.kind = "vae-encoder"``)
    Inputs   ``tokens`` int64 ``(1, T, 4)``: one phrase without its end event, ``T`` dynamic.
    Outputs  ``mu``, ``logvar`` float32 ``(1, Z)``.

Metadata (``metadata_props``, JSON values) of both: ``antiphon.format``, ``kind``,
``representation`` (the codec's ``to_dict()``), ``model_config`` (``asdict(VAEConfig)``),
``inputs``, ``outputs``, ``training``, ``metrics``, ``phrase`` (bars, ticks, meters); the
decoder adds ``encoder`` (the encoder's file name, next to it), ``attributes`` (name ->
latent direction, from ``--attributes``; ``{}`` without) and ``attributes_by_tonic`` (name ->
12 directions, one per tonic C..B, when the file has them; ``{}`` otherwise).

Imports torch and onnx: run by ``antiphon export``, never by the daemon.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from daemon.errors import ModelError
from daemon.models.onnx_file import FORMAT_VERSION, META_PREFIX
from daemon.models.vae import (
    DECODER_INPUTS,
    ENCODER_INPUTS,
    ENCODER_KIND,
    ENCODER_OUTPUTS,
    KIND,
    TONICS,
    VaeModel,
    decoder_outputs,
    load_vae,
)
from export.onnx_file import BATCH_AXIS, OPSET, _json, _set_metadata
from training.vae.checkpoint import LoadedVAE
from training.vae.checkpoint import load_vae as load_checkpoint
from training.vae.data import batch_arrays
from training.vae.decoding import decode_tokens
from training.vae.model import PhraseVAE

log = logging.getLogger(__name__)


class DecoderStep(nn.Module):
    """:meth:`PhraseVAE.step`, starting from ``z``'s state where ``start`` is 1."""

    def __init__(self, model: PhraseVAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor, token: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                start: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h0, c0 = self.model.initial_state(z)  # (L, B, H) each
        first = start.view(1, -1, 1)  # (1, B, 1)
        h = first * h0 + (1 - first) * h
        c = first * c0 + (1 - first) * c
        logits, h, c = self.model.step(z, token, h, c)
        return (*logits, h, c)


class Encoder(nn.Module):
    """:meth:`PhraseVAE.encode_one`: one unpadded phrase -> mu, logvar."""

    def __init__(self, model: PhraseVAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.encode_one(tokens)


class TorchVaeSession:
    """A PyTorch module behind the small part of the onnxruntime session API that
    :class:`~daemon.models.vae.VaeModel` uses (``get_inputs``, ``run``), so the daemon's own
    encoding and decoding code runs on PyTorch eager too (``benchmarks/vae_speed.py``).

    Args:
        module: :class:`DecoderStep` or :class:`Encoder`.
        inputs: its graph input names, in order.
        outputs: its graph output names, in order.
    """

    @dataclass(frozen=True)
    class _Arg:
        name: str

    def __init__(self, module: nn.Module, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> None:
        self.module = module.eval()
        self._inputs = inputs
        self._outputs = outputs

    def get_inputs(self) -> list[Any]:
        return [self._Arg(name) for name in self._inputs]

    def get_outputs(self) -> list[Any]:
        return [self._Arg(name) for name in self._outputs]

    def run(self, output_names: Sequence[str], feed: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            out = self.module(*(torch.from_numpy(np.asarray(feed[n])) for n in self._inputs))
        by_name = dict(zip(self._outputs, out))
        return [by_name[n].numpy() for n in output_names]


def torch_vae_model(checkpoint: Path, exported: VaeModel) -> VaeModel:
    """:class:`VaeModel` with the checkpoint's PyTorch modules in place of the two onnxruntime
    sessions (the metadata of ``exported``, the file exported from the same checkpoint)."""
    model = load_checkpoint(checkpoint).model
    fields = tuple(exported.fields)
    decoder = TorchVaeSession(DecoderStep(model), DECODER_INPUTS, decoder_outputs(fields))
    encoder = TorchVaeSession(Encoder(model), ENCODER_INPUTS, ENCODER_OUTPUTS)
    return VaeModel(decoder, exported.info, encoder)  # type: ignore[arg-type]


def encoder_path(decoder_path: Path) -> Path:
    """``folk-vae.onnx`` -> ``folk-vae.encoder.onnx`` (beside it)."""
    return decoder_path.with_name(decoder_path.stem + ".encoder.onnx")


def _metadata(ckpt: LoadedVAE, kind: str, inputs: tuple[str, ...], outputs: tuple[str, ...],
              extra: Mapping[str, Any]) -> dict[str, str]:
    values = {"format": FORMAT_VERSION, "kind": kind, "representation": ckpt.codec.to_dict(),
              "model_config": asdict(ckpt.model.config), "inputs": list(inputs), "outputs": list(outputs),
              "training": ckpt.training, "metrics": ckpt.metrics, "phrase": ckpt.phrase, **extra}
    return {META_PREFIX + k: _json(v) for k, v in values.items()}


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, inputs: tuple[str, ...],
            outputs: tuple[str, ...], dynamic_axes: dict[str, dict[int, str]], metadata: dict[str, str]) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(module.eval(), args, str(path), input_names=list(inputs), output_names=list(outputs),
                          dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True, dynamo=False)
    model = onnx.load(str(path))
    _set_metadata(model, metadata)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def read_attributes(path: Path | None, latent: int) -> tuple[dict[str, list[float]], dict[str, list[list[float]]]]:
    """Attribute directions from a JSON file ``{"attributes": {name: [Z floats]},
    "attributes_by_tonic": {name: [12 x [Z floats]]}}`` (the second optional; None: none).

    Raises:
        ModelError: an unreadable file or a vector of the wrong size.
    """
    if path is None:
        return {}, {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        vectors = {str(k): [float(x) for x in v] for k, v in data["attributes"].items()}
        by_tonic = {str(k): [[float(x) for x in row] for row in v]
                    for k, v in data.get("attributes_by_tonic", {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"cannot read attribute vectors from {path} ({exc}); write them with "
                         "`antiphon train vae-eval --attributes-out`") from exc
    for name, vector in vectors.items():
        if len(vector) != latent:
            raise ModelError(f"{path}: attribute {name!r} has {len(vector)} values, the latent has {latent}")
    for name, rows in by_tonic.items():
        if len(rows) != TONICS or any(len(row) != latent for row in rows):
            raise ModelError(f"{path}: attribute {name!r} by tonic is not {TONICS} vectors of {latent} values")
    return vectors, by_tonic


def export_vae(checkpoint: Path, out: Path, attributes: Path | None = None) -> tuple[Path, Path]:
    """Write the decoder step graph to ``out`` and the encoder beside it; returns both paths."""
    ckpt = load_checkpoint(checkpoint)
    model, config = ckpt.model, ckpt.model.config
    out.parent.mkdir(parents=True, exist_ok=True)
    enc_path = encoder_path(out)
    fields = tuple(ckpt.codec.FIELDS)
    dec_outputs = decoder_outputs(fields)
    z = torch.zeros(1, config.latent)
    token = torch.as_tensor(ckpt.codec.bos()[None])
    h = torch.zeros(config.decoder_layers, 1, config.decoder_hidden)
    start = torch.ones(1, 1)
    axes = {"z": {0: BATCH_AXIS}, "token": {0: BATCH_AXIS}, "h": {1: BATCH_AXIS}, "c": {1: BATCH_AXIS},
            "start": {0: BATCH_AXIS}, **{name: {0: BATCH_AXIS} for name in dec_outputs[:-2]},
            "h_out": {1: BATCH_AXIS}, "c_out": {1: BATCH_AXIS}}
    vectors, by_tonic = read_attributes(attributes, config.latent)
    extra = {"encoder": enc_path.name, "attributes": vectors, "attributes_by_tonic": by_tonic}
    _export(DecoderStep(model), (z, token, h, h.clone(), start), out, DECODER_INPUTS, dec_outputs, axes,
            _metadata(ckpt, KIND, DECODER_INPUTS, dec_outputs, extra))
    tokens = torch.as_tensor(np.array([[[0, 60, 6, 80], [6, 62, 6, 80], [6, 64, 12, 80]]], np.int64))
    _export(Encoder(model), (tokens,), enc_path, ENCODER_INPUTS, ENCODER_OUTPUTS, {"tokens": {1: "events"}},
            _metadata(ckpt, ENCODER_KIND, ENCODER_INPUTS, ENCODER_OUTPUTS, {}))
    log.info("exported %s -> %s and %s", checkpoint, out, enc_path)
    return out, enc_path


@dataclass(frozen=True)
class VaeParity:
    """Largest differences between PyTorch and onnxruntime over the checked phrases."""

    phrases: int
    steps: int
    max_moment_diff: float  # mu and logvar
    max_logit_diff: float
    max_state_diff: float
    greedy_same: int  # phrases whose greedy decodes are identical
    atol: float

    @property
    def ok(self) -> bool:
        return max(self.max_moment_diff, self.max_logit_diff, self.max_state_diff) <= self.atol

    def summary(self) -> str:
        verdict = "OK" if self.ok else "FAILED"
        return (f"parity {verdict} over {self.phrases} phrases and {self.steps} stateful decoder steps: largest "
                f"mu/logvar difference {self.max_moment_diff:.2e}, logit {self.max_logit_diff:.2e}, state "
                f"{self.max_state_diff:.2e} (tolerance {self.atol:g}); greedy decodes identical for "
                f"{self.greedy_same}/{self.phrases}")


def random_phrases(count: int, seed: int = 0) -> list[np.ndarray]:
    """Phrases of random in-vocabulary note events (3-40 events each), end event appended."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = int(rng.integers(3, 41))
        body = np.stack([rng.integers(0, 13, n), rng.integers(45, 90, n), rng.integers(1, 25, n),
                         rng.integers(60, 110, n)], axis=1)
        out.append(np.concatenate([body, [[0, 129, 0, 0]]]).astype(np.int64))
    return out


@torch.no_grad()
def check_vae_parity(checkpoint: Path, decoder: Path, phrases: int = 8, seed: int = 0,
                     atol: float = 1e-4) -> VaeParity:
    """Encode ``phrases`` random phrases with both (PyTorch padded and packed, onnxruntime one
    at a time), then feed each phrase through both decoders step by step from its ``mu``."""
    ckpt = load_checkpoint(checkpoint)
    model, codec = ckpt.model, ckpt.codec
    runner = load_vae(decoder)
    token_lists = random_phrases(phrases, seed)
    enc, lengths, dec_in, _ = batch_arrays(token_lists, codec)
    mu, logvar = model.encode(torch.from_numpy(enc), torch.from_numpy(lengths))
    moment = logit = state = 0.0
    steps = same = 0
    outputs = list(decoder_outputs(codec.FIELDS))
    n = len(codec.FIELDS)
    for i, tokens in enumerate(token_lists):
        ort_mu, ort_logvar = runner.encode_tokens(tokens[:-1])
        moment = max(moment, float(np.abs(ort_mu - mu[i].numpy()).max()),
                     float(np.abs(ort_logvar - logvar[i].numpy()).max()))
        z = mu[i : i + 1]
        h, c = model.initial_state(z)
        ort_h = np.zeros((model.config.decoder_layers, 1, model.config.decoder_hidden), np.float32)
        ort_c = ort_h
        for t in range(int(lengths[i]) + 1):
            token = torch.from_numpy(dec_in[i, t : t + 1])
            logits, h, c = model.step(z, token, h, c)
            out = runner.session.run(outputs, {"z": z.numpy(), "token": dec_in[i, t : t + 1], "h": ort_h, "c": ort_c,
                                               "start": np.full((1, 1), float(t == 0), np.float32)})
            ort_h, ort_c = out[n], out[n + 1]
            logit = max(logit, *(float(np.abs(out[f] - logits[f].numpy()).max()) for f in range(n)))
            state = max(state, float(np.abs(ort_h - h.numpy()).max()), float(np.abs(ort_c - c.numpy()).max()))
            steps += 1
        torch_tokens = decode_tokens(model, z, codec, runner.phrase_ticks)[0]
        same += int(np.array_equal(torch_tokens, runner.decode_tokens(z[0].numpy())))
    return VaeParity(phrases, steps, moment, logit, state, same, atol)
