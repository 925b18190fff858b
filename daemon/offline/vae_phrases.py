"""What ``antiphon morph``, ``vary`` and ``sample`` share: reading a phrase from a MIDI file,
the decoding options, and writing phrases one after another.

A file's phrase is its melody (the top line of its highest pitched channel, as ``antiphon
continue --prompt top`` takes it; drums on channel 10 are never part of it), and of that the
last two 4/4 bars (:func:`daemon.music.phrases.last_phrase`). Every expected fault -- a missing,
corrupt or empty file, drums only, a phrase of fewer than two notes -- ends with one line that
says what to do.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from daemon.errors import AntiphonError, MidiFileError
from daemon.models.vae import VaeModel, load_vae
from daemon.music.grid import DRUM_CHANNEL, Grid
from daemon.music.midi_files import read_midi, write_midi
from daemon.music.notes import Note
from daemon.music.phrases import PHRASE_BARS, check_phrase, last_phrase
from daemon.music.sampling import SamplingParams
from daemon.offline.continuation import choose_prompt
from presets import PRESETS_DIR

log = logging.getLogger(__name__)

DEFAULT_VAE_MODEL = PRESETS_DIR / "folk-vae.onnx"  # the bundled folk VAE (its encoder beside it)

PHRASE_METERS = frozenset({(4, 4), (2, 2), (2, 4)})  # the meters the bundled VAE learned from
MAX_OUTPUT_PHRASES = 64


@dataclass(frozen=True)
class FilePhrase:
    """A phrase read from a file: its notes from tick 0, and the file's tempo and channel."""

    notes: list[Note]
    bpm: float
    channel: int


def count_argument(text: str) -> int:
    """An argparse type: a whole number 1 to :data:`MAX_OUTPUT_PHRASES`."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if not 1 <= value <= MAX_OUTPUT_PHRASES:
        raise argparse.ArgumentTypeError(f"must be 1-{MAX_OUTPUT_PHRASES}, got {value}")
    return value


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    """``--temperature``, ``--top-p``, ``--seed``, ``--threads``, ``--bpm``."""
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="0 (default): the most likely event at each step; above 0: sample at this temperature")
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus mass when sampling (default 0.95)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (the same seed gives the same output)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")


def decoding_params(args: argparse.Namespace) -> SamplingParams | None:
    """None for greedy decoding, else the sampling settings (checked by :class:`SamplingParams`)."""
    if args.temperature == 0:
        return None
    if args.temperature < 0:
        raise AntiphonError(f"--temperature must be 0 (greedy) or above, got {args.temperature}")
    return SamplingParams(temperature=args.temperature, top_p=args.top_p)


def open_model(path: Path, threads: int) -> VaeModel:
    """Load a VAE decoder file (and its encoder)."""
    if threads < 1:
        raise AntiphonError("--threads must be at least 1")
    return load_vae(path, intra_op_num_threads=threads)


def read_phrase(path: Path, model: VaeModel) -> FilePhrase:
    """The last two bars of a file's melody.

    Raises:
        MidiFileError: a missing, unreadable or empty file, or one with drums only.
        RepresentationError: fewer than two notes in the phrase.
    """
    if not path.is_file():
        raise MidiFileError(f"{path} does not exist; give a MIDI file with a phrase of at least 2 notes")
    try:
        piece = read_midi(path, ticks_per_beat=model.codec.grid.ticks_per_beat)
    except MidiFileError as exc:
        raise MidiFileError(f"{path} is not a MIDI file Antiphon can read ({str(exc).rstrip(': ') or 'corrupt'}); "
                            "give a standard MIDI file (.mid) with a melody") from exc
    if not piece.notes:
        raise MidiFileError(f"{path} has no notes; give it a phrase of at least 2 notes")
    pitched = [n for n in piece.notes if n.channel != DRUM_CHANNEL]
    if not pitched:
        raise MidiFileError(f"{path} has only drum notes (channel 10); the VAE reads melodies, so give it a "
                            "melody on another channel")
    meter = (piece.grid.numerator, piece.grid.denominator)
    if meter not in PHRASE_METERS:
        log.warning("%s is in %d/%d; the VAE's phrases are two 4/4 bars (%d ticks), taken from its bar lines",
                    path, meter[0], meter[1], model.phrase_ticks)
    line, channel = choose_prompt(pitched, "top")
    start, phrase = last_phrase(line, piece.grid.ticks_per_bar, model.phrase_ticks)
    check_phrase(phrase, str(path))
    if len(phrase) < len(line):
        bar = piece.grid.ticks_per_bar
        log.info("%s: taking its last %d bars (from bar %d), %d of %d notes", path, PHRASE_BARS,
                 start // bar + 1, len(phrase), len(line))
    return FilePhrase(phrase, piece.bpm, channel)


def rng_of(seed: int | None) -> tuple[np.random.Generator, int]:
    """A generator and the seed it was made from (drawn when None)."""
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31))
    return np.random.default_rng(seed), seed


def write_phrases(path: Path, phrases: Sequence[Sequence[Note]], length: int, grid: Grid, bpm: float,
                  channel: int) -> int:
    """Write phrases back to back, each ``length`` ticks; returns the notes written."""
    notes = [Note(n.start + i * length, n.pitch, n.duration, n.velocity, channel)
             for i, phrase in enumerate(phrases) for n in phrase]
    try:
        write_midi(notes, grid, bpm, path=path)
    except OSError as exc:
        raise AntiphonError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return len(notes)
