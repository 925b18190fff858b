"""Prove that the ONNX step graph computes what the PyTorch model computes.

:func:`check_lstm_parity` runs PyTorch's :meth:`EventLSTM.step` and the daemon's own
:class:`daemon.models.lstm.LstmModel` side by side over many *stateful* steps: each side keeps
its own state, both are fed the same tokens (sampled from the PyTorch logits, so the
sequence looks like generation), and every logit of every head and the state are compared
at every step. Errors that build up through the recurrence show here and not in a
one-step check.

:func:`compare_quantized` measures what int8 quantisation costs: the largest logit change
and the change of mean negative log-likelihood per event on token sequences.

Imports torch: used by ``antiphon export`` and tests, never by the daemon.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from daemon.models.continuator import first_token
from daemon.models.lstm import LstmModel, LstmState, load_lstm
from daemon.music.events import NoteEventCodec
from daemon.music.sampling import SamplingParams, make_sampler
from export.lstm_checkpoint import load_lstm_checkpoint

log = logging.getLogger(__name__)

# Relative differences are reported only where the reference is at least this large in
# magnitude; below it a relative number says nothing (atol governs there).
REL_FLOOR = 1e-3


@dataclass(frozen=True)
class ParityReport:
    """Largest differences between PyTorch and onnxruntime over a run of steps.

    Attributes:
        steps: stateful steps compared.
        batch: sequences stepped at once.
        max_abs_logit_diff: over every logit of every head and step.
        max_rel_logit_diff: ``|ort - torch| / |torch|`` where ``|torch| >= REL_FLOOR``.
        max_abs_state_diff: over h and c at every step.
        max_rel_state_diff: like the logits.
        rtol, atol: the tolerances of ``np.allclose`` every output was held to.
        ok: every output of every step within tolerance.
        first_failure: "step N, output" of the first miss, or "".
    """

    steps: int
    batch: int
    max_abs_logit_diff: float
    max_rel_logit_diff: float
    max_abs_state_diff: float
    max_rel_state_diff: float
    rtol: float
    atol: float
    ok: bool
    first_failure: str = ""

    def summary(self) -> str:
        verdict = "OK" if self.ok else f"FAILED at {self.first_failure}"
        return (f"parity over {self.steps} stateful steps (batch {self.batch}, rtol {self.rtol:g}, "
                f"atol {self.atol:g}): {verdict}; logits max abs {self.max_abs_logit_diff:.3g}, "
                f"max rel {self.max_rel_logit_diff:.3g}; state max abs {self.max_abs_state_diff:.3g}, "
                f"max rel {self.max_rel_state_diff:.3g}")


def _diffs(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(max abs, max rel) difference of ``a`` against reference ``b``."""
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    big = np.abs(b) >= REL_FLOOR
    rel = float((diff[big] / np.abs(b[big])).max()) if big.any() else 0.0
    return float(diff.max()) if diff.size else 0.0, rel


def check_lstm_parity(checkpoint: str | Path, onnx_path: str | Path, steps: int = 64, rtol: float = 1e-3,
                      atol: float = 1e-5, seed: int = 0, batch: int = 1) -> ParityReport:
    """Step PyTorch and onnxruntime together and compare every logit and the state.

    Args:
        checkpoint: the ``.pt`` the ONNX file was exported from.
        onnx_path: the exported step graph.
        steps: stateful steps (the first feeds the start token).
        rtol, atol: tolerances for ``np.allclose(ort, torch, rtol, atol)``.
        seed: seeds the token sampling.
        batch: sequences stepped at once (> 1 exercises the dynamic batch axis).
    """
    ckpt = load_lstm_checkpoint(checkpoint)
    onnx_model = load_lstm(onnx_path)
    codec = ckpt.codec
    rng = np.random.default_rng(seed)
    samplers = [make_sampler(codec, SamplingParams(max_repeats=0), rng) for _ in range(batch)]
    start = first_token(codec)
    tokens = np.tile(start if start is not None else np.zeros(len(codec.FIELDS), np.int64), (batch, 1))
    h, c = ckpt.model.initial_state(batch)
    state: LstmState = onnx_model.initial_state(batch)
    worst = {"la": 0.0, "lr": 0.0, "sa": 0.0, "sr": 0.0}
    first_failure = ""
    names = [f"logits_{f}" for f in codec.FIELDS] + ["h_out", "c_out"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one small step at a time: more threads only contend
    try:
        with torch.no_grad():
            for step in range(steps):
                t_logits, h, c = ckpt.model.step(torch.from_numpy(tokens), h, c)
                if batch == 1:
                    o_logits, state = onnx_model.step(tokens[0], state)
                    o_logits = [x[None] for x in o_logits]
                else:
                    o_logits, state = onnx_model.step_batch(tokens, state)
                reference = [x.numpy() for x in t_logits] + [h.numpy(), c.numpy()]
                got = [*o_logits, state.h, state.c]
                for i, (name, ref, out) in enumerate(zip(names, reference, got)):
                    abs_d, rel_d = _diffs(out, ref)
                    kind = "l" if i < len(codec.FIELDS) else "s"
                    worst[kind + "a"] = max(worst[kind + "a"], abs_d)
                    worst[kind + "r"] = max(worst[kind + "r"], rel_d)
                    if not first_failure and not np.allclose(out, ref, rtol=rtol, atol=atol):
                        first_failure = f"step {step}, {name}"
                logits_np = [x.numpy() for x in t_logits]
                tokens = np.stack([s.sample([x[b] for x in logits_np]) for b, s in enumerate(samplers)])
    finally:
        torch.set_num_threads(threads)
    report = ParityReport(steps, batch, worst["la"], worst["lr"], worst["sa"], worst["sr"], rtol, atol,
                          not first_failure, first_failure)
    log.info("%s", report.summary())
    return report


@dataclass(frozen=True)
class QuantizationReport:
    """What int8 dynamic quantisation changes, measured on token sequences.

    Attributes:
        sequences: sequences scored.
        events: events scored in all.
        max_abs_logit_diff: largest |int8 - fp32| logit over every head and step.
        nll_fp32: mean negative log-likelihood per event (nats, summed over fields; a REST's
            duration and velocity are not scored), fp32.
        nll_int8: the same for the int8 model.
        source: where the sequences came from ("given" or "sampled from the fp32 model").
    """

    sequences: int
    events: int
    max_abs_logit_diff: float
    nll_fp32: float
    nll_int8: float
    source: str

    @property
    def nll_change(self) -> float:
        return self.nll_int8 - self.nll_fp32

    def summary(self) -> str:
        return (f"int8 vs fp32 over {self.sequences} sequences / {self.events} events ({self.source}): "
                f"max abs logit diff {self.max_abs_logit_diff:.3g}; NLL/event {self.nll_fp32:.4f} -> "
                f"{self.nll_int8:.4f} nats ({self.nll_change:+.4f})")


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


def _sample_sequences(model: LstmModel, n: int, length: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        sampler = make_sampler(model.codec, SamplingParams(), rng)
        token = first_token(model.codec)
        tokens = [token if token is not None else np.zeros(len(model.codec.FIELDS), np.int64)]
        state = model.initial_state()
        for _ in range(length - 1):
            logits, state = model.step(tokens[-1], state)
            tokens.append(sampler.sample(logits))
        out.append(np.stack(tokens))
    return out


def compare_quantized(fp32_path: str | Path, int8_path: str | Path,
                      sequences: Sequence[np.ndarray] | None = None, n_sequences: int = 4,
                      length: int = 64, seed: int = 0) -> QuantizationReport:
    """Score token sequences with the fp32 and int8 files and compare.

    Args:
        fp32_path, int8_path: the two exported files.
        sequences: ``(T, F)`` token arrays (e.g. encoded test pieces, starting with the
            start token); if None, ``n_sequences`` of ``length`` are sampled from the fp32 model.
    """
    fp32, int8 = load_lstm(fp32_path), load_lstm(int8_path)
    source = "given"
    if sequences is None:
        sequences = _sample_sequences(fp32, n_sequences, length, seed)
        source = "sampled from the fp32 model"
    codec = fp32.codec
    all_fields = tuple(range(len(codec.FIELDS)))

    def scored(target: np.ndarray) -> tuple[int, ...]:
        # A REST's duration and velocity are placeholders (0), not targets, as in training.
        if isinstance(codec, NoteEventCodec) and target[1] >= 128:
            return (0, 1)
        return all_fields

    worst = 0.0
    nll = {"fp32": 0.0, "int8": 0.0}
    events = 0
    for seq in sequences:
        seq = np.asarray(seq, np.int64)
        states = {"fp32": fp32.initial_state(), "int8": int8.initial_state()}
        for t in range(len(seq) - 1):
            outs = {}
            for name, model in (("fp32", fp32), ("int8", int8)):
                outs[name], states[name] = model.step(seq[t], states[name])
                fields = scored(seq[t + 1])
                nll[name] -= sum(float(_log_softmax(outs[name][f])[seq[t + 1, f]]) for f in fields)
            worst = max(worst, max(float(np.abs(a - b).max()) for a, b in zip(outs["fp32"], outs["int8"])))
            events += 1
    events = max(events, 1)
    report = QuantizationReport(len(sequences), events, worst, nll["fp32"] / events, nll["int8"] / events, source)
    log.info("%s", report.summary())
    return report
