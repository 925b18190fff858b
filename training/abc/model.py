"""The ABC character LSTM: an embedding per character, stacked LSTM layers, one softmax head.

Side-effect free: a dataclass config, the character vocabulary and an ``nn.Module``.
Checkpoints store ``asdict(config)`` (the vocabulary included), so the model and its
characters can be rebuilt from the file alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

BOS = "\x02"  # starts every tune
EOS = "\x03"  # ends every tune


@dataclass(frozen=True)
class AbcLSTMConfig:
    """Constructor arguments of :class:`AbcLSTM`.

    Attributes:
        vocabulary: the characters, index = token id; holds :data:`BOS` and :data:`EOS`.
        embed_dim: character embedding width.
        hidden_size: LSTM width.
        num_layers: stacked LSTM layers.
        dropout: dropout between layers and before the head (training only).
    """

    vocabulary: str
    embed_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 3
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if BOS not in self.vocabulary or EOS not in self.vocabulary:
            raise ValueError("the vocabulary needs the tune start and end characters")
        if len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError("the vocabulary repeats a character")


def build_vocabulary(texts: list[str]) -> str:
    """Every character of ``texts`` (sorted), after :data:`BOS` and :data:`EOS`."""
    return BOS + EOS + "".join(sorted(set("".join(texts)) - {BOS, EOS}))


class AbcLSTM(nn.Module):
    """Characters -> embedding -> LSTM -> logits of the next character.

    ``forward`` takes a batch of sequences for training; ``step`` advances one character and
    is what the ONNX step graph exports.
    """

    def __init__(self, config: AbcLSTMConfig) -> None:
        super().__init__()
        self.config = config
        vocab = len(config.vocabulary)
        self.embedding = nn.Embedding(vocab, config.embed_dim)
        self.lstm = nn.LSTM(input_size=config.embed_dim, hidden_size=config.hidden_size,
                            num_layers=config.num_layers,
                            dropout=config.dropout if config.num_layers > 1 else 0.0, batch_first=True)
        self.output_dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, vocab)

    def initial_state(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c), each ``(num_layers, batch, hidden_size)``."""
        shape = (self.config.num_layers, batch, self.config.hidden_size)
        return torch.zeros(shape), torch.zeros(shape)

    def forward(self, tokens: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """tokens ``(B, T)`` int64 -> logits ``(B, T, V)`` and the final (h, c)."""
        x = self.embedding(tokens)  # (B, T, E)
        out, state = self.lstm(x, state)  # (B, T, H)
        return self.head(self.output_dropout(out)), state

    def step(self, token: torch.Tensor, h: torch.Tensor, c: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One character ``(B,)`` and state -> logits ``(B, V)``, new h, new c."""
        out, (h, c) = self.lstm(self.embedding(token.unsqueeze(1)), (h, c))  # (B, 1, H)
        return self.head(out[:, 0]), h, c
