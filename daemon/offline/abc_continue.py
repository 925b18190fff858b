"""``antiphon continue tune.abc -o out.abc``: continue an ABC tune's first part with the ABC model.

The tune (the first of the file, or ``--tune N``) is read as written, so a fault is reported
with its line and column in the file; then it is put in the model's normal form
(:mod:`daemon.music.abc_text`), cut after its first part (:func:`daemon.offline.abc_tunes.first_part`)
and continued until the model ends the tune. Bars of the wrong length in the prompt are named
in a warning and the tune is continued anyway. Output by suffix (``.abc`` or ``.mid``), and
``--wav``. Temperature, top-p and seed as for MIDI input; the LSTM-only options are ignored.
"""

from __future__ import annotations

import argparse
import logging
import secrets

from daemon.errors import AntiphonError

log = logging.getLogger(__name__)
LSTM_ONLY = ("preset", "top_k", "key", "scale", "prompt", "channel")


def continue_abc(args: argparse.Namespace) -> int:
    from daemon.models.abc import AbcSampling, load_abc
    from daemon.music.abc import AbcError, bar_check, parse_tune, split_tunes
    from daemon.music.abc_text import normalise_tune
    from daemon.offline.abc_tunes import (
        DEFAULT_ABC_MODEL,
        bar_report,
        check_output,
        describe_failures,
        first_part,
        warn_unseen,
        write_tunes,
    )

    check_output(args.output)
    ignored = [f"--{name.replace('_', '-')}" for name in LSTM_ONLY if getattr(args, name, None) is not None]
    if ignored:
        log.warning("%s apply to MIDI input only; ignored for an ABC tune", ", ".join(ignored))
    try:
        raw = args.input.read_bytes()
    except OSError as exc:
        raise AntiphonError(f"cannot read {args.input}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    try:
        tunes = split_tunes(text)
    except AbcError as exc:
        raise AbcError(f"{args.input}: {exc}") from exc
    number = args.tune or 1
    if not 1 <= number <= len(tunes):
        raise AntiphonError(f"{args.input} holds {len(tunes)} tune(s); --tune must be 1-{len(tunes)}")
    if len(tunes) > 1 and args.tune is None:
        log.info("%s holds %d tunes; continuing the first (--tune N picks another)", args.input, len(tunes))
    tune_text = tunes[number - 1]
    try:
        written = parse_tune(tune_text)
    except AbcError as exc:
        raise AbcError(f"{args.input}, tune {number}: {exc}") from exc
    try:
        normal = normalise_tune(tune_text.splitlines())
    except AbcError as exc:
        raise AbcError(f"{args.input}, tune {number} cannot be written in the form the model reads ({exc}); "
                       "remove what the message names and try again") from exc
    right, total = bar_check(written)
    if right < total:
        log.warning("%s, tune %d: %d of %d bars do not fit M:%d/%d; continuing anyway", args.input, number,
                    total - right, total, *written.meter)
    prompt = first_part(normal)
    model = load_abc(args.model or DEFAULT_ABC_MODEL, intra_op_num_threads=args.threads)
    model.check_text(prompt)
    warn_unseen(model, prompt)
    sampling = AbcSampling(temperature=args.temperature if args.temperature is not None else 0.8,
                           top_p=args.top_p if args.top_p is not None else 0.95)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    tune = model.generate(prompt, sampling, seed=seed)
    title = next((line[2:].strip() for line in tune_text.splitlines() if line.startswith("T:")), "")
    title = f"{title} (continued by Antiphon, seed {seed})" if title else f"continued by Antiphon, seed {seed}"
    files = write_tunes([tune], args.output, [title], wav=args.wav)
    prompt_bars = len(parse_tune(prompt).bars) if any(c.isalpha() for c in prompt.split("K:", 1)[-1]) else 0
    print(f"wrote {', '.join(str(p) for p in files)}: tune {number}'s first {prompt_bars} bars + "
          f"{len(tune.parsed.bars) - prompt_bars} bars continued, {bar_report(tune)}, {describe_failures(tune)}, "
          f"seed {seed}")
    return 0
