"""``antiphon train style-classifier``: which style family a groove bar is, learned on real bars only.

Example (the judge of ``docs/models/restyle-grooves.md``)::

    antiphon -v train style-classifier --data data/ --out runs/style-classifier

Bars of every family (:mod:`training.restyle.families`) in random keys, equal numbers of each
family per batch; every ``--eval-every`` steps the validation bars' accuracy is measured and the
best is kept as ``best.pt``. The restyle evaluation asks it which family transferred bars sound
like; it never sees a generated bar in training.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from training.restyle.families import FAMILIES

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data"), help="folder `antiphon train data` wrote")
    parser.add_argument("--out", type=Path, required=True, help="run folder (best.pt, log)")
    parser.add_argument("--families", default="rock,latin",
                        help=f"style families, comma-separated (known: {', '.join(FAMILIES)})")
    parser.add_argument("--steps", type=int, default=3000, help="optimiser steps")
    parser.add_argument("--batch-size", type=int, default=32, help="bars per family per step")
    parser.add_argument("--eval-every", type=int, default=250, help="steps between validations")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05, help="AdamW weight decay")
    parser.add_argument("--dropout", type=float, default=0.5, help="dropout before the last layer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")


def accuracy(net: object, bars: dict[str, np.ndarray], families: list[str]) -> tuple[float, dict[str, float]]:
    """Mean per-family accuracy (families weigh equally) and each family's."""
    from training.restyle.judge import judge

    per = {f: float((judge(net, bars[f]) == i).mean()) for i, f in enumerate(families)}
    return float(np.mean(list(per.values()))), per


def main(args: argparse.Namespace) -> int:
    import torch

    from training.restyle import checkpoint
    from training.restyle.data import load_style_bars, sample_bars
    from training.restyle.model import RestyleConfig, StyleClassifier, count_parameters

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    train, valid = load_style_bars(args.data, "train", families), load_style_bars(args.data, "valid", families)
    log.info("%s", train.describe("train"))
    log.info("%s", valid.describe("valid"))
    spec = train.spec
    t, s, p = spec.bar_shape
    config = RestyleConfig(t, s, p, tuple(tr.rows for tr in spec.tracks), n_styles=len(families),
                           dropout=args.dropout)
    net = StyleClassifier(config)
    log.info("classifier: %s parameters", f"{count_parameters(net):,}")
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    labels = torch.arange(len(families)).repeat_interleave(args.batch_size)
    best = -1.0
    for step in range(1, args.steps + 1):
        net.train()
        batch = np.concatenate([sample_bars(train.bars[f], args.batch_size, rng, spec) for f in families])
        loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(batch)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % args.eval_every == 0 or step == args.steps:
            mean, per = accuracy(net.eval(), valid.bars, families)
            log.info("step %d  loss %.3f  valid accuracy %.3f (%s)", step, float(loss.detach()), mean,
                     ", ".join(f"{f} {a:.2f}" for f, a in per.items()))
            if mean > best:
                best = mean
                checkpoint.save(args.out / "best.pt", checkpoint.CLASSIFIER_KIND, config, state=net.state_dict(),
                                families=families, spec=spec.to_dict(), step=step, valid_accuracy=per,
                                files={f: list(train.files[f]) for f in families})
    log.info("best valid accuracy %.3f -> %s", best, args.out / "best.pt")
    return 0
