"""The ``antiphon`` command.

Each subcommand lives in its own module, which exposes ``configure(parser)`` and
``main(args) -> int``. Modules under ``training`` and ``export`` are imported only when their
subcommand is asked for, and they import torch only inside ``main``; importing this module
never loads torch. A subcommand whose module is not there yet says so plainly.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from daemon.commands import add_commands
from daemon.errors import AntiphonError

log = logging.getLogger("antiphon")


# (subcommand, module implementing it, one-line help)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("run", "daemon.live.app", "run the daemon on a preset (the default command)"),
    ("ports", "daemon.offline.ports", "list the MIDI ports there are"),
    ("console", "daemon.console.command", "a terminal console for a running daemon (needs the [console] extra)"),
    ("train", "training.cli", "build training data, train and evaluate models (needs the [train] extra)"),
    ("export", "export.cli", "export a checkpoint to ONNX and check parity (needs the [train] extra)"),
    ("continue", "daemon.offline.continuation", "continue a MIDI file with an LSTM preset, offline"),
    ("compose", "daemon.offline.compose", "compose whole ABC tunes from a header with the ABC model, offline"),
    ("bars", "daemon.offline.bars", "sample bars from a GAN preset into a MIDI file, offline"),
    ("morph", "daemon.offline.morph", "morph between the last 2 bars of two MIDI files with a phrase VAE, offline"),
    ("vary", "daemon.offline.vary", "variations of a MIDI file's last 2 bars from a phrase VAE, offline"),
    ("sample", "daemon.offline.sample", "sample 2-bar phrases from a phrase VAE's prior, offline"),
    ("restyle", "daemon.offline.restyle", "play a 4/4 groove file bar by bar in another style, offline"),
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, just that subcommand's module is imported."""
    parser = argparse.ArgumentParser(prog="antiphon", description="Antiphon: answers the phrase you play.")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v adds a live MIDI monitor, -vv debug logging")
    add_commands(parser, COMMANDS, dest="command", handler_key="handler", metavar="COMMAND", only=only)
    return parser


def _with_command(argv: list[str]) -> tuple[list[str], str | None]:
    """Insert ``run`` where no subcommand is given (``antiphon --preset X`` runs a preset)."""
    names = {c[0] for c in COMMANDS}
    position = 0
    while position < len(argv) and (argv[position] in ("-v", "-vv", "-vvv", "--verbose")):
        position += 1
    if position < len(argv) and argv[position] in names:
        return argv, argv[position]
    if position < len(argv) and argv[position] in ("-h", "--help"):
        return argv, None
    return [*argv[:position], "run", *argv[position:]], "run"


def main(argv: Sequence[str] | None = None) -> int:
    argv, command = _with_command(list(sys.argv[1:] if argv is None else argv))
    args = build_parser(only=command).parse_args(argv)
    level = logging.DEBUG if args.verbose >= 2 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except AntiphonError as exc:
        print(f"antiphon: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
