"""Scoring a session memory on a piece's second half: what the note-event and ABC evaluations share.

:mod:`training.lstm.memory_eval` (note events) and :mod:`training.abc.memory_eval` (characters)
score every token of a piece's second half under the model alone and mixed with a frozen
:class:`~daemon.models.session_memory.SessionMemory` of its first half, at several weights, with
the daemon's log-linear mix and a linear mix for comparison.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from daemon.models.session_memory import SessionMemory, mix_log_probs
from daemon.music.events import NoteEventCodec

DEFAULT_WEIGHTS = (0.05, 0.1, 0.2, 0.3)
MIXES = ("linear", "log-linear")
READINGS = ("warm", "live")
LN2 = float(np.log(2.0))
PAD = -100  # a field that is not a target (torch's ignore_index, as the training targets write it)


def score_half(memory: SessionMemory, log_probs: Sequence[Sequence[np.ndarray]], targets: np.ndarray,
               tokens: np.ndarray, context: list[list[int]], weights: np.ndarray,
               pad: int = PAD) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Bits and pitch hits of ``targets`` under the model and the memory mixes.

    Args:
        memory: the memory, frozen (only ``context`` moves).
        log_probs: per target event, the model's per-field log-probabilities.
        targets: ``(N, F)`` the events scored, ``pad`` where a field is not a target.
        tokens: ``(N, F)`` the same events as played (to move the context).
        context: the memory context before the first of them (moved in place).
        weights: ``(W,)`` memory weights, the first 0.

    Returns:
        per mix: ``(bits (W,), pitch hits (W,))`` summed over the events.
    """
    w = weights[:, None]
    bits = {m: np.zeros(len(weights)) for m in MIXES}
    hits = {m: np.zeros(len(weights)) for m in MIXES}
    for lp_fields, target, token in zip(log_probs, targets, tokens):
        for f, lp in enumerate(lp_fields):
            t = int(target[f])
            if t == pad:
                continue
            p = np.exp(lp)
            c = memory.cache_probs(f, context[f], p)
            linear = np.log((1.0 - w) * p[None] + w * c[None])  # (W, V)
            loglin = mix_log_probs(lp[None], c[None], w)  # (W, V), the daemon's mix
            for mix, lq in (("linear", linear), ("log-linear", loglin)):
                bits[mix] -= lq[:, t] / LN2
                if f == 1 and t < NoteEventCodec.REST:
                    hits[mix] += lq.argmax(axis=1) == t
        memory.push(context, token)
    return {m: (bits[m], hits[m]) for m in MIXES}


def best_weight(summary: dict[str, Any], reading: str = "live", mix: str = "log-linear") -> float:
    """The weight with the lowest mean bits per event (0 if none beats the model alone)."""
    row = summary[reading][mix]["bits_per_event"]
    return float(summary["weights"][int(np.argmin(row))])


def parse_weights(text: str) -> np.ndarray:
    try:
        values = sorted({float(v) for v in text.split(",") if v.strip()} - {0.0})
    except ValueError as exc:
        raise SystemExit(f"--weights takes numbers 0-1 separated by commas, got {text!r}") from exc
    if any(not 0.0 < v <= 1.0 for v in values):
        raise SystemExit(f"--weights takes numbers 0-1 separated by commas, got {text!r}")
    return np.array([0.0, *values])


def add_common_arguments(parser: argparse.ArgumentParser, model: str, model_help: str, pieces: str,
                         weights: Sequence[float] = DEFAULT_WEIGHTS) -> None:
    """The options every memory evaluation takes: ``--model``, ``--data``, ``--split``, ``--weights``,
    ``--limit`` and ``--out`` (``pieces``: what the split holds, "pieces" or "tunes")."""
    parser.add_argument("--model", type=Path, default=Path(model), help=model_help)
    parser.add_argument("--data", type=Path, default=Path("data"), help="folder `antiphon train data` wrote")
    parser.add_argument("--split", choices=("train", "valid", "test"), default="test",
                        help=f"{pieces} to score (choose on valid, report on test)")
    parser.add_argument("--weights", default=",".join(map(str, weights)),
                        help="memory weights to score, comma-separated, each 0-1 (0, no memory, is always in)")
    parser.add_argument("--limit", type=int, default=0, help=f"score only the first N {pieces} (0: all)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
