"""The LSTM phrase model: one embedding per token field, an LSTM, one softmax head per field.

Side-effect free: a dataclass config and an ``nn.Module``. The same module serves every
token representation (``note-events`` has four fields, ``chord`` two); the config carries the
vocabulary size of each field. Checkpoints store ``asdict(config)`` so the model can be rebuilt
from the file alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LSTMConfig:
    """Constructor arguments of :class:`EventLSTM`.

    Attributes:
        vocab_sizes: classes per token field, in the representation's field order.
        embed_dims: embedding width per field (the input to the LSTM is their concatenation).
        hidden_size: LSTM width.
        num_layers: stacked LSTM layers.
        dropout: dropout on embeddings, between layers and before the heads (training only).
    """

    vocab_sizes: tuple[int, ...]
    embed_dims: tuple[int, ...]
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if len(self.vocab_sizes) != len(self.embed_dims):
            raise ValueError("vocab_sizes and embed_dims need one entry per field")


class EventLSTM(nn.Module):
    """Embeddings per field -> LSTM -> a linear head per field.

    ``forward`` takes a whole batch of sequences for training; ``step`` advances one event
    and is what the ONNX step graph exports.
    """

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = nn.ModuleList(nn.Embedding(v, d) for v, d in zip(config.vocab_sizes, config.embed_dims))
        self.input_dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(
            input_size=sum(config.embed_dims),
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.output_dropout = nn.Dropout(config.dropout)
        self.heads = nn.ModuleList(nn.Linear(config.hidden_size, v) for v in config.vocab_sizes)

    def initial_state(self, batch: int = 1, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c), each ``(num_layers, batch, hidden_size)``."""
        shape = (self.config.num_layers, batch, self.config.hidden_size)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        # tokens: (B, T, F) int64 -> (B, T, sum(embed_dims))
        return torch.cat([emb(tokens[..., i]) for i, emb in enumerate(self.embeddings)], dim=-1)

    def forward(
        self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[list[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """tokens ``(B, T, F)`` -> logits per field ``[(B, T, V_f)]`` and the final (h, c)."""
        x = self.input_dropout(self._embed(tokens))  # (B, T, E)
        out, state = self.lstm(x, state)  # (B, T, H)
        out = self.output_dropout(out)
        return [head(out) for head in self.heads], state

    def step(
        self, token: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """One event ``(B, F)`` and state -> logits per field ``[(B, V_f)]``, new h, new c."""
        x = self._embed(token.unsqueeze(1))  # (B, 1, E)
        out, (h, c) = self.lstm(x, (h, c))
        last = out[:, 0]  # (B, H)
        return [head(last) for head in self.heads], h, c
