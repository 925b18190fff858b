"""``antiphon compose --abc -n 10 --meter 6/8 --key Dmix --rhythm jig -o tunes.abc``: whole tunes, offline.

The ABC model (``presets/folk-abc.onnx`` unless ``--model``) is given a header in its normal
form (``R:``, ``M:``, ``L:``, ``K:``; :func:`daemon.music.abc_text.header_text`) and writes each
tune's body until it ends the tune. A tune that does not parse is sampled again (``--retries``
more tries); tune ``i`` uses seed ``SEED + i``. Output by suffix: ``.abc`` (every tune), ``.mid``
(one file per tune: ``tunes-01.mid``...), ``--wav`` a FluidSynth preview.
"""

from __future__ import annotations

import argparse
import logging
import secrets
from pathlib import Path

from daemon.errors import AntiphonError

log = logging.getLogger(__name__)
MAX_TUNES = 1000


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of tunes") from exc
    if not 1 <= value <= MAX_TUNES:
        raise argparse.ArgumentTypeError(f"-n must be 1-{MAX_TUNES}, got {value}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--abc", action="store_true", help="compose ABC tunes with the ABC model (the only kind built)")
    parser.add_argument("-n", "--tunes", type=_count, default=1, help="tunes to write (default 1)")
    parser.add_argument("--meter", default="6/8", help="M: of every tune, e.g. 6/8, 4/4, C, 3/4 (default 6/8)")
    parser.add_argument("--key", default="D", help="K: of every tune, e.g. D, Em, Ador, Dmix (default D)")
    parser.add_argument("--rhythm", default="", help="R: of every tune, e.g. jig, reel, hornpipe (default none)")
    parser.add_argument("--length", default="", help="L: unit note length, e.g. 1/8 (default: ABC's for the meter)")
    parser.add_argument("-o", "--output", type=Path, required=True, help=".abc or .mid file to write")
    parser.add_argument("--model", type=Path, help="an exported ABC .onnx file (default presets/folk-abc.onnx)")
    parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (default 0.8)")
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass (default 0.95)")
    parser.add_argument("--seed", type=int, help="seed of the first tune; tune i uses SEED + i")
    parser.add_argument("--retries", type=int, default=10, help="further tries for a tune that does not parse")
    parser.add_argument("--bpm", type=float, default=120.0, help="tempo of .mid output, quarter notes per minute")
    parser.add_argument("--wav", type=Path, help="also render a WAV preview of each tune with FluidSynth")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")


def main(args: argparse.Namespace) -> int:
    from daemon.models.abc import AbcSampling, load_abc
    from daemon.music.abc_text import header_text
    from daemon.offline.abc_tunes import (
        DEFAULT_ABC_MODEL,
        bar_report,
        check_output,
        describe_failures,
        warn_unseen,
        write_tunes,
    )

    if not args.abc:
        raise AntiphonError("compose writes ABC tunes: add --abc (no other kind of composing is built)")
    check_output(args.output)
    if args.threads < 1:
        raise AntiphonError("--threads must be at least 1")
    header = header_text(args.meter, args.key, args.rhythm, args.length)
    model = load_abc(args.model or DEFAULT_ABC_MODEL, intra_op_num_threads=args.threads)
    model.check_text(header)
    warn_unseen(model, header)
    sampling = AbcSampling(temperature=args.temperature, top_p=args.top_p, retries=args.retries)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    tunes, titles = [], []
    for i in range(args.tunes):
        tune = model.generate(header, sampling, seed=seed + i)
        tunes.append(tune)
        titles.append(f"Antiphon folk-abc, seed {seed + i}")
        print(f"tune {i + 1}: {len(tune.parsed.notes)} notes, {bar_report(tune)}, {describe_failures(tune)}")
    written = write_tunes(tunes, args.output, titles, bpm=args.bpm, wav=args.wav)
    retries = sum(t.retries for t in tunes)
    print(f"wrote {', '.join(str(p) for p in written)}: {len(tunes)} tunes, seeds {seed}-{seed + args.tunes - 1}, "
          f"{retries} tries thrown away")
    return 0
