"""``antiphon train vae``: train the phrase VAE on 2-bar phrases of the folk tunes (or the chorales' soprano).

Examples (the models of ``docs/models/folk-vae.md`` and ``docs/models/chorale-vae.md``)::

    antiphon -v train vae --data data/ --out runs/vae-folk
    antiphon -v train vae --data data/ --out runs/vae-chorales --source bach --voices soprano --steps 4000

Needs the split files of the source (``antiphon train data --source folk --out data/``, or ``bach``). Training runs a
fixed number of optimiser steps on random batches of training phrases, each moved by a random
transposition; the KL weight rises linearly from 0 to ``--beta`` over ``--kl-anneal`` steps and
each latent dimension's KL below ``--free-bits`` nats is not penalised (free bits); a share
(``--word-dropout``) of the decoder's teacher-forced inputs is hidden, so it leans on ``z``. Every
``--eval-every`` steps (an "epoch") it measures the validation phrases (reconstruction NLL, KL,
ELBO, teacher-forced accuracy, active units), writes ``last.pt`` (for ``--resume``) and
``best.pt`` (lowest validation ELBO), appends a row to ``metrics.csv``, logs a few greedy
decodes (reconstructions and prior samples) and writes them to ``samples/stepNNNNNN.mid``.

torch is imported only inside :func:`main`, so ``antiphon --help`` stays light.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from training.lstm.data import TrainingDataError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data"), help="folder `antiphon train data` wrote")
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, metrics.csv, samples)")
    parser.add_argument("--source", default="folk",
                        help="the pieces' source: folk (O'Neill's, Ryan's, Aird's: the melody) or bach (the chorales)")
    parser.add_argument("--voices", default="melody",
                        help="which line of each piece: melody (the tune), or a voice by role (soprano)")
    parser.add_argument("--steps", type=int, default=6000, help="optimiser steps in all")
    parser.add_argument("--eval-every", type=int, default=500, help="steps between validations and samples")
    parser.add_argument("--log-every", type=int, default=50, help="steps between progress lines")
    parser.add_argument("--batch-size", type=int, default=64, help="phrases per step")
    parser.add_argument("--latent", type=int, default=64, help="size of z")
    parser.add_argument("--encoder-hidden", type=int, default=256, help="GRU width per direction")
    parser.add_argument("--decoder-hidden", type=int, default=256, help="decoder LSTM width")
    parser.add_argument("--decoder-layers", type=int, default=1, help="decoder LSTM layers")
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (cosine decay to a tenth)")
    parser.add_argument("--warmup", type=int, default=200, help="steps of linear learning-rate warm-up")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip")
    parser.add_argument("--beta", type=float, default=0.5, help="final KL weight")
    parser.add_argument("--kl-anneal", type=int, default=2000, help="steps over which the KL weight rises from 0")
    parser.add_argument("--free-bits", type=float, default=0.5,
                        help="nats of KL per latent dimension (batch mean) that are not penalised")
    parser.add_argument("--word-dropout", type=float, default=0.25,
                        help="share of the decoder's teacher-forced input events replaced by the BOS event, so the "
                             "decoder must lean on z (Bowman et al. 2016)")
    parser.add_argument("--transpose", default="-5,6", help="semitone range LOW,HIGH of the random transposition")
    parser.add_argument("--valid-phrases", type=int, default=2000, help="validation phrases measured per epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: other processes share the cores)")
    parser.add_argument("--samples", type=int, default=4, help="prior samples and reconstructions decoded per epoch")
    parser.add_argument("--limit-tunes", type=int, default=None, help="use only the first N tunes per split (smoke tests)")


def transpose_range(text: str) -> tuple[int, int]:
    """``"-5,6"`` -> (-5, 6); ``"none"`` -> (0, 0)."""
    if text.strip().lower() in ("none", "0", ""):
        return 0, 0
    try:
        low, high = (int(v) for v in text.split(","))
    except ValueError as exc:
        raise TrainingDataError(f"--transpose takes LOW,HIGH or none, got {text!r}") from exc
    if low > high:
        raise TrainingDataError(f"--transpose takes LOW,HIGH with LOW <= HIGH, got {text!r}")
    return low, high


def main(args: argparse.Namespace) -> int:
    from training.vae.trainer import train  # imports torch

    for name in ("steps", "eval_every", "log_every", "batch_size", "latent", "threads"):
        if getattr(args, name) < 1:
            raise TrainingDataError(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 <= args.word_dropout < 1:
        raise TrainingDataError(f"--word-dropout must be in [0, 1), got {args.word_dropout}")
    train(args, transpose_range(args.transpose), command="antiphon " + shlex.join(sys.argv[1:]))
    return 0
