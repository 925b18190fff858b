"""``antiphon export restyle CHECKPOINT -o restyle-grooves.onnx [--metrics eval.json]``.

Writes both directions of the style pair to one file (``export/restyle.py``), then checks parity
with PyTorch on random bars (exit status 1 when the largest difference passes ``--atol``).
torch is imported only inside :func:`main`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``antiphon export restyle``."""
    parser.add_argument("checkpoint", type=Path, help="the last.pt written by 'antiphon train restyle'")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--metrics", type=Path, default=None,
                        help="eval.json of 'antiphon train restyle-eval', carried in the file's metadata")
    parser.add_argument("--atol", type=float, default=1e-4, help="parity absolute tolerance (default 1e-4)")


def main(args: argparse.Namespace) -> int:
    from export.restyle import check_restyle_parity, export_restyle

    out = export_restyle(args.checkpoint, args.output, args.metrics)
    parity = check_restyle_parity(args.checkpoint, out)
    ok = parity["max_abs_diff"] <= args.atol
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); parity {'OK' if ok else 'FAILED'} over "
          f"{parity['bars']} random bars both ways: largest probability difference {parity['max_abs_diff']:.2e} "
          f"(tolerance {args.atol:g}), cells binarised differently {parity['cells_flipped']:.2%}")
    return 0 if ok else 1
