"""``antiphon train vae-memory-eval``: does a memory of the session's codes predict the player's next phrase better?

Example::

    antiphon train vae-memory-eval --model presets/folk-vae.onnx --data data/ --split valid
    antiphon train vae-memory-eval --model presets/folk-vae.onnx --data data/ --split test --out runs/vae-memory-test.json

The VAE answers a phrase from a code: the morph between the player's last two phrases' codes
(``morph`` 0.5, the preset's). With ``memory`` m, the daemon moves that code toward the mean code
of every phrase the player played this session: ``z + m * (mean - z)``
(:mod:`daemon.models.vae_answer`). Measured as the note-event and ABC memories are (a tune's
second half, with its first half remembered), in the VAE's terms: each tune of the split is cut
into two-bar phrases (every other bar line, as the evaluation reads them); every phrase of its
second half is scored (teacher-forced NLL through the bundled ONNX decoder, as live) under the
code the daemon would answer the phrase before it with, at each ``--weights`` value, the session
being every phrase before it. Figures: bits per note (mean over tunes), and how many tunes the
memory lowered.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from daemon.models.session_memory import log_softmax
from daemon.models.vae import VaeModel, load_vae, slerp
from daemon.music.phrases import END_PITCH
from training.data.memory_scoring import LN2, PAD, add_common_arguments, parse_weights
from training.vae.data import FOLK_SOURCES, batch_arrays, load_phrases

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = (0.1, 0.2, 0.3, 0.5)
MORPH = 0.5  # the morph presets' setting
MIN_PHRASES = 4  # a tune with fewer has too little of either half to score


def phrase_bits(model: VaeModel, z: np.ndarray, tokens: np.ndarray) -> float:
    """Bits of one phrase (its tokens, end event last) teacher-forced through the ONNX decoder from code ``z``."""
    _, _, dec_in, targets = batch_arrays([tokens], model.codec)
    h, c = model.initial_decoder_state()
    bits = 0.0
    for t in range(dec_in.shape[1]):
        logits, h, c = model.decoder_step(z, dec_in[0, t], h, c, first=t == 0)
        for f, field_logits in enumerate(logits):
            target = int(targets[0, t, f])
            if target != PAD:
                bits -= float(log_softmax(np.asarray(field_logits, np.float64))[target]) / LN2
    return bits


def answer_code(codes: Sequence[np.ndarray], weight: float) -> np.ndarray:
    """The code the daemon answers the last of ``codes`` with: the morph between the last two,
    moved toward the mean of all of them by ``weight``."""
    z = codes[-1] if len(codes) < 2 else slerp(codes[-2], codes[-1], MORPH)
    return z + weight * (np.mean(codes, axis=0) - z)


def score_tune(model: VaeModel, phrases: Sequence[Any], weights: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Bits of a tune's second-half phrases per weight ``(W,)``, and their notes (None: too short)."""
    if len(phrases) < MIN_PHRASES:
        return None
    codes = [model.encode_tokens(p.tokens[:-1])[0].reshape(-1) for p in phrases]
    bits = np.zeros(len(weights))
    notes = 0
    for k in range(len(phrases) // 2, len(phrases)):
        for i, w in enumerate(weights):
            bits[i] += phrase_bits(model, answer_code(codes[:k], float(w)), phrases[k].tokens)
        notes += int((phrases[k].tokens[:, 1] < END_PITCH).sum())
    return bits, notes


def configure(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "presets/folk-vae.onnx", "an exported phrase VAE", "tunes", DEFAULT_WEIGHTS)


def main(args: argparse.Namespace) -> int:
    from daemon.errors import AntiphonError

    weights = parse_weights(args.weights)
    started = time.monotonic()
    try:
        model = load_vae(args.model)
    except AntiphonError as exc:
        raise SystemExit(str(exc)) from exc
    training = model.info.training
    sources = tuple(training.get("sources", FOLK_SOURCES))
    split = load_phrases(args.data, args.split, model.codec, stride_bars=2, sources=sources,
                         voices=str(training.get("voices", "melody")))
    by_tune: dict[str, list[Any]] = {}
    for phrase in split.phrases:
        by_tune.setdefault(phrase.piece, []).append(phrase)
    tunes = sorted(by_tune.items())
    if args.limit > 0:
        tunes = tunes[: args.limit]
    scored = [s for s in (score_tune(model, sorted(p, key=lambda x: x.start), weights) for _, p in tunes) if s]
    if not scored:
        raise SystemExit(f"no tune of the {args.split} split has {MIN_PHRASES} phrases or more")
    per_note = np.stack([bits / max(1, notes) for bits, notes in scored])  # (P, W)
    summary = {"model": str(args.model), "split": args.split, "tunes": len(scored), "weights": weights.tolist(),
               "phrases_scored": int(sum(len(p) - len(p) // 2 for _, p in tunes if len(p) >= MIN_PHRASES)),
               "notes": int(sum(n for _, n in scored)), "bits_per_note": per_note.mean(0).tolist(),
               "improved": (per_note < per_note[:, :1] - 1e-12).sum(0).tolist(),
               "seconds": round(time.monotonic() - started, 1)}
    print(render_markdown(summary))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def render_markdown(summary: dict[str, Any]) -> str:
    lines = [(f"{summary['split']} split: {summary['tunes']} tunes, {summary['phrases_scored']} second-half phrases "
             f"({summary['notes']} notes), each scored under the code its answer would come from"), "",
             "| memory weight | bits/note | tunes improved |", "|---:|---:|---:|"]
    for i, w in enumerate(summary["weights"]):
        improved = "" if i == 0 else f"{summary['improved'][i]}/{summary['tunes']}"
        lines.append(f"| {'0 (no memory)' if i == 0 else f'{w:g}'} | {summary['bits_per_note'][i]:.3f} | {improved} |")
    best = int(np.argmin(summary["bits_per_note"]))
    lines.append(f"\nlowest bits/note: weight {summary['weights'][best]:g}")
    return "\n".join(lines)
