"""``antiphon export gan CHECKPOINT -o model.onnx``: export a GAN generator and check parity.

Wired into ``export/cli.py`` as the ``gan`` sub-subcommand (``configure`` / ``main``); also
runnable as ``python -m export.gan_cli``. torch is imported only inside :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from daemon.errors import AntiphonError
from training.gan.options import add_chain_arguments, add_decoding_arguments

log = logging.getLogger(__name__)

HELP = "export a GAN checkpoint's generator to ONNX and check parity"


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``antiphon export gan``."""
    parser.add_argument("checkpoint", type=Path, help="the .pt checkpoint written by 'antiphon train gan'")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    add_decoding_arguments(parser)
    add_chain_arguments(parser)
    parser.add_argument("--data", type=Path, default=None,
                        help="corpus cache written by 'antiphon train data', for --length-prior and --revive-after")
    parser.add_argument("--bars", type=int, default=64, help="bars the parity check compares (default 64)")
    parser.add_argument("--chained-bars", type=int, default=16, help="bars of the chained check (default 16)")
    parser.add_argument("--atol", type=float, default=1e-4, help="parity tolerance on probabilities (default 1e-4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", type=Path, help="also write the parity numbers as JSON here")


def main(args: argparse.Namespace) -> int:
    """Export, then check parity; exit status 1 when parity fails."""
    if args.bars < 2 or args.chained_bars < 1:
        raise AntiphonError("--bars must be at least 2 and --chained-bars at least 1")
    try:
        import torch  # noqa: F401  (checked here so the message names the extra, not a traceback)
    except ImportError as exc:
        raise AntiphonError("exporting needs PyTorch and onnx: pip install 'antiphon[train]'") from exc
    from export.gan import check_gan_parity, export_gan

    rules = None
    if args.revive_after is not None:
        from training.gan.chains import derive_rules
        from training.gan.checkpoint import load_checkpoint
        from training.gan.data import load_bar_set

        if args.data is None:
            raise AntiphonError("--revive-after reads the training bars: give --data too")
        ckpt = load_checkpoint(args.checkpoint, args.weights)
        sources = list(ckpt.training.get("sources", ["grooves"]))
        rules = derive_rules(load_bar_set(args.data, sources, "train", ckpt.spec), args.revive_after,
                             args.chain_candidates, args.chain_bounds, not args.no_steer, args.memory_bars,
                             args.chord_tone_share, args.restrike_from, args.gap_weights, args.warm_up_bars,
                             tone_tracks=args.chord_tone_tracks)
    out = export_gan(args.checkpoint, args.output, args.weights, args.voice_switch_cost, args.candidates,
                     args.length_prior, args.data, args.pitch_class_floor, args.restart_floor, rules, args.hold_floor)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    report = check_gan_parity(args.checkpoint, out, bars=args.bars, chained_bars=args.chained_bars, seed=args.seed,
                              atol=args.atol, weights=args.weights, switch_cost=args.voice_switch_cost)
    print(report.summary())
    if args.report:
        args.report.write_text(json.dumps(report.to_dict(), indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    from daemon.commands import run_module

    run_module("python -m export.gan_cli", HELP, configure, main)
