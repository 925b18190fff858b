"""The phrase VAE's loss and its validation figures, shared by training and evaluation.

Loss per phrase = reconstruction NLL (the sum over the phrase's events and fields of the
cross-entropy, nats; ignored targets: see :func:`training.vae.data.batch_arrays`)
+ ``beta`` x KL with free bits (:func:`training.vae.model.kl_term`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from daemon.music.events import NoteEventCodec
from training.lstm.data import PAD
from training.vae.data import batch_arrays
from training.vae.model import PhraseVAE, kl_per_dim

ACTIVE_UNIT_THRESHOLD = 0.01  # Cov_x(E_q[z_d]) above this counts the dimension as used (Burda et al. 2016)


def reconstruction_nll(logits: list[torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """``(B,)`` summed cross-entropy (nats) of each phrase's targets over every field."""
    total = torch.zeros(targets.shape[0])
    for f, lg in enumerate(logits):
        ce = F.cross_entropy(lg.transpose(1, 2), targets[..., f], ignore_index=PAD, reduction="none")  # (B, T)
        total = total + ce.sum(dim=1)
    return total


def active_units(mus: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> tuple[int, np.ndarray]:
    """Dimensions whose posterior mean varies across phrases: (count, per-dimension variance)."""
    variance = mus.var(axis=0)
    return int((variance > threshold).sum()), variance


@dataclass
class Measured:
    """Validation or test figures over a set of phrases (means per phrase unless named)."""

    phrases: int
    nll: float  # nats per phrase, teacher-forced from mu
    kl: float  # nats per phrase
    elbo: float  # nll + kl (an upper bound on the NLL when z is drawn; reported with z = mu)
    accuracy: dict[str, float]  # teacher-forced argmax accuracy per field, over the targets
    active: int
    kl_per_phrase: np.ndarray  # (N,)
    mus: np.ndarray  # (N, Z)

    def row(self) -> dict[str, float]:
        return {"valid_nll": self.nll, "valid_kl": self.kl, "valid_elbo": self.elbo, "active_units": self.active,
                **{f"valid_acc_{k}": v for k, v in self.accuracy.items()}}


@torch.no_grad()
def measure(model: PhraseVAE, token_lists: Sequence[np.ndarray], codec: NoteEventCodec,
            batch_size: int = 256) -> Measured:
    """Teacher-forced reconstruction from ``mu``, KL and active units of ``token_lists``."""
    was_training = model.training
    model.eval()
    nll, kls, mus = [], [], []
    correct = np.zeros(len(codec.FIELDS))
    counted = np.zeros(len(codec.FIELDS))
    for i in range(0, len(token_lists), batch_size):
        enc, lengths, dec_in, targets = (torch.from_numpy(a) for a in batch_arrays(token_lists[i:i + batch_size], codec))
        logits, mu, logvar = model(enc, lengths, dec_in)
        nll.append(reconstruction_nll(logits, targets).numpy())
        kls.append(kl_per_dim(mu, logvar).sum(dim=1).numpy())
        mus.append(mu.numpy())
        for f, lg in enumerate(logits):
            keep = targets[..., f] != PAD
            correct[f] += float((lg.argmax(-1) == targets[..., f])[keep].sum())
            counted[f] += float(keep.sum())
    model.train(was_training)
    all_nll, all_kl, all_mu = np.concatenate(nll), np.concatenate(kls), np.concatenate(mus)
    active, _ = active_units(all_mu)
    accuracy = {name: float(correct[f] / max(1.0, counted[f])) for f, name in enumerate(codec.FIELDS)}
    return Measured(len(all_nll), float(all_nll.mean()), float(all_kl.mean()), float((all_nll + all_kl).mean()),
                    accuracy, active, all_kl, all_mu)
