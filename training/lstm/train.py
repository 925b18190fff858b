"""``antiphon train lstm``: train an LSTM phrase model on the cached corpora.

Example (the bundled Bach note-event model)::

    antiphon -v train lstm --data data/ --source bach --representation note-events --out runs/bach-events

Writes into ``--out``: ``last.pt`` (every epoch, with optimizer state for ``--resume``),
``best.pt`` (lowest validation bits per note), ``metrics.csv`` (one row per epoch),
``train.log``-worthy logging, and ``samples/epochNNN/`` (continuations of validation prompts
as ``.mid`` and pianoroll ``.png``).

Several GPUs: ``torchrun --nproc_per_node N -m daemon train lstm ...`` (DDP over
``WORLD_SIZE`` processes, each with a shard of every epoch's windows).

torch is imported only inside :func:`main`, so ``antiphon --help`` stays light.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from training.lstm.config import DEFAULTS, TrainConfig
from training.lstm.data import (
    DEFAULT_MAX_CHORDS,
    DEFAULT_TRANSPOSE,
    REPRESENTATIONS,
    VOICES,
    TrainingDataError,
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data"), help="folder `antiphon train data` wrote")
    parser.add_argument("--source", required=True,
                        help="comma-separated sources trained on together, e.g. bach or oneills,ryans,airds")
    parser.add_argument("--representation", choices=REPRESENTATIONS, default="note-events")
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, metrics.csv, samples)")
    parser.add_argument("--voices", choices=VOICES, default="auto",
                        help="all pitched channels, or the melody only (auto: melody for folk sources)")
    parser.add_argument("--window", type=int, help="events per training window (note-events 128, chord 32)")
    parser.add_argument("--stride", type=int, help="events between window starts (default: half a window)")
    parser.add_argument("--transpose", default=None,
                        help="semitone range LOW,HIGH of the random transposition per training window, "
                             "or 'none' (note-events default -5,6; chord default none: with a range, the chord "
                             "vocabulary is fitted on the transposed training pieces too)")
    parser.add_argument("--max-chords", type=int, default=DEFAULT_MAX_CHORDS, help="chord vocabulary cap")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16, help="windows per optimiser step")
    parser.add_argument("--hidden", type=int, default=256, help="LSTM width")
    parser.add_argument("--layers", type=int, default=2, help="stacked LSTM layers")
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--embed", default=None,
                        help="comma-separated embedding width per field (note-events 16,48,24,8; chord 96,16)")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--patience", type=int, default=4, help="epochs without improvement before stopping")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is fastest on a shared 2-core machine)")
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget for training")
    parser.add_argument("--samples", type=int, default=3, help="validation continuations written per epoch")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Resolve per-representation defaults and parse the list arguments."""
    window_default, embed_default = DEFAULTS[args.representation]
    window = args.window or window_default
    stride = args.stride or max(1, window // 2)
    if args.transpose is None:
        transpose = DEFAULT_TRANSPOSE if args.representation == "note-events" else None
    elif args.transpose.strip().lower() in ("none", "0", ""):
        transpose = None
    else:
        transpose = _int_pair(args.transpose, "--transpose")
    embed = tuple(_ints(args.embed, "--embed")) if args.embed else embed_default
    if len(embed) != len(embed_default):
        raise TrainingDataError(f"--embed needs {len(embed_default)} widths for {args.representation}, got {len(embed)}")
    sources = tuple(s.strip() for s in args.source.split(",") if s.strip())
    if not sources:
        raise TrainingDataError("--source names no source; e.g. --source bach")
    return TrainConfig(
        data=args.data, sources=sources, representation=args.representation, out=args.out, voices=args.voices,
        window=window, stride=stride, transpose=transpose, max_chords=args.max_chords, epochs=args.epochs,
        batch_size=args.batch_size, hidden=args.hidden, layers=args.layers, dropout=args.dropout,
        embed_dims=embed, lr=args.lr, weight_decay=args.weight_decay, clip=args.clip, seed=args.seed,
        resume=args.resume, device=args.device, patience=args.patience, threads=args.threads,
        max_minutes=args.max_minutes, samples=args.samples,
        command="antiphon " + shlex.join(sys.argv[1:]),
    )


def _ints(text: str, name: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError as exc:
        raise TrainingDataError(f"{name} takes comma-separated whole numbers, got {text!r}") from exc


def _int_pair(text: str, name: str) -> tuple[int, int]:
    values = _ints(text, name)
    if len(values) != 2 or values[0] > values[1]:
        raise TrainingDataError(f"{name} takes LOW,HIGH with LOW <= HIGH, got {text!r}")
    return values[0], values[1]


def main(args: argparse.Namespace) -> int:
    from training.lstm.trainer import train  # imports torch

    train(config_from_args(args))
    return 0
