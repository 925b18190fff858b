"""A tiny untrained phrase VAE, saved as a checkpoint and exported (for export, runner and command tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LATENT = 8


def tiny_vae(folder: Path, attributes: bool = False, seed: int = 0) -> tuple[Path, Path]:
    """(checkpoint, decoder .onnx) of a small untrained VAE in ``folder``; ``attributes`` adds a
    ``density`` vector to the file, and a ``major`` one per tonic (tonic ``r``: 2 at index ``r % 8``)."""
    import torch

    from daemon.music.events import NoteEventCodec
    from export.vae import export_vae
    from training.vae.checkpoint import save_checkpoint
    from training.vae.model import PhraseVAE, VAEConfig

    torch.manual_seed(seed)
    codec = NoteEventCodec()
    model = PhraseVAE(VAEConfig(vocab_sizes=codec.vocab_sizes, embed_dims=(4, 8, 4, 2), encoder_hidden=16,
                                latent=LATENT, decoder_hidden=16)).eval()
    checkpoint = folder / "tiny-vae.pt"
    save_checkpoint(checkpoint, model, codec, {"bars": 2, "ticks": 96, "meters": ["4/4"]},
                    {"sources": ["oneills"], "seed": seed}, {"valid_elbo": 1.0})
    vectors = None
    if attributes:
        vectors = folder / "attributes.json"
        vector = np.zeros(LATENT)
        vector[0] = 1.0
        by_tonic = 2 * np.eye(LATENT)[[r % LATENT for r in range(12)]]
        vectors.write_text(json.dumps({"attributes": {"density": vector.tolist()},
                                       "attributes_by_tonic": {"major": by_tonic.tolist()}}), encoding="utf-8")
    decoder, _ = export_vae(checkpoint, folder / "tiny-vae.onnx", vectors)
    return checkpoint, decoder
