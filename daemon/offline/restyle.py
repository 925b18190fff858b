"""``antiphon restyle in.mid --to latin -o out.mid``: a groove file, bar by bar, in another style.

Each 4/4 bar of the file is laid out as the restyle model's bar (drums from channel 10, the
other channels sorted into bass and chords by register,
:func:`daemon.music.bar_features.assign_tracks`), restyled by the model file
(:class:`daemon.models.restyle.RestyleModel`) and written back on the model's channels, each
track at its source bar's median velocity, at the file's own tempo and meter. A bar with no
notes stays silent. ``--to`` names a style: without ``--model`` the bundled file that makes it
(:data:`BUNDLED_RESTYLE_FILES`: rock <-> latin, rock <-> swing), with ``--model`` one of that
file's two styles; ``auto`` is the first bundled file's (or the given file's) second style.

A file in another meter, an unknown style, a missing or corrupt file or model, or an unwritable
output end with one line saying what to do and exit status 2 (no traceback).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from daemon.errors import AntiphonError, MidiFileError, ModelError
from daemon.models.restyle import (
    AUTO,
    BUNDLED_RESTYLE_FILES,
    RestyleModel,
    RestyleSet,
    bundled_restyle_paths,
    open_restyle,
    with_velocities,
)
from daemon.music.bar_features import articulate, assign_tracks
from daemon.music.midi_files import read_midi, write_midi
from daemon.music.notes import Note
from daemon.music.pianoroll import bars_to_notes, notes_to_bars
from presets import PRESETS_DIR


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``antiphon restyle``."""
    parser.add_argument("input", type=Path, help="a 4/4 MIDI file (drums on channel 10, bass and chords)")
    parser.add_argument("--to", default=AUTO, help="the style to play it in: latin, swing or rock with the bundled "
                                                   "models (default: latin); with --model, one of its two styles")
    parser.add_argument("-o", "--output", type=Path, required=True, help="MIDI file to write")
    parser.add_argument("--model", type=Path, default=None,
                        help="a restyle .onnx file (default: the bundled file that makes the --to style)")


def restyle_notes(model: RestyleModel | RestyleSet, notes: list[Note], to: str,
                  origin: int = 0) -> tuple[list[Note], int, int]:
    """The notes of a 4/4 piece restyled bar by bar; returns (notes, bars, bars with notes)."""
    spec = model.spec
    source = notes_to_bars(assign_tracks(notes, spec), spec, origin=origin)
    if not len(source):
        return [], 0, 0
    moved = with_velocities(model.restyle(articulate(source.active, source.onset, spec), to), source)
    tracks = bars_to_notes(moved, spec, origin)
    sounding = int(source.active.reshape(len(source), -1).any(axis=1).sum())
    return sorted(n for track in tracks for n in track), len(source), sounding


def bundled_models() -> RestyleSet:
    """The bundled restyle files there are, as one (:data:`BUNDLED_RESTYLE_FILES`; the first makes ``auto``).

    Raises:
        ModelError: none is there, or one is unreadable.
    """
    paths = bundled_restyle_paths(PRESETS_DIR)
    if not paths:
        raise ModelError(f"no bundled restyle model ({', '.join(BUNDLED_RESTYLE_FILES)}) under {PRESETS_DIR}; "
                         "reinstall Antiphon or give --model")
    return RestyleSet([open_restyle(path) for path in paths])


def main(args: argparse.Namespace) -> int:
    """Run ``antiphon restyle``; returns the exit status."""
    model = open_restyle(args.model) if args.model is not None else bundled_models()
    target = model.target(args.to)
    if not args.input.is_file():
        raise MidiFileError(f"{args.input} does not exist")
    spec = model.spec
    piece = read_midi(args.input, ticks_per_beat=spec.grid.ticks_per_beat)
    meters = {(n, d) for _, n, d in piece.time_signatures} or {(piece.grid.numerator, piece.grid.denominator)}
    if meters != {(spec.grid.numerator, spec.grid.denominator)}:
        found = ", ".join(f"{n}/{d}" for n, d in sorted(meters))
        raise AntiphonError(f"{args.input} is in {found}; the restyle model plays "
                            f"{spec.grid.numerator}/{spec.grid.denominator} bars only: give a file in "
                            f"{spec.grid.numerator}/{spec.grid.denominator}")
    if not piece.notes:
        raise AntiphonError(f"{args.input} has no notes to restyle")
    notes, bars, sounding = restyle_notes(model, list(piece.notes), target)
    programs = {t.channel: t.program for t in spec.tracks if not t.drums}
    try:
        write_midi(notes, spec.grid, piece.bpm, programs=programs, path=args.output)
    except OSError as exc:
        raise AntiphonError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
    counts = ", ".join(f"{t.name} {sum(1 for n in notes if n.channel == t.channel)}" for t in spec.tracks)
    print(f"wrote {args.output}: {bars} bars of {args.input.name} as {target} ({bars - sounding} silent bars kept "
          f"silent; {counts} notes) at {piece.bpm:g} bpm")
    return 0
