"""``antiphon train abc``: train the ABC character LSTM on the folk collections' text.

Example (the bundled ``folk-abc`` model)::

    antiphon -v train abc --data data/ --out runs/abc-folk

Builds ``data/abc/tunes.jsonl`` first when it is missing (:mod:`training.abc.data`). Training
runs a fixed number of optimiser steps on random windows of the training tunes' text (each
tune framed by start and end characters); every ``--eval-every`` steps (an "epoch") it measures
validation bits per character, writes ``last.pt`` (with optimizer state, for ``--resume``) and
``best.pt``, appends a row to ``metrics.csv`` and logs a few sampled tunes.

torch is imported only inside :func:`main`, so ``antiphon --help`` stays light.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from training.abc.data import counts, load_tunes

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data"), help="data folder (data/abc/tunes.jsonl)")
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, metrics.csv)")
    parser.add_argument("--steps", type=int, default=2200, help="optimiser steps in all")
    parser.add_argument("--eval-every", type=int, default=200, help="steps between validations and samples")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per step")
    parser.add_argument("--seq-len", type=int, default=256, help="characters per window")
    parser.add_argument("--start-share", type=float, default=0.25,
                        help="share of windows that begin at a tune's start (the state is zero there, as when "
                             "a tune is sampled); the rest begin anywhere")
    parser.add_argument("--hidden", type=int, default=256, help="LSTM width")
    parser.add_argument("--layers", type=int, default=3, help="stacked LSTM layers")
    parser.add_argument("--embed", type=int, default=64, help="character embedding width")
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (cosine decay to a tenth)")
    parser.add_argument("--warmup", type=int, default=100, help="steps of linear learning-rate warm-up")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: another process shares the cores)")
    parser.add_argument("--samples", type=int, default=3, help="tunes sampled and logged per epoch")
    parser.add_argument("--temperature", type=float, default=0.8, help="temperature of the logged samples")
    parser.add_argument("--log-every", type=int, default=25, help="steps between progress lines")
    parser.add_argument("--max-tunes", type=int, default=None, help="use only the first N tunes per split (smoke tests)")


def encode(text: str, vocabulary: str) -> np.ndarray:
    index = {ch: i for i, ch in enumerate(vocabulary)}
    return np.array([index[ch] for ch in text], dtype=np.int64)


def main(args: argparse.Namespace) -> int:
    import torch

    from training.abc.checkpoint import load_checkpoint, save_checkpoint
    from training.abc.model import BOS, EOS, AbcLSTM, AbcLSTMConfig, build_vocabulary
    from training.abc.sample import sample_tune
    from training.abc.scoring import tune_bits

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    tunes = load_tunes(args.data)
    by_split = {s: [t for t in tunes if t.split == s] for s in ("train", "valid", "test")}
    if args.max_tunes:
        by_split = {s: v[:args.max_tunes] for s, v in by_split.items()}
    table = counts([t for v in by_split.values() for t in v])
    log.info("tunes per split %s, characters per split %s", table["tunes"], table["chars"])

    last = args.out / "last.pt"
    if args.resume and last.exists():
        state = load_checkpoint(last)
        config = AbcLSTMConfig(**state["config"])
        log.info("resuming from %s at step %d", last, state["step"])
    else:
        state = None
        config = AbcLSTMConfig(vocabulary=build_vocabulary([t.text for t in tunes]), embed_dim=args.embed,
                               hidden_size=args.hidden, num_layers=args.layers, dropout=args.dropout)
    torch.manual_seed(args.seed)
    model = AbcLSTM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    step, best = 0, math.inf
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, best = int(state["step"]), float(state["best_valid_bpc"])
    log.info("model: %d parameters, vocabulary of %d characters", sum(p.numel() for p in model.parameters()),
             len(config.vocabulary))

    stream = encode("".join(BOS + t.text + EOS for t in by_split["train"]), config.vocabulary)
    window = args.seq_len + 1
    tune_starts = np.flatnonzero(stream[:len(stream) - window] == config.vocabulary.index(BOS))
    valid = [t.text for t in by_split["valid"]]
    training_info: dict[str, Any] = {"sources": ["oneills", "ryans", "airds"], "tunes": table["tunes"],
                                     "chars": table["chars"], "steps": args.steps, "batch_size": args.batch_size,
                                     "seq_len": args.seq_len, "start_share": args.start_share, "lr": args.lr,
                                     "seed": args.seed, "command": shlex.join(["antiphon", "train", "abc", *sys.argv[
                                         sys.argv.index("abc") + 1:]]) if "abc" in sys.argv else ""}
    metrics_path = args.out / "metrics.csv"
    started = time.monotonic()
    while step < args.steps:
        model.train()
        rng = np.random.default_rng([args.seed, step])  # batch of step s is the same after a resume
        starts = rng.integers(0, len(stream) - window, size=args.batch_size)
        at_tune_start = rng.random(args.batch_size) < args.start_share
        if len(tune_starts):
            starts[at_tune_start] = rng.choice(tune_starts, size=int(at_tune_start.sum()))
        batch = torch.from_numpy(np.stack([stream[s:s + window] for s in starts]))  # (B, T+1)
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, args)
        logits, _ = model(batch[:, :-1])  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        step += 1
        if step % args.log_every == 0:
            elapsed = time.monotonic() - started
            log.info("step %d/%d  train %.3f bits/char  lr %.2e  %.2f s/step", step, args.steps,
                     loss.item() / math.log(2), _learning_rate(step, args), elapsed / max(1, step - (
                         int(state["step"]) if state else 0)))
        if step % args.eval_every == 0 or step == args.steps:
            model.eval()
            with torch.no_grad():
                bits, chars = 0.0, 0
                for text in valid:
                    tune_bits_total, tune_chars = tune_bits(model, text)
                    bits, chars = bits + tune_bits_total, chars + tune_chars
            valid_bpc = bits / max(1, chars)
            improved = valid_bpc < best
            best = min(best, valid_bpc)
            log.info("step %d: validation %.4f bits/char%s", step, valid_bpc, " (best)" if improved else "")
            payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "config": asdict(config),
                       "step": step, "best_valid_bpc": best, "training": training_info,
                       "metrics": {"valid_bits_per_char": valid_bpc}}
            save_checkpoint(last, payload)
            if improved:
                save_checkpoint(args.out / "best.pt", payload)
            _append_metrics(metrics_path, step, loss.item() / math.log(2), valid_bpc)
            generator = torch.Generator().manual_seed(args.seed * 1000 + step)
            for i in range(args.samples):
                text = sample_tune(model, "", temperature=args.temperature, generator=generator)
                log.info("sample %d at step %d:\n%s", i + 1, step, text)
    log.info("done: %d steps, best validation %.4f bits/char; checkpoints in %s", step, best, args.out)
    return 0


def _learning_rate(step: int, args: argparse.Namespace) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _append_metrics(path: Path, step: int, train_bpc: float, valid_bpc: float) -> None:
    new = not path.exists()
    with path.open("a", newline="") as out:
        writer = csv.writer(out)
        if new:
            writer.writerow(["step", "train_bits_per_char", "valid_bits_per_char"])
        writer.writerow([step, f"{train_bpc:.4f}", f"{valid_bpc:.4f}"])
