"""``antiphon bars -n 8 -o out.mid [--condition prev.mid]``: sample bars from a GAN, offline.

Bars are chained as the band plays them (:class:`daemon.models.gan_chain.BarChain`, under the
rules the model file carries): each is conditioned on the bar generated before it; the first on
the last bar of ``--condition`` that has a note (its drums on channel 10, its other channels
sorted into the model's pitched tracks, see :func:`daemon.music.bar_features.assign_tracks`), or
on a count-in bar of the model's own. ``--chords "C Am F G7"`` gives a model that hears chords
one chord a bar, cycled. Without ``--preset`` or ``--model`` the ``grooves`` preset plays.
With ``--bernoulli`` bars are drawn one at a time from their probabilities, plainly chained.

A conditioning file the model cannot hear -- no notes, another meter than the model's, or
only parts the model has no track for (drums for a chorale model) -- is not an error: the
command says why on one line and samples unconditioned. A missing or corrupt file, a
missing or non-GAN model, a bad preset or an unwritable output end with one line saying
what to do and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import secrets
from pathlib import Path

import numpy as np

from daemon.control.params import MAX_BPM, MIN_BPM
from daemon.errors import AntiphonError, MidiFileError
from daemon.models.gan import GanModel, open_gan
from daemon.models.gan_chain import BarChain, chain_rules_of
from daemon.music.bar_features import assign_tracks, last_bar
from daemon.music.grid import DRUM_CHANNEL
from daemon.music.harmony import Chord, chord_vector, parse_progression
from daemon.music.midi_files import read_midi, write_midi
from daemon.music.pianoroll import Bars, RollSpec, bars_to_notes, binarise
from daemon.offline.continuation import bars_argument

log = logging.getLogger(__name__)

DEFAULT_BPM = 100.0
DEFAULT_PRESET = "grooves"


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"the threshold must be between 0 and 1, got {value}")
    return value


def _bpm(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a tempo") from exc
    if not MIN_BPM <= value <= MAX_BPM:
        raise argparse.ArgumentTypeError(f"tempo must be {MIN_BPM:g}-{MAX_BPM:g} bpm, got {value}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``antiphon bars``."""
    parser.add_argument("-n", "--bars", type=bars_argument, default=8, help="bars to sample (default 8)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="MIDI file to write")
    parser.add_argument("--condition", type=Path, help="MIDI file whose last bar conditions the first new bar")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", help=f"preset name: its [accompany] model, or its [model] when that is a GAN "
                                         f"(default: {DEFAULT_PRESET})")
    source.add_argument("--model", type=Path, help="an exported GAN .onnx file")
    parser.add_argument("--seed", type=int, help="random seed; the same seed gives the same bars")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--threshold", type=_threshold, default=0.5, help="note-on probability threshold (default 0.5)")
    how.add_argument("--bernoulli", action="store_true", help="draw each step from its probability instead")
    parser.add_argument("--bpm", type=_bpm, help=f"tempo of the file (default: the condition's, else {DEFAULT_BPM:g})")
    parser.add_argument("--chords", default="",
                        help="one chord a bar, cycled, e.g. 'C Am F G7' (for a model that hears chords)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")


def _model_path(args: argparse.Namespace) -> Path:
    if args.model is not None:
        return Path(args.model)
    from daemon.control.presets import load_preset

    preset = load_preset(args.preset or DEFAULT_PRESET)
    # the preset's GAN: the one it accompanies with (a chorale preset answers with an LSTM and sings
    # GAN bars beside it), else its [model]
    return preset.accompany_model_path or preset.model_path


def read_condition(path: Path, spec: RollSpec) -> tuple[np.ndarray | None, float | None, str]:
    """The conditioning roll ``(1, T, S, P)`` (or None), the file's tempo, and what was heard.

    Raises:
        MidiFileError: the file is missing or cannot be read as MIDI.
    """
    if not path.is_file():
        raise MidiFileError(f"conditioning file {path} does not exist")
    piece = read_midi(path, ticks_per_beat=spec.grid.ticks_per_beat)
    meter = f"{piece.grid.numerator}/{piece.grid.denominator}"
    wanted = f"{spec.grid.numerator}/{spec.grid.denominator}"
    if not piece.notes:
        return None, piece.bpm, f"{path} has no notes, so there is no bar to continue: sampling unconditioned"
    if (piece.grid.numerator, piece.grid.denominator) != (spec.grid.numerator, spec.grid.denominator):
        return None, piece.bpm, (f"{path} is in {meter}; this model plays {wanted} bars: sampling unconditioned "
                                 f"(give a {wanted} file to condition on it)")
    tracks = assign_tracks(piece.notes, spec)
    roll = last_bar(tracks, spec)
    if roll is None:
        parts = "only drums" if all(n.channel == DRUM_CHANNEL for n in piece.notes) else "no part this model plays"
        names = "/".join(t.name for t in spec.tracks)
        return None, piece.bpm, f"{path} has {parts} (the model plays {names}): sampling unconditioned"
    heard = [f"{t.name} {int(roll[0, i].sum())} steps" for i, t in enumerate(spec.tracks) if roll[0, i].any()]
    bar_index = max(n.end - 1 for notes in tracks for n in notes) // spec.grid.ticks_per_bar + 1
    return roll, piece.bpm, f"conditioned on bar {bar_index} of {path} ({', '.join(heard)})"


def chained_bars(model: GanModel, n: int, condition: np.ndarray | None, rng: np.random.Generator,
                 threshold: float, progression: tuple[Chord, ...] = ()) -> Bars:
    """``n`` bars as the band plays them: on ``condition`` (``(1, T, S, P)``) or a count-in, each
    over the next chord of ``progression`` (cycled) for a model that hears chords."""
    chain = BarChain(model, chain_rules_of(model))
    chords = [chord_vector([c]) for c in progression] if model.hears_chords else []
    if condition is None:
        chain.start(rng, threshold, chords[0] if chords else None)
    else:
        chain.observe(np.asarray(condition, bool))
    made = [chain.step(rng, threshold, chords[b % len(chords)] if chords else None) for b in range(n)]
    return binarise(np.concatenate(made).astype(np.float32), model.spec, 0.5)  # onsets inferred across bar lines


def main(args: argparse.Namespace) -> int:
    """Run ``antiphon bars``; returns the exit status."""
    if args.threads < 1:
        raise AntiphonError("--threads must be at least 1")
    model = open_gan(_model_path(args), threads=args.threads)
    spec = model.spec
    condition, file_bpm, heard = (None, None, "unconditioned") if args.condition is None else \
        read_condition(args.condition, spec)
    if args.condition is not None and condition is None:
        log.warning("%s", heard)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    threshold = None if args.bernoulli else args.threshold
    progression = parse_progression(args.chords) if args.chords.strip() else ()
    if progression and not model.hears_chords:
        log.warning("this model does not hear chords: --chords is ignored")
    rng = np.random.default_rng(seed)
    if threshold is None:
        bars = model.sample_bars(args.bars, condition, rng, threshold)
    else:
        bars = chained_bars(model, args.bars, condition, rng, threshold, progression)
    tracks = bars_to_notes(bars, spec)
    notes = [n for track in tracks for n in track]
    bpm = args.bpm or file_bpm or DEFAULT_BPM
    programs = {t.channel: t.program for t in spec.tracks if not t.drums}
    try:
        write_midi(notes, spec.grid, bpm, programs=programs, path=args.output)
    except OSError as exc:
        raise AntiphonError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
    counts = ", ".join(f"{t.name} {len(ns)}" for t, ns in zip(spec.tracks, tracks))
    print(f"wrote {args.output}: {args.bars} bars ({counts} notes) at {bpm:g} bpm, "
          f"{'Bernoulli' if threshold is None else f'threshold {threshold:g}'}, seed {seed}; {heard}")
    return 0
