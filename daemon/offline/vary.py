"""``antiphon vary in.mid --model folk-vae.onnx --amount 0.3 -o out.mid``: variations of a phrase.

Encodes the last two bars of the file's melody and decodes ``--count`` codes near it:
``mu + amount * e`` with ``e`` drawn from N(0, I) (``--amount`` is in units of the prior's
standard deviation; 0 decodes the phrase itself). ``--attribute NAME=VALUE`` (repeatable) moves
the code by VALUE times the attribute's latent direction, which the model file must carry (the
direction of the phrase's key where the file has one per tonic: major/minor).
The output is the phrase as written, then its variations.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from daemon.errors import AntiphonError
from daemon.music.keys import estimate_key
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

MAX_AMOUNT = 4.0  # prior standard deviations; further out the decoder has seen nothing


def attribute_argument(text: str) -> tuple[str, float]:
    """An argparse type: ``density=+1.0`` -> ("density", 1.0)."""
    name, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not sep or not name.strip() or not np.isfinite(number):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=NUMBER, e.g. density=+1.0")
    return name.strip(), number


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``antiphon vary``."""
    parser.add_argument("input", type=Path, help="MIDI file whose last 2 bars are varied")
    parser.add_argument("-o", "--output", type=Path, required=True, help="MIDI file to write")
    parser.add_argument("--model", type=Path, default=DEFAULT_VAE_MODEL,
                        help="the VAE decoder .onnx file (its encoder .encoder.onnx beside it; "
                             "default presets/folk-vae.onnx)")
    parser.add_argument("--amount", type=float, default=0.3,
                        help=f"how far from the phrase's code, in prior standard deviations (0-{MAX_AMOUNT:g}; default 0.3)")
    parser.add_argument("--count", type=count_argument, default=4, help="variations to write (default 4)")
    parser.add_argument("--attribute", type=attribute_argument, action="append", default=[], metavar="NAME=VALUE",
                        help="move along an attribute vector the model carries, e.g. density=+1.0 (repeatable)")
    add_decoding_arguments(parser)


def main(args: argparse.Namespace) -> int:
    """Run ``antiphon vary``; returns the exit status."""
    if not 0 <= args.amount <= MAX_AMOUNT:
        raise AntiphonError(f"--amount must be 0-{MAX_AMOUNT:g} (prior standard deviations), got {args.amount}")
    model = open_model(args.model, args.threads)
    moves = [(name, value, model.attribute(name)) for name, value in args.attribute]
    phrase = read_phrase(args.input, model)
    key = estimate_key(phrase.notes)  # a direction by tonic (major/minor) is the one of the phrase's key
    moves = [(name, value, model.attribute(name, None if key is None else key.root)) for name, value, _ in moves]
    params = decoding_params(args)
    rng, seed = rng_of(args.seed)
    mu, _ = model.encode(phrase.notes)
    centre = mu + sum((value * vector for _, value, vector in moves), np.zeros_like(mu))
    codes = [centre + args.amount * rng.standard_normal(model.latent) for _ in range(args.count)]
    variations = [model.decode(z, params, rng) for z in codes]
    written = write_phrases(args.output, [phrase.notes, *variations], model.phrase_ticks, model.codec.grid,
                            phrase.bpm, phrase.channel)
    moved = "".join(f", {name} {value:+g}" for name, value, _ in moves)
    print(f"wrote {args.output}: the phrase and {args.count} variation{'s' if args.count != 1 else ''} (amount {args.amount:g}{moved}), "
          f"{written} notes, seed {seed}")
    return 0
