"""The style classifier's verdicts on bars, in batches, without gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

BATCH = 512


def probabilities(net: Any, bars: np.ndarray) -> np.ndarray:
    """``(N, n_styles)`` softmax of the classifier over bool or 0/1 bars ``(N, T, S, P)``."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(bars), BATCH):
            chunk = torch.from_numpy(np.asarray(bars[i:i + BATCH], np.float32))
            out.append(torch.softmax(net(chunk), dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def judge(net: Any, bars: np.ndarray) -> np.ndarray:
    """``(N,)`` the index of the family each bar is judged to be."""
    return probabilities(net, bars).argmax(axis=1)
