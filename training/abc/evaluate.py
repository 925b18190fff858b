"""``antiphon train abc-eval``: how well the ABC LSTM predicts test tunes, and what it writes.

Example (the figures of ``docs/models/folk-abc.md``)::

    antiphon -v train abc-eval --checkpoint runs/abc-folk/best.pt --model presets/folk-abc.onnx \\
        --out runs/abc-folk/eval.json --tunes 1000 --temperature 0.8 --top-p 0.95 --seed 0

1. Bits per character on the test tunes (each from its start, every character and the end mark
   predicted), beside character n-gram baselines (interpolated Kneser-Ney, orders ``--orders``)
   fitted on the training tunes; bits per note = the same total bits over the notes the
   daemon's ABC parser reads in those tunes.
2. ``--tunes`` tunes sampled from the exported file with the daemon's runner, from the start
   character alone (the model writes the header too), tune ``i`` with seed ``seed + i``, one try
   each (no retries): the share that ends, that the daemon's parser, ``abc2midi`` and music21
   read, the share of bars whose length fits the meter (:func:`daemon.music.abc.bar_check`),
   the share with repeat structure, pitch-class entropy and scale consistency -- beside the same
   figures of the real test tunes.

Writes a JSON report (``--out``) and the sampled tunes (``--out`` with ``.abc``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from training.abc.data import load_tunes

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="the .pt checkpoint (bits per character)")
    parser.add_argument("--model", type=Path, required=True, help="the exported .onnx file (the sampled tunes)")
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, required=True, help="the JSON report; the tunes go beside it as .abc")
    parser.add_argument("--tunes", type=int, default=1000, help="tunes sampled")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0, help="tune i is sampled with seed SEED + i")
    parser.add_argument("--orders", default="3,5,7", help="orders of the n-gram baselines")
    parser.add_argument("--threads", type=int, default=1)


def main(args: argparse.Namespace) -> int:
    import torch

    from daemon.models.abc import AbcSampling, load_abc
    from daemon.music.abc import parse_tune
    from training.abc.checkpoint import load_model
    from training.abc.metrics import summarise, tune_figures
    from training.abc.ngram import KneserNey
    from training.abc.scoring import tune_bits

    torch.set_num_threads(args.threads)
    tunes = load_tunes(args.data)
    train = [t.text for t in tunes if t.split == "train"]
    test = [t.text for t in tunes if t.split == "test"]
    model, _ = load_model(args.checkpoint)
    notes = sum(len(parse_tune(text).notes) for text in test)
    with torch.no_grad():
        scored = [tune_bits(model, text) for text in test]
    bits, chars = sum(b for b, _ in scored), sum(c for _, c in scored)
    report: dict[str, object] = {
        "test": {"tunes": len(test), "chars": chars, "notes": notes},
        "lstm": {"bits_per_char": bits / chars, "bits_per_note": bits / notes},
    }
    for order in (int(o) for o in args.orders.split(",")):
        baseline = KneserNey(order, model.config.vocabulary).fit(train)
        base = [baseline.tune_bits(text) for text in test]
        total = sum(b for b, _ in base)
        report[f"kneser_ney_{order}"] = {"bits_per_char": total / chars, "bits_per_note": total / notes}
    log.info("test: %s", json.dumps(report))

    runner = load_abc(args.model)
    sampling = AbcSampling(temperature=args.temperature, top_p=args.top_p, retries=0)
    started = time.monotonic()
    texts, figures = [], []
    sampling_s = 0.0
    for i in range(args.tunes):
        t0 = time.perf_counter()
        continuation, ended = runner.sample_text("", sampling, np.random.default_rng(args.seed + i))
        sampling_s += time.perf_counter() - t0
        texts.append(continuation)
        figures.append(tune_figures(continuation, ended=ended))
        if (i + 1) % 100 == 0:
            log.info("%d tunes sampled and read (%.0f s)", i + 1, time.monotonic() - started)
    sampled_chars = sum(len(t) + 1 for t in texts)
    report["generated"] = {**summarise(figures), "temperature": args.temperature, "top_p": args.top_p,
                           "seeds": f"{args.seed}..{args.seed + args.tunes - 1}", "prompt": "start character only",
                           "sampled_chars": sampled_chars, "chars_per_s": sampled_chars / sampling_s,
                           "ms_per_tune": 1e3 * sampling_s / args.tunes}
    report["real_test"] = summarise([tune_figures(text, readers=False) for text in test])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    with args.out.with_suffix(".abc").open("w", encoding="ascii", errors="replace") as out:
        for i, text in enumerate(texts):
            out.write(f"X:{i + 1}\n{text}\n")
    print(format_report(report))
    generated = report["generated"]
    print(f"sampling with the ONNX file, one thread: {generated['chars_per_s']:.0f} characters/s, "
          f"{generated['ms_per_tune']:.0f} ms per tune")
    return 0


def format_report(report: dict) -> str:
    lines = ["| model | bits/char | bits/note |", "|---|---:|---:|"]
    for name, row in report.items():
        if isinstance(row, dict) and "bits_per_char" in row:
            lines.append(f"| {name} | {row['bits_per_char']:.3f} | {row['bits_per_note']:.2f} |")
    generated, real = report["generated"], report["real_test"]
    lines += ["", "| figure | generated | real test tunes |", "|---|---:|---:|"]
    for key in ("tunes", "ended", "read_by_daemon_parser", "read_by_abc2midi", "read_by_music21", "read_by_both",
                "bars", "bars_right_length", "repeat_structure", "pitch_class_entropy", "scale_consistency",
                "in_written_key", "notes_per_tune"):
        g, r = generated[key], real[key]
        lines.append(f"| {key} | {_fmt(g)} | {_fmt(r)} |")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if value is None:
        return "not run"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
