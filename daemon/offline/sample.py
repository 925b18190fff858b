"""``antiphon sample --vae folk-vae.onnx --count 8 -o out.mid``: phrases from a VAE's prior.

Draws ``--count`` codes from N(0, I) and decodes each into a two-bar phrase, one after another.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from daemon.offline.vae_phrases import (
    DEFAULT_VAE_MODEL,
    add_decoding_arguments,
    count_argument,
    decoding_params,
    open_model,
    rng_of,
    write_phrases,
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``antiphon sample``."""
    parser.add_argument("--vae", type=Path, default=DEFAULT_VAE_MODEL,
                        help="the VAE decoder .onnx file to sample from (its encoder beside it; "
                             "default presets/folk-vae.onnx)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="MIDI file to write")
    parser.add_argument("--count", type=count_argument, default=8, help="phrases to draw (default 8)")
    parser.add_argument("--bpm", type=float, default=120.0, help="tempo of the written file (default 120)")
    add_decoding_arguments(parser)


def main(args: argparse.Namespace) -> int:
    """Run ``antiphon sample``; returns the exit status."""
    from daemon.errors import AntiphonError

    if not args.bpm > 0:
        raise AntiphonError(f"--bpm must be above 0, got {args.bpm}")
    model = open_model(args.vae, args.threads)
    params = decoding_params(args)
    rng, seed = rng_of(args.seed)
    codes = model.prior(rng, args.count)
    phrases = [model.decode(z, params, rng) for z in codes]
    written = write_phrases(args.output, phrases, model.phrase_ticks, model.codec.grid, args.bpm, 0)
    print(f"wrote {args.output}: {args.count} phrases of 2 bars from the prior, {written} notes, seed {seed}"
          + ("" if params is None else f", temperature {args.temperature:g}"))
    return 0
