"""``antiphon train ...``: each sub-subcommand lives in its own module.

Modules expose ``configure(parser)`` and ``main(args) -> int`` and import torch only inside
``main``, so ``antiphon --help`` stays light.
"""

from __future__ import annotations

import argparse

from daemon.commands import add_commands

# (sub-subcommand, module implementing it, one-line help)
TRAIN_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("data", "training.data.cli", "parse the real corpora into cached, split training data"),
    ("lstm", "training.lstm.train", "train an LSTM phrase model"),
    ("eval", "training.lstm.evaluate", "evaluate an LSTM checkpoint on the test split against baselines"),
    ("memory-eval", "training.lstm.memory_eval",
     "measure the session memory: each piece's second half with and without its first half remembered"),
    ("gan", "training.gan.train", "train a WGAN-GP bar model"),
    ("gan-eval", "training.gan.evaluate", "evaluate a GAN checkpoint with the MuseGAN metrics"),
    ("abc", "training.abc.train", "train the ABC character LSTM on the folk collections' text"),
    ("abc-eval", "training.abc.evaluate", "evaluate an ABC LSTM: bits per character and note, generated tunes"),
    ("abc-memory-eval", "training.abc.memory_eval",
     "measure the ABC model's session memory: each tune's second half with and without its first half remembered"),
    ("vae", "training.vae.train", "train the phrase VAE on 2-bar phrases of the folk tunes (or the chorales' soprano)"),
    ("vae-memory-eval", "training.vae.memory_eval",
     "measure the VAE's session memory: each tune's next phrase under the code its answer would come from"),
    ("vae-eval", "training.vae.evaluate", "evaluate a phrase VAE: reconstruction, KL, active units, samples, morphs"),
    ("gan-chains", "training.gan.chains", "play long chains of an exported GAN file and measure them window by window"),
    ("style-classifier", "training.restyle.classifier", "train the style classifier that judges restyled bars"),
    ("restyle", "training.restyle.train", "train the restyle CycleGAN between two style families of groove bars"),
    ("restyle-eval", "training.restyle.evaluate", "evaluate a restyle checkpoint on the test bars of both styles"),
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_commands(parser, TRAIN_COMMANDS, dest="train_command", handler_key="train_handler", metavar="WHAT",
                 required=True)


def main(args: argparse.Namespace) -> int:
    return int(args.train_handler(args) or 0)
