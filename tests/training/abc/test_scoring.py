"""Bits a torch ABC LSTM spends on a tune: the batch forward agrees with stepping it a character at a time."""

from __future__ import annotations

import itertools
import math

import pytest

torch = pytest.importorskip("torch")

TEXT = "M:6/8\nL:1/8\nK:D\ndfa afd|gbg fed|]\n"


def test_tune_bits_equal_the_bits_of_each_step_from_the_start_mark():
    from training.abc.model import BOS, EOS, AbcLSTM, AbcLSTMConfig, build_vocabulary
    from training.abc.scoring import tune_bits

    torch.manual_seed(1)
    model = AbcLSTM(AbcLSTMConfig(vocabulary=build_vocabulary([TEXT]), embed_dim=8, hidden_size=16,
                                  num_layers=2)).eval()
    index = {ch: i for i, ch in enumerate(model.config.vocabulary)}
    bits, chars = tune_bits(model, TEXT)
    assert chars == len(TEXT) + 1  # every character and the end mark
    h, c = model.initial_state()
    stepped = 0.0
    with torch.no_grad():
        sequence = BOS + TEXT + EOS
        for ch, following in itertools.pairwise(sequence):
            logits, h, c = model.step(torch.tensor([index[ch]]), h, c)
            stepped -= float(torch.log_softmax(logits[0], -1)[index[following]]) / math.log(2)
    assert bits == pytest.approx(stepped, rel=1e-5)
    assert bits / chars < math.log2(len(model.config.vocabulary)) + 1
