"""A character n-gram baseline for the ABC model: interpolated Kneser-Ney, fitted on the training tunes.

Each tune is scored as the LSTM scores it: from the start character (padded to the order), every
character of the text and the end mark predicted. Pure Python; no torch.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from training.abc.model import BOS, EOS

DISCOUNT = 0.75


class KneserNey:
    """Interpolated Kneser-Ney over characters, of order ``order`` (5: four characters of context).

    The highest order uses counts, lower orders continuation counts (how many different
    characters precede an n-gram); the unigram is interpolated with the uniform distribution
    over the vocabulary, so no character has probability 0.
    """

    def __init__(self, order: int, vocabulary: str, discount: float = DISCOUNT) -> None:
        if order < 1:
            raise ValueError("order must be at least 1")
        self.order = order
        self.vocabulary = vocabulary
        self.discount = discount
        self.counts: list[Counter[tuple[str, str]]] = [Counter() for _ in range(order + 1)]
        self.context_totals: list[Counter[str]] = [Counter() for _ in range(order + 1)]
        self.context_types: list[Counter[str]] = [Counter() for _ in range(order + 1)]

    def fit(self, texts: Iterable[str]) -> KneserNey:
        n = self.order
        highest: Counter[str] = Counter()
        for text in texts:
            padded = BOS * n + text + EOS
            for i in range(n, len(padded)):
                highest[padded[i - n + 1:i + 1]] += 1  # the n-gram ending at i (context: n - 1 chars)
        grams: dict[int, Counter[str]] = {n: highest}
        for k in range(n - 1, 0, -1):
            continuation: Counter[str] = Counter()
            for gram in grams[k + 1]:
                continuation[gram[1:]] += 1  # one for each distinct character before the k-gram
            grams[k] = continuation
        for k, table in grams.items():
            for gram, count in table.items():
                context, char = gram[:-1], gram[-1]
                self.counts[k][(context, char)] = count
                self.context_totals[k][context] += count
                self.context_types[k][context] += 1
        return self

    def probability(self, context: str, char: str) -> float:
        """P(char | the last order-1 characters of context)."""
        p = 1.0 / len(self.vocabulary)
        for k in range(1, self.order + 1):
            ctx = context[len(context) - (k - 1):] if k > 1 else ""
            total = self.context_totals[k].get(ctx, 0)
            if total == 0:
                continue
            count = self.counts[k].get((ctx, char), 0)
            backoff = self.discount * self.context_types[k][ctx] / total
            p = max(count - self.discount, 0.0) / total + backoff * p
        return p

    def tune_bits(self, text: str) -> tuple[float, int]:
        """(bits of every character of ``text`` and the end mark, characters predicted)."""
        padded = BOS * self.order + text + EOS
        bits = 0.0
        for i in range(self.order, len(padded)):
            bits -= math.log2(self.probability(padded[i - self.order + 1:i], padded[i]))
        return bits, len(padded) - self.order


def fit_baseline(texts: list[str], order: int, vocabulary: str) -> KneserNey:
    return KneserNey(order, vocabulary).fit(texts)


