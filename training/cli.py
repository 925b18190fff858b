"""``antiphon train ...``: each sub-subcommand lives in its own module.

Modules expose ``configure(parser)`` and ``main(args) -> int`` and import torch only inside
``main``, so ``antiphon --help`` stays light.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

from daemon.errors import NotBuiltError

# (sub-subcommand, module implementing it, one-line help)
TRAIN_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("data", "training.data_cli", "parse the real corpora into cached, split training data"),
    ("lstm", "training.train_lstm", "train an LSTM phrase model"),
    ("eval", "training.evaluate", "evaluate an LSTM checkpoint on the test split against baselines"),
    ("gan", "training.train_gan", "train a WGAN-GP bar model"),
    ("gan-eval", "training.evaluate_gan", "evaluate a GAN checkpoint with the MuseGAN metrics"),
)


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="train_command", metavar="WHAT", required=True)
    for name, module_name, help_text in TRAIN_COMMANDS:
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if importlib.util.find_spec(module_name) is not None:
            module = importlib.import_module(module_name)
            module.configure(sub_parser)
            sub_parser.set_defaults(train_handler=module.main)
        else:
            sub_parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            sub_parser.set_defaults(train_handler=_not_built(name))


def _not_built(name: str):  # type: ignore[no-untyped-def]
    def handler(args: argparse.Namespace) -> int:
        raise NotBuiltError(f"'antiphon train {name}' is not built yet in this version")
    return handler


def main(args: argparse.Namespace) -> int:
    return int(args.train_handler(args) or 0)
