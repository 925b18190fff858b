"""Decoding phrases from latent codes with the PyTorch model, many at once.

The daemon decodes one phrase at a time with onnxruntime (``daemon/models/vae.py``); training
and evaluation decode batches here with the same stopping rules: a phrase ends at the end event
(pitch class :data:`~daemon.music.phrases.END_PITCH`), when its onsets reach the phrase's
length, or after :data:`~daemon.music.phrases.MAX_PHRASE_EVENTS` events.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from daemon.music.events import NoteEventCodec
from daemon.music.notes import Note
from daemon.music.phrases import END_PITCH, MAX_PHRASE_EVENTS, tokens_to_phrase
from training.vae.data import batch_arrays
from training.vae.model import PhraseVAE


@torch.no_grad()
def decode_tokens(model: PhraseVAE, z: torch.Tensor, codec: NoteEventCodec, length: int,
                  temperature: float = 0.0, generator: torch.Generator | None = None,
                  max_events: int = MAX_PHRASE_EVENTS) -> list[np.ndarray]:
    """Decode each row of ``z (B, Z)`` into ``(N_i, 4)`` tokens (end event excluded).

    ``temperature`` 0 takes the argmax of every field; above 0 samples each field from its
    softmax at that temperature.
    """
    batch = z.shape[0]
    h, c = model.initial_state(z)
    token = torch.as_tensor(codec.bos(), dtype=torch.int64).expand(batch, -1).clone()  # (B, 4)
    onset = torch.zeros(batch, dtype=torch.int64)
    done = torch.zeros(batch, dtype=torch.bool)
    rows: list[torch.Tensor] = []
    for _ in range(max_events):
        logits, h, c = model.step(z, token, h, c)
        fields = []
        for lg in logits:
            if temperature > 0:
                probs = torch.softmax(lg / temperature, dim=-1)
                fields.append(torch.multinomial(probs, 1, generator=generator)[:, 0])
            else:
                fields.append(lg.argmax(dim=-1))
        token = torch.stack(fields, dim=1)  # (B, 4)
        onset = onset + token[:, 0]
        done = done | (token[:, 1] == END_PITCH) | (onset >= length)
        rows.append(torch.where(done.unsqueeze(1), torch.full_like(token, -1), token))
        if bool(done.all()):
            break
    out = torch.stack(rows, dim=1).numpy() if rows else np.zeros((batch, 0, 4), np.int64)  # (B, N, 4)
    return [seq[seq[:, 0] >= 0] for seq in out]


def decode_phrases(model: PhraseVAE, z: torch.Tensor, codec: NoteEventCodec, length: int,
                   temperature: float = 0.0, generator: torch.Generator | None = None) -> list[list[Note]]:
    """:func:`decode_tokens`, read back to notes (onsets from tick 0)."""
    return [tokens_to_phrase(codec, t, length) for t in decode_tokens(model, z, codec, length, temperature, generator)]


@torch.no_grad()
def encode_phrases(model: PhraseVAE, token_lists: Sequence[np.ndarray], codec: NoteEventCodec,
                   batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``mu, logvar`` ``(N, Z)`` of phrases given as tokens with their end event."""
    mus, logvars = [], []
    for i in range(0, len(token_lists), batch_size):
        enc, lengths, _, _ = batch_arrays(token_lists[i:i + batch_size], codec)
        mu, logvar = model.encode(torch.from_numpy(enc), torch.from_numpy(lengths))
        mus.append(mu.numpy())
        logvars.append(logvar.numpy())
    return np.concatenate(mus), np.concatenate(logvars)
