"""How ``antiphon`` subcommands are wired: one module each, imported only when asked for.

Each subcommand module exposes ``configure(parser)`` and ``main(args) -> int``. Modules under
``training`` and ``export`` import torch only inside ``main``. Nothing here imports a subcommand
module until its subcommand is asked for.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence

from daemon.errors import AntiphonError, NotBuiltError


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


def _not_built(command: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        raise NotBuiltError(f"'{command}' is not built yet in this version")
    return handler


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
