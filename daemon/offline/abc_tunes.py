"""ABC tunes offline: the model file, the prompt of a tune to continue, and writing the results.

Shared by ``antiphon compose --abc`` (:mod:`daemon.offline.compose`) and ``antiphon continue
tune.abc`` (:mod:`daemon.offline.abc_continue`). Output by suffix: ``.abc`` holds every tune
(numbered ``X:``), ``.mid`` one MIDI file per tune through the project's notes
(:meth:`daemon.music.abc.ParsedTune.to_piece`), ``--wav`` a FluidSynth preview of each.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from daemon.errors import AntiphonError
from daemon.models.abc import AbcModel, GeneratedTune
from daemon.music.abc import bar_check
from daemon.music.abc_text import is_field_line
from daemon.music.midi_files import write_midi
from presets import PRESETS_DIR

log = logging.getLogger(__name__)

DEFAULT_ABC_MODEL = PRESETS_DIR / "folk-abc.onnx"
DEFAULT_BPM = 120.0
TICKS_PER_BEAT = 12
OUTPUT_SUFFIXES = (".abc", ".mid", ".midi")
_PART_END = re.compile(r":\||\|\||\|\]|::")


def check_output(path: Path) -> None:
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise AntiphonError(f"{path}: write ABC (.abc) or MIDI (.mid); the suffix says which")


def warn_unseen(model: AbcModel, header: str) -> None:
    """Log a warning for each header value the model's training tunes never used."""
    names = {"M": ("meters", "meter"), "K": ("keys", "key"), "R": ("rhythms", "rhythm"), "L": ("lengths", "unit length")}
    for line in header.splitlines():
        if len(line) > 2 and line[1] == ":" and line[0] in names:
            field, word = names[line[0]]
            if model.conventions.get(field) and not model.seen(field, line[2:]):
                known = ", ".join(list(model.conventions[field])[:12])
                log.warning("the model never saw the %s %s in its training tunes (it knows %s); "
                            "it may write it poorly", word, line, known)


def first_part(text: str, max_bars: int = 8) -> str:
    """The header and the first part of a normalised tune: up to its first repeat sign or double
    bar line, else its first ``max_bars`` bars (at most half the tune), ending on a bar line."""
    lines = text.splitlines(keepends=True)
    header = "".join(line for line in lines if is_field_line(line))
    body = "".join(line for line in lines if not is_field_line(line))
    match = _PART_END.search(body)
    if match and match.end() < len(body.rstrip()):
        cut = match.end()
    else:
        bars = [m.end() for m in re.finditer(r"\|+\]?", body)]
        if len(bars) < 2:
            return header + body
        cut = bars[min(max_bars, len(bars) // 2) - 1]
    if body[cut:cut + 1] == "\n":
        cut += 1
    return header + body[:cut]


def write_tunes(tunes: Sequence[GeneratedTune], path: Path, titles: Sequence[str], bpm: float = DEFAULT_BPM,
                wav: Path | None = None) -> list[Path]:
    """Write the tunes as ABC or MIDI (by ``path``'s suffix); returns the files written."""
    check_output(path)
    written: list[Path] = []
    try:
        if path.suffix.lower() == ".abc":
            with path.open("w", encoding="ascii") as out:
                for i, (tune, title) in enumerate(zip(tunes, titles), start=1):
                    out.write(f"X:{i}\nT:{title}\n{tune.text}\n")
            written.append(path)
        else:
            for i, tune in enumerate(tunes, start=1):
                target = path if len(tunes) == 1 else path.with_name(f"{path.stem}-{i:02d}{path.suffix}")
                piece = tune.parsed.to_piece(TICKS_PER_BEAT)
                write_midi(list(piece.notes), piece.grid, bpm, path=target)
                written.append(target)
    except OSError as exc:
        raise AntiphonError(f"cannot write {path}: {exc.strerror or exc}") from exc
    if wav is not None:
        written += _render(tunes, path, written, wav, bpm)
    return written


def _render(tunes: Sequence[GeneratedTune], path: Path, written: list[Path], wav: Path, bpm: float) -> list[Path]:
    from daemon.offline.render import render_wav

    midi_files = written
    if path.suffix.lower() == ".abc":
        midi_files = []
        for i, tune in enumerate(tunes, start=1):
            target = wav.with_name(f"{wav.stem}-{i:02d}.mid" if len(tunes) > 1 else f"{wav.stem}.mid")
            piece = tune.parsed.to_piece(TICKS_PER_BEAT)
            write_midi(list(piece.notes), piece.grid, bpm, path=target)
            midi_files.append(target)
    out = []
    for i, midi in enumerate(midi_files, start=1):
        target = wav if len(midi_files) == 1 else wav.with_name(f"{wav.stem}-{i:02d}{wav.suffix}")
        render_wav(midi, target)
        out.append(target)
    return out


def bar_report(tune: GeneratedTune) -> str:
    right, total = bar_check(tune.parsed)
    return f"{right}/{total} bars the meter's length"


def describe_failures(tune: GeneratedTune) -> str:
    if not tune.retries:
        return "parsed on the first try"
    return f"{tune.retries} tries did not parse (first: {tune.failures[0][:80]})"


