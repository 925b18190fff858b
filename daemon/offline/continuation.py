"""``antiphon continue in.mid -o out.mid``: continue a MIDI file with an LSTM, offline.

An ``.abc`` input is continued by the ABC model instead (:mod:`daemon.offline.abc_continue`).

Reads the file on the model's grid, picks the prompt (drums on channel 10 are never part of
it), samples ``--bars`` bars, and writes prompt + continuation (on the prompt's channel, at
the file's tempo and meter), optionally with a WAV preview through FluidSynth.

Which notes are the prompt (``--prompt``, else the preset's ``[midi] prompt``):
    ``top``  the pitched channel with the highest mean pitch, reduced to its top line
             (melodic models);
    ``all``  every pitched note (polyphonic and chord models);
    ``auto`` from the model's ``antiphon.training`` metadata: ``top`` when it was trained on
             ``"voices": "melody"`` (or says ``"polyphonic": false``), ``all`` for
             ``"voices": "all"``, for chord models, and when the metadata does not say.

Every expected fault (no notes, only drums, a missing or non-ONNX model, a bad preset,
an unwritable output) ends with one line saying what to do and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import secrets
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from daemon.control.params import AUTO_KEY, key_name
from daemon.control.presets import DEFAULT_PRESET
from daemon.errors import AntiphonError, MidiFileError
from daemon.models.continuator import prompt_mode
from daemon.music.grid import DRUM_CHANNEL
from daemon.music.midi_files import read_midi, write_midi
from daemon.music.notes import Note

log = logging.getLogger(__name__)

MAX_BARS = 256


def bars_argument(text: str) -> int:
    """An argparse type: a whole number of bars, 1 to :data:`MAX_BARS`."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of bars") from exc
    if not 1 <= value <= MAX_BARS:
        raise argparse.ArgumentTypeError(f"bars must be 1-{MAX_BARS}, got {value}")
    return value


def _channel(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a MIDI channel 1-16") from exc
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError(f"MIDI channels are 1-16, got {value}")
    return value - 1


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``antiphon continue``."""
    parser.add_argument("input", type=Path, help="MIDI file whose phrase is continued")
    parser.add_argument("-o", "--output", type=Path, required=True, help="MIDI file to write (prompt + continuation)")
    parser.add_argument("--bars", type=bars_argument, default=4, help="bars of continuation after the prompt (default 4)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", help=f"preset name: model + sampling settings (default: {DEFAULT_PRESET})")
    source.add_argument("--model", type=Path, help="an exported .onnx model file (default sampling settings)")
    parser.add_argument("--temperature", type=float, help="sampling temperature (> 0; preset's by default)")
    parser.add_argument("--top-k", type=int, help="keep the k most likely classes per field (0 = all)")
    parser.add_argument("--top-p", type=float, help="nucleus sampling mass (0 < p <= 1)")
    parser.add_argument("--key", help="key root for the scale mask, e.g. D or F#; auto = the prompt's key")
    parser.add_argument("--scale", help="scale for the mask: major, minor, dorian, ... (needs --key)")
    parser.add_argument("--seed", type=int, help="random seed; the same seed gives the same continuation")
    parser.add_argument("--prompt", choices=("auto", "top", "all"), help="which notes the model hears (see help)")
    parser.add_argument("--channel", type=_channel, help="MIDI channel 1-16 of the continuation "
                        "(default: the prompt's)")
    parser.add_argument("--wav", type=Path, help="also render a WAV preview with FluidSynth")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    parser.add_argument("--tune", type=int, help="for an .abc file with several tunes: which one (1 = the first)")


def _sampling_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from daemon.music.scales import parse_key_root, parse_scale

    out: dict[str, Any] = {}
    for name in ("temperature", "top_k", "top_p"):
        if getattr(args, name) is not None:
            out[name] = getattr(args, name)
    if args.key is not None and args.key.strip().lower() == AUTO_KEY:
        out["key_root"], out["follow_key"] = None, True
    elif args.key is not None:
        out["key_root"], out["follow_key"] = parse_key_root(args.key), False
    if args.scale is not None:
        out["scale"] = parse_scale(args.scale)
    return out


def top_line(notes: Sequence[Note]) -> list[Note]:
    """The highest note at each onset, each cut where the next one starts (a monophonic line)."""
    highest: dict[int, Note] = {}
    for n in notes:
        if n.start not in highest or n.pitch > highest[n.start].pitch:
            highest[n.start] = n
    line = [highest[s] for s in sorted(highest)]
    out = []
    for i, n in enumerate(line):
        if i + 1 < len(line) and n.end > line[i + 1].start:
            n = Note(n.start, n.pitch, line[i + 1].start - n.start, n.velocity, n.channel)
        out.append(n)
    return out


def choose_prompt(notes: Sequence[Note], mode: str) -> tuple[list[Note], int]:
    """The prompt notes and the channel they are on, from a file's pitched notes.

    Args:
        notes: notes without drums.
        mode: ``"top"`` or ``"all"``.
    """
    by_channel: dict[int, list[Note]] = defaultdict(list)
    for n in notes:
        by_channel[n.channel].append(n)
    top_channel = max(by_channel, key=lambda ch: (sum(n.pitch for n in by_channel[ch]) / len(by_channel[ch]), -ch))
    if mode == "top":
        return top_line(by_channel[top_channel]), top_channel
    main = max(by_channel, key=lambda ch: (len(by_channel[ch]), -ch))
    return list(notes), main




def main(args: argparse.Namespace) -> int:
    """Run ``antiphon continue``; returns the exit status."""
    from daemon.control.presets import load_preset
    from daemon.models.continuator import continue_notes
    from daemon.models.lstm import load_lstm
    from daemon.music.sampling import SamplingParams, resolve_key
    from daemon.music.scales import SCALES

    if args.input.suffix.lower() == ".abc":
        from daemon.offline.abc_continue import continue_abc

        return continue_abc(args)
    if args.preset is None and args.model is None:
        args.preset = DEFAULT_PRESET  # the bundled default, as `antiphon run` uses
    if args.preset is not None:
        preset = load_preset(args.preset)
        model_path, params, prompt_setting = preset.model_path, preset.sampling, preset.midi.prompt
    else:
        model_path, params, prompt_setting = args.model, SamplingParams(), "auto"
    params = dataclasses.replace(params, **_sampling_overrides(args))
    if args.threads < 1:
        raise AntiphonError("--threads must be at least 1")
    model = load_lstm(model_path, intra_op_num_threads=args.threads)

    piece = read_midi(args.input, ticks_per_beat=model.codec.grid.ticks_per_beat)
    if not piece.notes:
        raise MidiFileError(f"{args.input} has no notes to continue; give it a phrase of at least one note")
    pitched = [n for n in piece.notes if n.channel != DRUM_CHANNEL]
    drums = len(piece.notes) - len(pitched)
    if not pitched:
        raise MidiFileError(f"{args.input} has only drum notes (channel 10); Antiphon continues pitched "
                            "parts, so give it a melody or chords on another channel")
    if drums:
        log.warning("ignoring %d drum notes on channel 10", drums)
    if piece.tempo_changes:
        log.warning("%s changes tempo %d times; the output keeps the first tempo, %.1f bpm",
                    args.input, piece.tempo_changes, piece.bpm)
    if not piece.single_meter:
        log.warning("%s changes time signature; bars are counted in %d/%d", args.input,
                    piece.grid.numerator, piece.grid.denominator)

    mode = prompt_mode(args.prompt or prompt_setting, model)
    prompt, prompt_channel = choose_prompt(pitched, mode)
    left_out = len(pitched) - len(prompt)
    if left_out:
        log.info("the prompt is the top line of channel %d (%d notes); %d other notes left out",
                 prompt_channel + 1, len(prompt), left_out)
    outside = sum(not params.pitch_low <= n.pitch <= params.pitch_high for n in prompt)
    if outside:
        log.warning("%d prompt notes lie outside the pitch range %d-%d; the continuation stays inside it",
                    outside, params.pitch_low, params.pitch_high)
    channel = prompt_channel if args.channel is None else args.channel
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    if params.follow_key:
        params = resolve_key(params, prompt)
        if params.key_root is not None:
            log.info("answering in the prompt's key, %s %s", key_name(params.key_root),
                     "minor" if params.scale == SCALES["minor"] else "major")
    continuation = continue_notes(model, prompt, args.bars, params, seed=seed, grid=piece.grid, channel=channel)

    programs = {ch: prog for ch, prog in piece.programs.items() if ch in {n.channel for n in prompt} | {channel}}
    try:
        write_midi([*prompt, *continuation], piece.grid, piece.bpm, programs=programs, path=args.output)
    except OSError as exc:
        raise AntiphonError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
    bar = piece.grid.ticks_per_bar
    first_bar = (continuation[0].start // bar + 1) if continuation else 0
    last_bar = (max(n.end for n in continuation) - 1) // bar + 1 if continuation else 0
    print(f"wrote {args.output}: {len(prompt)} prompt notes + {len(continuation)} continuation notes"
          + (f" (bars {first_bar}-{last_bar})" if continuation else "")
          + f" on channel {channel + 1} at {piece.bpm:g} bpm, seed {seed}")
    if args.wav is not None:
        from daemon.offline.render import render_wav

        try:
            render_wav(args.output, args.wav)
        except AntiphonError as exc:
            raise AntiphonError(f"{exc} ({args.output} was written)") from exc
        print(f"wrote {args.wav}")
    return 0
