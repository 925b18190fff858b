"""The ``antiphon`` command.

Each subcommand lives in its own module, which exposes ``configure(parser)`` and
``main(args) -> int``. Modules under ``training`` and ``export`` are imported only when their
subcommand is asked for, and they import torch only inside ``main``; importing this module
never loads torch. A subcommand whose module is not there yet says so plainly.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence

from daemon.errors import AntiphonError, NotBuiltError

log = logging.getLogger("antiphon")

# (subcommand, module implementing it, one-line help)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("run", "daemon.app", "run the daemon on a preset (the default command)"),
    ("ports", "daemon.ports_cli", "list the MIDI ports there are"),
    ("train", "training.cli", "build training data, train and evaluate models (needs the [train] extra)"),
    ("export", "export.cli", "export a checkpoint to ONNX and check parity (needs the [train] extra)"),
    ("continue", "daemon.continue_cli", "continue a MIDI file with an LSTM preset, offline"),
    ("bars", "daemon.bars_cli", "sample bars from a GAN preset into a MIDI file, offline"),
)


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def add_commands(parser: argparse.ArgumentParser, commands: Sequence[tuple[str, str, str]], *, dest: str,
                 handler_key: str, metavar: str, only: str | None = None, required: bool = False) -> None:
    """Add one subparser per (name, module, help) row; the module's ``configure``/``main`` fill it.

    Args:
        parser: the parser the subcommands hang under.
        commands: (subcommand, module implementing it, one-line help) rows.
        dest: attribute naming the chosen subcommand.
        handler_key: attribute the chosen module's ``main`` is stored under (one per level, so a
            nested level does not overwrite its parent's).
        metavar: how the usage line names the subcommand.
        only: import just this subcommand's module (the others get their help line only).
        required: a subcommand must be given.
    """
    sub = parser.add_subparsers(dest=dest, metavar=metavar, required=required)
    for name, module_name, help_text in commands:
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if only not in (None, name):
            continue
        if _module_exists(module_name):
            module = importlib.import_module(module_name)
            module.configure(sub_parser)
            sub_parser.set_defaults(**{handler_key: module.main})
        else:
            sub_parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            sub_parser.set_defaults(**{handler_key: _not_built(sub_parser.prog)})


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, just that subcommand's module is imported."""
    parser = argparse.ArgumentParser(prog="antiphon", description="Antiphon: answers the phrase you play.")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v adds a live MIDI monitor, -vv debug logging")
    add_commands(parser, COMMANDS, dest="command", handler_key="handler", metavar="COMMAND", only=only)
    return parser


def _not_built(command: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        raise NotBuiltError(f"'{command}' is not built yet in this version")
    return handler


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


def run_module(prog: str, description: str, configure: Callable[[argparse.ArgumentParser], None],
               handler: Callable[[argparse.Namespace], int]) -> None:
    """``python -m MODULE`` for a subcommand module: its own parser, logging, and the one-line
    ``antiphon: ...`` message and exit status 2 for a known error, as ``antiphon`` gives."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog=prog, description=description)
    configure(parser)
    try:
        sys.exit(handler(parser.parse_args()))
    except AntiphonError as exc:
        print(f"antiphon: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    sys.exit(main())
