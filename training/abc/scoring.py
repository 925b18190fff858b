"""Bits a torch ABC LSTM spends on a tune's text (its characters and its end), from its start.

Imports torch: used by training and evaluation, never by the daemon.
"""

from __future__ import annotations

import math

import torch

from training.abc.model import BOS, EOS, AbcLSTM


def tune_bits(model: AbcLSTM, text: str) -> tuple[float, int]:
    """(bits of every character of ``text`` and of the end mark, number of characters predicted).

    The tune starts from zero state and the start character, as the model was trained.
    """
    index = {ch: i for i, ch in enumerate(model.config.vocabulary)}
    ids = torch.tensor([[index[ch] for ch in BOS + text + EOS]])  # (1, T+2)
    with torch.no_grad():
        logits, _ = model(ids[:, :-1])  # (1, T+1, V)
        nll = torch.nn.functional.cross_entropy(logits[0], ids[0, 1:], reduction="sum")
    return float(nll) / math.log(2), ids.shape[1] - 1
