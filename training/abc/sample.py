"""Sampling whole tunes from a torch ABC LSTM (the per-epoch samples while training).

The daemon samples from the exported ONNX file instead (:mod:`daemon.models.abc`).
"""

from __future__ import annotations

import torch

from training.abc.model import BOS, EOS, AbcLSTM

MAX_TUNE_CHARS = 1500


def sample_tune(model: AbcLSTM, prompt: str, temperature: float = 0.8, generator: torch.Generator | None = None,
                max_chars: int = MAX_TUNE_CHARS) -> str:
    """``prompt`` and its continuation up to the end mark (or ``max_chars``), without the marks."""
    index = {ch: i for i, ch in enumerate(model.config.vocabulary)}
    h, c = model.initial_state()
    out = prompt
    with torch.no_grad():
        for ch in BOS + prompt:
            logits, h, c = model.step(torch.tensor([index[ch]]), h, c)
        for _ in range(max_chars):
            probs = torch.softmax(logits[0] / max(temperature, 1e-3), dim=-1)
            token = int(torch.multinomial(probs, 1, generator=generator))
            ch = model.config.vocabulary[token]
            if ch == EOS:
                break
            if ch != BOS:
                out += ch
            logits, h, c = model.step(torch.tensor([token]), h, c)
    return out
