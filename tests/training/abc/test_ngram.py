"""The character n-gram baseline: a proper distribution that learns what it sees."""

from __future__ import annotations

import math

from training.abc.model import BOS, EOS, build_vocabulary
from training.abc.ngram import KneserNey

TEXTS = ["M:6/8\nK:D\nABc dfa|\n", "M:6/8\nK:G\nGAB dBG|\n", "M:4/4\nK:D\nABcd efga|\n"] * 5


def test_probabilities_over_the_vocabulary_sum_to_one():
    vocabulary = build_vocabulary(TEXTS)
    model = KneserNey(4, vocabulary).fit(TEXTS)
    for context in ("", BOS * 3, "M:6", "ABc", "zzz"):
        assert math.isclose(sum(model.probability(context, ch) for ch in vocabulary), 1.0, rel_tol=1e-9)
    assert vocabulary[:2] == BOS + EOS


def test_a_higher_order_predicts_seen_text_better_than_uniform_and_lower_orders():
    vocabulary = build_vocabulary(TEXTS)
    uniform = math.log2(len(vocabulary))
    bits = {}
    for order in (1, 3, 5):
        total, chars = KneserNey(order, vocabulary).fit(TEXTS).tune_bits(TEXTS[0])
        bits[order] = total / chars
    assert bits[5] < bits[3] < bits[1] < uniform
