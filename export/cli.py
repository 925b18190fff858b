"""``antiphon export ...``: each sub-subcommand lives in its own module.

``antiphon export lstm CHECKPOINT -o model.onnx [--quantize int8]`` (:mod:`export.lstm_cli`),
``antiphon export gan CHECKPOINT -o model.onnx`` (:mod:`export.gan_cli`). Modules expose
``configure(parser)`` and ``main(args) -> int`` and import torch only inside ``main``, so
``antiphon --help`` stays light.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

from daemon.errors import NotBuiltError

# (sub-subcommand, module implementing it, one-line help)
EXPORT_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("lstm", "export.lstm_cli", "export an LSTM checkpoint to an ONNX step graph and check parity"),
    ("gan", "export.gan_cli", "export a GAN checkpoint's generator to ONNX and check parity"),
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``antiphon export``."""
    sub = parser.add_subparsers(dest="export_command", metavar="WHAT", required=True)
    for name, module_name, help_text in EXPORT_COMMANDS:
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if importlib.util.find_spec(module_name) is not None:
            module = importlib.import_module(module_name)
            module.configure(sub_parser)
            sub_parser.set_defaults(export_handler=module.main)
        else:
            sub_parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            sub_parser.set_defaults(export_handler=_not_built(name))


def _not_built(name: str):  # type: ignore[no-untyped-def]
    def handler(args: argparse.Namespace) -> int:
        raise NotBuiltError(f"'antiphon export {name}' is not built yet in this version")
    return handler


def main(args: argparse.Namespace) -> int:
    """Run ``antiphon export ...``; returns the exit status (1 when parity fails)."""
    return int(args.export_handler(args) or 0)
