"""The phrase VAE: a bidirectional GRU encoder to (mu, logvar), an autoregressive LSTM decoder.

Side-effect free: a dataclass config and ``nn.Module``s. Tokens are ``note-events/1`` events
(four fields); each field has its own embedding, and the decoder has one softmax head per field
(as the note LSTM, :mod:`training.lstm.model`).

* Encoder: embeddings -> bidirectional GRU over the phrase's events -> the last forward and
  first backward states, concatenated -> linear layers to ``mu`` and ``logvar`` (``latent`` each).
* Decoder: ``z`` sets the LSTM's initial state (``tanh(Linear(z))``, every layer) and is
  concatenated to every step's input embedding; the first input is the BOS event, and the
  phrase ends with the end event (:func:`daemon.music.phrases.end_event`).

:meth:`PhraseVAE.step` is what the ONNX decoder step graph exports; :meth:`PhraseVAE.encode_one`
what the encoder graph exports (one phrase, no padding).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


@dataclass(frozen=True)
class VAEConfig:
    """Constructor arguments of :class:`PhraseVAE`.

    Attributes:
        vocab_sizes: classes per token field (shift, pitch, duration, velocity).
        embed_dims: embedding width per field.
        encoder_hidden: GRU width per direction.
        latent: size of ``z``.
        decoder_hidden: LSTM width.
        decoder_layers: stacked LSTM layers.
        dropout: dropout on the decoder's input embeddings and before its heads (training only).
    """

    vocab_sizes: tuple[int, ...]
    embed_dims: tuple[int, ...] = (16, 48, 24, 8)
    encoder_hidden: int = 256
    latent: int = 64
    decoder_hidden: int = 256
    decoder_layers: int = 1
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if len(self.vocab_sizes) != len(self.embed_dims):
            raise ValueError("vocab_sizes and embed_dims need one entry per field")


class FieldEmbedding(nn.Module):
    """One embedding per token field, concatenated: ``(B, T, F)`` -> ``(B, T, sum(dims))``."""

    def __init__(self, vocab_sizes: tuple[int, ...], dims: tuple[int, ...]) -> None:
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(v, d) for v, d in zip(vocab_sizes, dims))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.cat([emb(tokens[..., i]) for i, emb in enumerate(self.tables)], dim=-1)


class PhraseVAE(nn.Module):
    """Encoder, reparameterisation and decoder of 2-bar phrases."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        width = sum(config.embed_dims)
        self.enc_embed = FieldEmbedding(config.vocab_sizes, config.embed_dims)
        self.encoder = nn.GRU(width, config.encoder_hidden, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * config.encoder_hidden, config.latent)
        self.to_logvar = nn.Linear(2 * config.encoder_hidden, config.latent)
        self.dec_embed = FieldEmbedding(config.vocab_sizes, config.embed_dims)
        self.to_state = nn.Linear(config.latent, 2 * config.decoder_layers * config.decoder_hidden)
        self.decoder = nn.LSTM(width + config.latent, config.decoder_hidden, num_layers=config.decoder_layers,
                               batch_first=True, dropout=config.dropout if config.decoder_layers > 1 else 0.0)
        self.dropout = nn.Dropout(config.dropout)
        self.heads = nn.ModuleList(nn.Linear(config.decoder_hidden, v) for v in config.vocab_sizes)

    # ---- encoder ---------------------------------------------------------------------------

    def _moments(self, last: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # last: (2, B, H) -> (B, 2H) -> mu, logvar (B, Z)
        summary = torch.cat([last[0], last[1]], dim=-1)
        return self.to_mu(summary), self.to_logvar(summary)

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded phrases ``(B, T, F)`` with ``lengths (B,)`` -> ``mu, logvar`` each ``(B, Z)``."""
        x = self.enc_embed(tokens)  # (B, T, E)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.encoder(packed)  # (2, B, H)
        return self._moments(last)

    def encode_one(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unpadded phrases of one length ``(B, T, F)`` -> ``mu, logvar``; the encoder graph."""
        _, last = self.encoder(self.enc_embed(tokens))
        return self._moments(last)

    # ---- decoder ---------------------------------------------------------------------------

    def initial_state(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z (B, Z)`` -> the decoder's first ``(h, c)``, each ``(L, B, H)``."""
        layers, hidden = self.config.decoder_layers, self.config.decoder_hidden
        state = torch.tanh(self.to_state(z)).view(z.shape[0], 2, layers, hidden)  # (B, 2, L, H)
        state = state.permute(1, 2, 0, 3).contiguous()  # (2, L, B, H)
        return state[0], state[1]

    def decode(self, z: torch.Tensor, inputs: torch.Tensor) -> list[torch.Tensor]:
        """Teacher-forced decoding: ``z (B, Z)``, inputs ``(B, T, F)`` -> logits per field ``(B, T, V_f)``."""
        x = self.dropout(self.dec_embed(inputs))  # (B, T, E)
        x = torch.cat([x, z.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)  # (B, T, E + Z)
        out, _ = self.decoder(x, self.initial_state(z))  # (B, T, H)
        out = self.dropout(out)
        return [head(out) for head in self.heads]

    def step(self, z: torch.Tensor, token: torch.Tensor, h: torch.Tensor,
             c: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """One event ``(B, F)`` with ``z (B, Z)`` and state -> logits per field ``[(B, V_f)]``, h, c."""
        x = torch.cat([self.dec_embed(token.unsqueeze(1)), z.unsqueeze(1)], dim=-1)  # (B, 1, E + Z)
        out, (h, c) = self.decoder(x, (h, c))
        return [head(out[:, 0]) for head in self.heads], h, c

    def forward(self, enc: torch.Tensor, lengths: torch.Tensor,
                dec_in: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Encode, draw ``z`` (the mean in eval mode), decode teacher-forced: logits, mu, logvar."""
        mu, logvar = self.encode(enc, lengths)
        z = reparameterise(mu, logvar) if self.training else mu
        return self.decode(z, dec_in), mu, logvar


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``z = mu + sigma * eps``, eps ~ N(0, I)."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) in nats for each phrase and latent dimension, ``(B, Z)``."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def kl_term(mu: torch.Tensor, logvar: torch.Tensor, free_nats: float) -> torch.Tensor:
    """The KL the loss pays per phrase: each dimension's batch mean, at least ``free_nats``
    (free bits: dimensions below the floor are not pushed further toward the prior)."""
    per_dim = kl_per_dim(mu, logvar).mean(dim=0)  # (Z,)
    return torch.clamp(per_dim, min=free_nats).sum()
