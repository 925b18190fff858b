"""``antiphon export ...``: each sub-subcommand lives in its own module.

``antiphon export lstm CHECKPOINT -o model.onnx [--quantize int8]`` (:mod:`export.lstm_cli`),
``antiphon export gan CHECKPOINT -o model.onnx`` (:mod:`export.gan_cli`),
``antiphon export vae CHECKPOINT -o model.onnx`` (:mod:`export.vae_cli`),
``antiphon export restyle CHECKPOINT -o model.onnx`` (:mod:`export.restyle_cli`). Modules expose
``configure(parser)`` and ``main(args) -> int`` and import torch only inside ``main``, so
``antiphon --help`` stays light.
"""

from __future__ import annotations

import argparse

from daemon.commands import add_commands

# (sub-subcommand, module implementing it, one-line help)
EXPORT_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("lstm", "export.lstm_cli", "export an LSTM checkpoint to an ONNX step graph and check parity"),
    ("abc", "export.abc_cli", "export an ABC character LSTM checkpoint to an ONNX step graph and check parity"),
    ("gan", "export.gan_cli", "export a GAN checkpoint's generator to ONNX and check parity"),
    ("vae", "export.vae_cli", "export a phrase VAE checkpoint to ONNX (encoder + decoder step) and check parity"),
    ("restyle", "export.restyle_cli", "export a restyle checkpoint (both directions) to ONNX and check parity"),
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``antiphon export``."""
    add_commands(parser, EXPORT_COMMANDS, dest="export_command", handler_key="export_handler", metavar="WHAT",
                 required=True)


def main(args: argparse.Namespace) -> int:
    """Run ``antiphon export ...``; returns the exit status (1 when parity fails)."""
    return int(args.export_handler(args) or 0)
