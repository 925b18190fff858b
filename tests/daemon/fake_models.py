"""A fake note-events step model for unit tests of the sampling logic (never evidence that a model works)."""

from __future__ import annotations

import numpy as np

from daemon.music.events import NoteEventCodec


class FakeModel:
    """A note-events step model that records what it is fed and always wants the same note."""

    def __init__(self, shift: int = 6, pitch: int = 62, duration: int = 6, velocity: int = 90) -> None:
        self.codec = NoteEventCodec()
        self.fed: list[list[int]] = []
        self.want = (shift, pitch, duration, velocity)

    def initial_state(self) -> int:
        return 0

    def step(self, token: np.ndarray, state: int) -> tuple[list[np.ndarray], int]:
        self.fed.append([int(x) for x in token])
        logits = [np.zeros(v, np.float32) for v in self.codec.vocab_sizes]
        for field, value in enumerate(self.want):
            logits[field][value] = 40.0
        return logits, state + 1
