"""``antiphon export abc CHECKPOINT -o presets/folk-abc.onnx``.

Wired into ``export/cli.py`` as the ``abc`` sub-subcommand (``configure`` / ``main``). Exports
the ABC step graph (see ``export/abc.py``) and proves parity with PyTorch over the characters
of a validation tune, stepped with their state.

torch is imported only inside :func:`main`, so ``antiphon --help`` stays light.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="the .pt checkpoint written by 'antiphon train abc'")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--data", type=Path, default=Path("data"), help="data folder (the header conventions)")
    parser.add_argument("--atol", type=float, default=1e-4, help="parity absolute tolerance")


def main(args: argparse.Namespace) -> int:
    from export.abc import check_abc_parity, export_abc
    from training.abc.data import load_tunes

    tunes = load_tunes(args.data)
    out = export_abc(args.checkpoint, args.output, tunes)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    probe = next(t.text for t in tunes if t.split == "valid")
    report = check_abc_parity(args.checkpoint, out, probe, atol=args.atol)
    print(report.summary())
    return 0 if report.ok else 1
