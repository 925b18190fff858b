"""``antiphon train abc-memory-eval``: does a memory of a tune's first half predict its second half?

Example::

    antiphon train abc-memory-eval --model presets/folk-abc.onnx --data data/ --split valid --orders 6,8,12
    antiphon train abc-memory-eval --model presets/folk-abc.onnx --data data/ --split test --out runs/abc-memory-test.json

For each tune of the split (``data/abc/tunes.jsonl``, the ABC model's own split), its body is cut
at the first bar line after the middle of its characters. The daemon's
:class:`~daemon.models.session_memory.SessionMemory` of :class:`Characters` remembers the first
half (as :func:`daemon.models.abc_answer.remember_body` remembers a phrase), and every character of
the second half is scored by the bundled ONNX step graph (onnxruntime, as live) alone and mixed
with the memory at each ``--weights`` value (the daemon's log-linear mix; the linear mix for
comparison), for each memory order of ``--orders``. As in the note-event evaluation
(:mod:`training.lstm.memory_eval`, :mod:`training.data.memory_scoring`) the memory is frozen over the second half and its context
follows the real characters; two readings of the model:

* ``warm``: the model reads the header and the whole tune, so it has read the first half too;
* ``live``: the model reads the header and then the second half only, as the daemon gives it the
  phrase just played; the first half is only in the memory, and its context starts at the cut.

Figures: bits per character (mean over tunes), bits per note (the tune's bits over the notes of
its second half), and how many tunes' bits per character the memory lowered.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from daemon.models.abc import AbcModel, load_abc
from daemon.models.abc_answer import ABC_MEMORY_ORDER
from daemon.models.session_memory import Characters, SessionMemory, log_softmax
from daemon.music.abc import AbcError, parse_tune
from daemon.music.abc_text import is_field_line
from training.abc.data import load_tunes
from training.data.memory_scoring import (
    MIXES,
    READINGS,
    add_common_arguments,
    best_weight,
    parse_weights,
    score_half,
)

log = logging.getLogger(__name__)

DEFAULT_ORDERS = (ABC_MEMORY_ORDER,)
MIN_CHARS = 24  # a tune whose body is shorter has too little of either half to score
NOTE_LETTERS = frozenset("ABCDEFGabcdefg")


def split_tune(text: str) -> tuple[str, str, str] | None:
    """(header, first half, second half) of a tune's text, cut at the first bar line after the
    middle of its body (None when the body is shorter than :data:`MIN_CHARS`, or no note follows such a bar line)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if not is_field_line(line)), len(lines))
    header, body = "".join(lines[:start]), "".join(lines[start:])
    if len(body) < MIN_CHARS:
        return None
    cut = body.find("|", len(body) // 2)
    while 0 <= cut < len(body) - 1 and body[cut + 1] in "|:]":  # past the whole bar line (||, |:, |])
        cut += 1
    if cut < 0 or not NOTE_LETTERS & set(body[cut + 1:]):
        return None
    return header, body[:cut + 1], body[cut + 1:]


def model_log_probs(model: AbcModel, read: str, scored: str) -> list[list[np.ndarray]]:
    """Per character of ``scored``: the model's log-probabilities after the start character, ``read``
    and the characters of ``scored`` before it (one field each)."""
    logits, state = model.prime(read)
    out = []
    for ch in scored:
        out.append([log_softmax(np.asarray(logits, np.float64))])
        logits, state = model.step(model.index[ch], state)
    return out


def score_tune(model: AbcModel, tune_id: str, text: str, weights: np.ndarray, orders: Sequence[int]) -> dict[str, Any] | None:
    """One tune's second half: bits per reading, order, mix and weight (None: too short to score)."""
    parts = split_tune(text)
    if parts is None:
        return None
    header, first, second = parts
    try:
        model.check_text(text)
        notes = len(parse_tune(header + second).notes)
    except AbcError as exc:
        log.debug("%s: not scored (%s)", tune_id, exc)
        return None
    tokens = np.array([[model.index[ch]] for ch in second], np.int64)
    readings = {"warm": model_log_probs(model, header + first, second), "live": model_log_probs(model, header, second)}
    out: dict[str, Any] = {"id": tune_id, "chars": len(second), "notes": notes, "bits": {}}
    for order in orders:
        memory = SessionMemory(Characters(len(model.vocabulary)), order=order)
        memory.begin()
        for ch in first:
            memory.observe((model.index[ch],))
        for reading, log_probs in readings.items():
            context = [list(h) for h in memory.context] if reading == "warm" else memory.empty_context()
            scored = score_half(memory, log_probs, tokens, tokens, context, weights)
            out["bits"][(reading, order)] = {mix: bits for mix, (bits, _) in scored.items()}
    return out


def summarise(scores: Sequence[dict[str, Any]], weights: np.ndarray, orders: Sequence[int]) -> dict[str, Any]:
    """Means over tunes per reading, order, mix and weight."""
    out: dict[str, Any] = {"pieces": len(scores), "chars": int(sum(s["chars"] for s in scores)),
                           "notes": int(sum(s["notes"] for s in scores)), "weights": weights.tolist(),
                           "orders": list(orders)}
    for reading in READINGS:
        out[reading] = {}
        for order in orders:
            out[reading][str(order)] = {}
            for mix in MIXES:
                per_char = np.stack([s["bits"][(reading, order)][mix] / s["chars"] for s in scores])  # (P, W)
                per_note = np.stack([s["bits"][(reading, order)][mix] / max(1, s["notes"]) for s in scores])
                out[reading][str(order)][mix] = {
                    "bits_per_event": per_char.mean(0).tolist(),  # an event is a character here
                    "bits_per_note": per_note.mean(0).tolist(),
                    "improved": (per_char < per_char[:, :1] - 1e-12).sum(0).tolist(),
                }
    return out


def render_markdown(summary: dict[str, Any], split: str) -> str:
    """One markdown table per reading: rows are weights, columns bits per character per order."""
    orders = summary["orders"]
    lines = [(f"{split} split: {summary['pieces']} tunes, second halves of {summary['chars']} characters "
              f"({summary['notes']} notes); memory orders {', '.join(map(str, orders))}"), ""]
    for reading in READINGS:
        head = " | ".join(f"bits/char, order {o} | bits/note | tunes improved" for o in orders)
        lines += [f"**{reading}** reading (log-linear mix, the daemon's)", "", f"| memory weight | {head} |",
                  "|---:|" + "---:|---:|---:|" * len(orders)]
        for i, w in enumerate(summary["weights"]):
            cells = []
            for o in orders:
                row = summary[reading][str(o)]["log-linear"]
                improved = "" if i == 0 else f"{row['improved'][i]}/{summary['pieces']}"
                cells.append(f"{row['bits_per_event'][i]:.3f} | {row['bits_per_note'][i]:.3f} | {improved}")
            lines.append(f"| {'0 (model alone)' if i == 0 else f'{w:g}'} | {' | '.join(cells)} |")
        lines.append("")
    for o in orders:
        flat = {"weights": summary["weights"], "live": summary["live"][str(o)]}
        lines.append(f"order {o}: lowest bits/char, live reading, log-linear mix: weight {best_weight(flat):g}")
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "presets/folk-abc.onnx", "an exported ABC model", "tunes")
    parser.add_argument("--orders", default=",".join(map(str, DEFAULT_ORDERS)),
                        help="the memory's n-gram orders to score, comma-separated")


def main(args: argparse.Namespace) -> int:
    from daemon.errors import AntiphonError

    try:
        model = load_abc(args.model)
    except AntiphonError as exc:
        raise SystemExit(str(exc)) from exc
    weights = parse_weights(args.weights)
    orders = sorted({int(o) for o in str(args.orders).split(",") if o.strip()})
    if not orders or min(orders) < 1:
        raise SystemExit(f"--orders takes whole numbers of 1 or more, got {args.orders!r}")
    started = time.monotonic()
    tunes = [t for t in load_tunes(args.data) if t.split == args.split]
    if args.limit > 0:
        tunes = tunes[: args.limit]
    scores = [s for s in (score_tune(model, t.id, t.text, weights, orders) for t in tunes) if s is not None]
    if not scores:
        raise SystemExit(f"no tune of the {args.split} split in {args.data} could be scored")
    summary = summarise(scores, weights, orders)
    summary.update({"model": str(args.model), "split": args.split, "skipped": len(tunes) - len(scores),
                    "seconds": round(time.monotonic() - started, 1)})
    print(render_markdown(summary, args.split))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
        log.info("figures written to %s", args.out)
    return 0
