"""``antiphon train memory-eval``: does the session memory predict a piece's second half better?

Example::

    antiphon train memory-eval --model presets/folk-events.onnx --data data/ --split valid
    antiphon train memory-eval --model presets/folk-events.onnx --data data/ --split test --out runs/memory-test.json

For each piece of the split (the sources and voices the model file says it learned from), encoded
as the model reads it (BOS, then ``note-events`` from the bar line before the first note): the
daemon's :class:`~daemon.models.session_memory.SessionMemory` remembers the events of its first
half, and every event of its second half is scored by the bundled ONNX step graph (onnxruntime,
as live) alone and mixed with the memory at each ``--weights`` value. The memory is frozen over
the second half (what the daemon does while it answers: answers are not remembered), but its
n-gram context follows the real events, as the LSTM's state does. Two readings of the model:

* ``warm``: the LSTM reads the whole piece with one running state, so it has heard the first half
  too (the memory must add to what the state holds);
* ``live``: the LSTM starts afresh (BOS) at the second half, as the daemon starts it afresh at
  each phrase, and the memory's context starts there too: the first half is only in the memory.

Figures per piece, then the mean over pieces: bits per event (every field a target has, REST events
included), bits per note (the same bits over the notes), pitch accuracy (the most likely pitch of
the mixed distribution is the one played, over note events), and how many pieces' bits per event
the memory lowered. ``log-linear`` is the daemon's mix
(:func:`~daemon.models.session_memory.mix_log_probs`); ``linear`` mixes probabilities instead, for comparison.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daemon.models.lstm import LstmModel, load_lstm
from daemon.models.session_memory import MEMORY_ORDER, SessionMemory, log_softmax
from daemon.music.events import NoteEventCodec
from daemon.music.notes import Note
from training.data.memory_scoring import (
    MIXES,
    READINGS,
    add_common_arguments,
    best_weight,
    parse_weights,
    score_half,
)
from training.lstm.data import encode_piece, load_pieces, targets_of

log = logging.getLogger(__name__)

MIN_EVENTS = 16  # a piece shorter than this (after BOS) has too little of either half to score


def configure(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "presets/folk-events.onnx",
                         "an exported LSTM step graph (note-events; the ABC model's: abc-memory-eval)", "pieces")
    parser.add_argument("--order", type=int, default=MEMORY_ORDER, help="the memory's n-gram order")


@dataclass
class PieceScore:
    """One piece's second half: bits and pitch hits per reading, mix and weight (index 0: the model alone)."""

    piece_id: str
    events: int
    notes: int
    bits: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # reading -> mix -> (W,)
    pitch_hits: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def model_log_probs(model: LstmModel, tokens: np.ndarray) -> list[list[np.ndarray]]:
    """Per event after the first of ``tokens``: the model's log-probabilities per field, one running state."""
    state = model.initial_state()
    out = []
    for token in tokens[:-1]:
        logits, state = model.step(token, state)
        out.append([log_softmax(np.asarray(lg, np.float64)) for lg in logits])
    return out


def score_piece(model: LstmModel, piece_id: str, notes: Sequence[Note], grid: Any, weights: np.ndarray,
                order: int) -> PieceScore | None:
    """Score the second half of one piece (None when it is shorter than :data:`MIN_EVENTS` events)."""
    codec = model.codec
    assert isinstance(codec, NoteEventCodec)
    tokens = encode_piece(codec, notes, grid)  # (N + 1, 4), BOS first
    n = len(tokens) - 1
    if n < MIN_EVENTS:
        return None
    half = 1 + n // 2  # tokens[1:half] is the first half, tokens[half:] the second
    second = tokens[half:]
    targets = targets_of(codec, second)
    is_note = second[:, 1] < NoteEventCodec.REST
    memory = SessionMemory(codec, order=order)
    for token in tokens[:half]:
        memory.observe(token)
    warm = model_log_probs(model, tokens)[half - 1:]
    live = model_log_probs(model, np.concatenate([codec.bos()[None], second]))
    score = PieceScore(piece_id, len(second), int(is_note.sum()))
    for reading, log_probs in (("warm", warm), ("live", live)):
        context = [list(h) for h in memory.context]
        if reading == "live":
            memory.push(context, codec.bos())
        scored = score_half(memory, log_probs, targets, second, context, weights)
        score.bits[reading] = {m: b for m, (b, _) in scored.items()}
        score.pitch_hits[reading] = {m: h for m, (_, h) in scored.items()}
    return score


def summarise(scores: Sequence[PieceScore], weights: np.ndarray) -> dict[str, Any]:
    """Mean over pieces per reading, mix and weight, and pieces improved."""
    out: dict[str, Any] = {"pieces": len(scores), "events": int(sum(s.events for s in scores)),
                           "notes": int(sum(s.notes for s in scores)), "weights": weights.tolist()}
    for reading in READINGS:
        out[reading] = {}
        for mix in MIXES:
            per_event = np.stack([s.bits[reading][mix] / s.events for s in scores])  # (P, W)
            per_note = np.stack([s.bits[reading][mix] / max(1, s.notes) for s in scores])
            accuracy = np.stack([s.pitch_hits[reading][mix] / max(1, s.notes) for s in scores])
            out[reading][mix] = {
                "bits_per_event": per_event.mean(0).tolist(),
                "bits_per_note": per_note.mean(0).tolist(),
                "pitch_accuracy": accuracy.mean(0).tolist(),
                "improved": (per_event < per_event[:, :1] - 1e-12).sum(0).tolist(),
            }
    return out


def render_markdown(summary: dict[str, Any], split: str) -> str:
    """The figures as one markdown table per reading (rows: weights; the daemon's log-linear mix, then linear)."""
    lines = [(f"{split} split: {summary['pieces']} pieces, second halves of {summary['events']} events "
              f"({summary['notes']} notes); memory of order {summary.get('order', MEMORY_ORDER)}"), ""]
    for reading in READINGS:
        lines += [f"**{reading}** reading", "",
                  ("| memory weight | bits/event | bits/note | pitch accuracy | pieces improved "
                   "| bits/event, linear mix | pieces improved |"), "|---:|---:|---:|---:|---:|---:|---:|"]
        loglin, lin = summary[reading]["log-linear"], summary[reading]["linear"]
        for i, w in enumerate(summary["weights"]):
            label = "0 (model alone)" if i == 0 else f"{w:g}"
            improved = "" if i == 0 else f"{loglin['improved'][i]}/{summary['pieces']}"
            improved_lin = "" if i == 0 else f"{lin['improved'][i]}/{summary['pieces']}"
            lines.append(f"| {label} | {loglin['bits_per_event'][i]:.3f} | {loglin['bits_per_note'][i]:.3f} "
                         f"| {100 * loglin['pitch_accuracy'][i]:.1f} % | {improved} "
                         f"| {lin['bits_per_event'][i]:.3f} | {improved_lin} |")
        lines.append("")
    lines.append(f"lowest bits/event, live reading, log-linear mix (the daemon's): weight {best_weight(summary):g}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from daemon.errors import AntiphonError

    weights = parse_weights(args.weights)
    started = time.monotonic()
    try:
        model = load_lstm(args.model)
        if not isinstance(model.codec, NoteEventCodec):
            raise SystemExit(f"{args.model} is a {model.codec.NAME} model; the memory is measured on note-events")
        training = model.info.training
        sources = list(training.get("sources", []))
        pieces, notes = load_pieces(args.data, sources, args.split, str(training.get("voices", "all")))
    except AntiphonError as exc:
        raise SystemExit(str(exc)) from exc
    if args.limit > 0:
        pieces, notes = pieces[: args.limit], notes[: args.limit]
        log.info("scoring the first %d pieces of the %s split", len(pieces), args.split)
    scores = []
    for piece, piece_notes in zip(pieces, notes):
        score = score_piece(model, piece.id, piece_notes, piece.grid, weights, args.order)
        if score is not None:
            scores.append(score)
    summary = summarise(scores, weights)
    summary.update({"model": str(args.model), "split": args.split, "order": args.order, "sources": sources,
                    "skipped_short": len(pieces) - len(scores), "seconds": round(time.monotonic() - started, 1)})
    print(render_markdown(summary, args.split))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
        log.info("figures written to %s", args.out)
    return 0
