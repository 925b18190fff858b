"""``antiphon export lstm CHECKPOINT -o model.onnx [--quantize int8]``.

Wired into ``export/cli.py`` as the ``lstm`` sub-subcommand (``configure`` / ``main``).

Exports the checkpoint as the LSTM step graph (see ``export/lstm.py``), then proves parity
with PyTorch over stateful steps and prints the largest differences. With ``--quantize int8``
it also writes ``model.int8.onnx`` and prints what quantisation costs (largest logit change,
NLL change) and how fast both files step.

torch is imported only inside :func:`main`, so ``antiphon --help`` stays light.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from daemon.errors import AntiphonError

log = logging.getLogger(__name__)

SPEED_STEPS = 500  # steps timed per file after --quantize (the benchmarks take more)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``antiphon export lstm``."""
    parser.add_argument("checkpoint", type=Path, help="the .pt checkpoint written by 'antiphon train lstm'")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--quantize", choices=("int8",), help="also write an int8 dynamically quantised twin")
    parser.add_argument("--steps", type=int, default=64, help="stateful steps the parity check runs (default 64)")
    parser.add_argument("--rtol", type=float, default=1e-3, help="parity relative tolerance (default 1e-3)")
    parser.add_argument("--atol", type=float, default=1e-5, help="parity absolute tolerance (default 1e-5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the tokens the parity check feeds")


def _median_step_ms(path: Path, steps: int) -> float:
    import numpy as np

    from daemon.models.lstm import load_lstm

    model = load_lstm(path)
    rng = np.random.default_rng(0)
    tokens = np.stack([rng.integers(0, v, steps) for v in model.vocab_sizes], axis=1)
    state = model.initial_state()
    for token in tokens[:50]:
        _, state = model.step(token, state)
    times = []
    for token in tokens:
        t0 = time.perf_counter()
        _, state = model.step(token, state)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def main(args: argparse.Namespace) -> int:
    """Export, check parity (and int8 costs); exit status 1 when parity fails."""
    if args.steps < 1:
        raise AntiphonError("--steps must be at least 1")
    try:
        import torch  # noqa: F401  (checked here so the message is about the extra, not a traceback)
    except ImportError as exc:
        raise AntiphonError("exporting needs PyTorch and onnx: pip install 'antiphon[train]'") from exc
    from export.lstm import export_lstm, int8_path
    from export.lstm_parity import check_lstm_parity, compare_quantized

    out = export_lstm(args.checkpoint, args.output, quantize=args.quantize == "int8")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    report = check_lstm_parity(args.checkpoint, out, steps=args.steps, rtol=args.rtol, atol=args.atol, seed=args.seed)
    print(report.summary())
    if args.quantize == "int8":
        q_path = int8_path(out)
        print(f"wrote {q_path} ({q_path.stat().st_size / 1e6:.2f} MB)")
        print(compare_quantized(out, q_path, length=args.steps, seed=args.seed).summary())
        fp32_ms, int8_ms = _median_step_ms(out, SPEED_STEPS), _median_step_ms(q_path, SPEED_STEPS)
        print(f"median step time over {SPEED_STEPS} steps, 1 thread: fp32 {fp32_ms:.4f} ms, "
              f"int8 {int8_ms:.4f} ms (x{fp32_ms / int8_ms:.2f}); 'python -m benchmarks' measures properly")
    return 0 if report.ok else 1

