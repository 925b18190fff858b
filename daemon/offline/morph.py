"""``antiphon morph a.mid b.mid --model folk-vae.onnx --steps 8 -o out.mid``: morph two phrases.

Encodes the last two bars of each file's melody with the phrase VAE, and decodes ``--steps``
points along the spherical interpolation between their codes (the first is ``a``'s code, the
last ``b``'s), one two-bar phrase after another, at ``a``'s tempo and on its melody's channel.
See :mod:`daemon.offline.vae_phrases` for how the phrases are read and what is refused.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from daemon.offline.vae_phrases import (
    DEFAULT_VAE_MODEL,
    add_decoding_arguments,
    count_argument,
    decoding_params,
    open_model,
    read_phrase,
    rng_of,
    write_phrases,
)

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``antiphon morph``."""
    parser.add_argument("first", type=Path, help="MIDI file the morph starts from (its last 2 bars)")
    parser.add_argument("second", type=Path, help="MIDI file the morph ends at (its last 2 bars)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="MIDI file to write")
    parser.add_argument("--model", type=Path, default=DEFAULT_VAE_MODEL,
                        help="the VAE decoder .onnx file (its encoder .encoder.onnx beside it; "
                             "default presets/folk-vae.onnx)")
    parser.add_argument("--steps", type=count_argument, default=8,
                        help="phrases along the way, both ends included (default 8)")
    add_decoding_arguments(parser)


def main(args: argparse.Namespace) -> int:
    """Run ``antiphon morph``; returns the exit status."""
    from daemon.errors import AntiphonError
    from daemon.models.vae import slerp

    if args.steps < 2:
        raise AntiphonError("--steps must be at least 2 (the two ends)")
    model = open_model(args.model, args.threads)
    first = read_phrase(args.first, model)
    second = read_phrase(args.second, model)
    params = decoding_params(args)
    rng, seed = rng_of(args.seed)
    mu_a, _ = model.encode(first.notes)
    mu_b, _ = model.encode(second.notes)
    phrases = [model.decode(slerp(mu_a, mu_b, i / (args.steps - 1)), params, rng) for i in range(args.steps)]
    written = write_phrases(args.output, phrases, model.phrase_ticks, model.codec.grid, first.bpm, first.channel)
    print(f"wrote {args.output}: {args.steps} phrases of 2 bars from {args.first.name} to {args.second.name}, "
          f"{written} notes, " + ("greedy" if params is None else f"temperature {args.temperature:g}, seed {seed}"))
    return 0
