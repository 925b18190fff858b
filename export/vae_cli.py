"""``antiphon export vae CHECKPOINT -o folk-vae.onnx [--attributes attributes.json]``.

Wired into ``export/cli.py`` as the ``vae`` sub-subcommand (``configure`` / ``main``).

Writes the decoder step graph to ``-o`` and the encoder beside it (``folk-vae.encoder.onnx``;
see ``export/vae.py``), then proves parity with PyTorch (encoder moments, every decoder step of
several phrases, greedy decodes) and prints the largest differences, then times what an answer
costs through onnxruntime on one thread: encoding a phrase and decoding a 2-bar phrase greedily
from its code (median and 99th percentile; ``python -m benchmarks`` measures properly).

torch is imported only inside :func:`main`, so ``antiphon --help`` stays light.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from daemon.errors import AntiphonError


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``antiphon export vae``."""
    parser.add_argument("checkpoint", type=Path, help="the .pt checkpoint written by 'antiphon train vae'")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="the decoder .onnx file to write (the encoder goes beside it as NAME.encoder.onnx)")
    parser.add_argument("--attributes", type=Path, default=None,
                        help="attribute vectors to carry (JSON written by 'antiphon train vae-eval --attributes-out')")
    parser.add_argument("--phrases", type=int, default=8, help="random phrases the parity check runs (default 8)")
    parser.add_argument("--atol", type=float, default=1e-4, help="parity absolute tolerance (default 1e-4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the phrases the parity check feeds")
    parser.add_argument("--timed", type=int, default=200, help="phrases encoded and decoded for the timing (default 200)")


def time_answers(decoder: Path, count: int, seed: int) -> tuple[float, float, float]:
    """(median ms, 99th percentile ms, mean notes) of encoding a random phrase and greedily
    decoding a 2-bar phrase from its code, one onnxruntime thread."""
    import numpy as np

    from daemon.models.vae import load_vae
    from export.vae import random_phrases

    model = load_vae(decoder)
    times, notes = [], []
    for tokens in random_phrases(count + 10, seed):
        t0 = time.perf_counter()
        mu, _ = model.encode_tokens(tokens[:-1])
        phrase = model.decode(mu)
        times.append(time.perf_counter() - t0)
        notes.append(len(phrase))
    ms = np.array(times[10:]) * 1e3
    return float(np.median(ms)), float(np.percentile(ms, 99)), float(np.mean(notes[10:]))


def main(args: argparse.Namespace) -> int:
    """Export and check parity; exit status 1 when parity fails."""
    if args.phrases < 1:
        raise AntiphonError("--phrases must be at least 1")
    try:
        import torch  # noqa: F401  (checked here so the message is about the extra, not a traceback)
    except ImportError as exc:
        raise AntiphonError("exporting needs PyTorch and onnx: pip install 'antiphon[train]'") from exc
    from export.vae import check_vae_parity, export_vae

    decoder, encoder = export_vae(args.checkpoint, args.output, args.attributes)
    for path in (decoder, encoder):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    report = check_vae_parity(args.checkpoint, decoder, phrases=args.phrases, seed=args.seed, atol=args.atol)
    print(report.summary())
    if args.timed > 0:
        median, p99, notes = time_answers(decoder, args.timed, args.seed)
        print(f"encode + greedy 2-bar decode, 1 onnxruntime thread, {args.timed} phrases: median {median:.2f} ms, "
              f"p99 {p99:.2f} ms ({notes:.1f} notes decoded on average)")
    return 0 if report.ok else 1
