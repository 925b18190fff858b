"""The phrase VAE's training loop behind ``antiphon train vae`` (see :mod:`training.vae.train`).

One linear story: load the phrases of the three splits -> build or restore model and
optimiser -> fixed steps of random transposed batches (the batch, transpositions and dropout
of step ``s`` are drawn from ``(seed, s)``, so a resumed run trains on what the uninterrupted
one would have) -> every ``eval_every`` steps: validate, save, log and write sample decodes.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from daemon.music.events import NoteEventCodec
from daemon.music.grid import Grid
from daemon.music.midi_files import write_midi
from daemon.music.notes import Note
from daemon.music.phrases import PHRASE_BARS, phrase_ticks
from training.data.records import TICKS_PER_BEAT
from training.vae.checkpoint import config_from_dict, read_payload, save_checkpoint
from training.vae.data import (
    FOLK_SOURCES,
    PHRASE_METERS,
    PhraseSplit,
    allowed_shift,
    batch_arrays,
    load_phrases,
    resolve_sources,
)
from training.vae.decoding import decode_phrases
from training.vae.model import PhraseVAE, VAEConfig, kl_per_dim, kl_term
from training.vae.steps import measure, reconstruction_nll

log = logging.getLogger(__name__)

FINAL_LR_FRACTION = 0.1
SAMPLE_BPM = 120.0


def learning_rate(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up to ``args.lr``, then cosine decay to a tenth of it at ``args.steps``."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    return args.lr * (FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress)))


def kl_weight(step: int, args: argparse.Namespace) -> float:
    """The KL weight at ``step``: linear from 0 to ``args.beta`` over ``args.kl_anneal`` steps."""
    if args.kl_anneal <= 0:
        return args.beta
    return args.beta * min(1.0, step / args.kl_anneal)


def hide_inputs(dec_in: np.ndarray, share: float, rng: np.random.Generator, codec: NoteEventCodec) -> np.ndarray:
    """Word dropout: each teacher-forced input event after the first replaced by BOS with probability ``share``."""
    if share <= 0:
        return dec_in
    hidden = rng.random(dec_in.shape[:2]) < share  # (B, T)
    hidden[:, 0] = False
    out = dec_in.copy()
    out[hidden] = codec.bos()
    return out


def phrase_info(codec: NoteEventCodec, sources: Sequence[str] = FOLK_SOURCES, voices: str = "melody") -> dict[str, Any]:
    """What a checkpoint records about its phrases (the export carries it into the file)."""
    return {"bars": PHRASE_BARS, "ticks": phrase_ticks(codec.grid.ticks_per_beat),
            "meters": sorted(f"{n}/{d}" for n, d in PHRASE_METERS), "sources": list(sources), "voices": voices}


def _sources(args: argparse.Namespace) -> tuple[str, ...]:
    return resolve_sources(getattr(args, "source", "folk"))


def _load_splits(args: argparse.Namespace, codec: NoteEventCodec) -> tuple[PhraseSplit, PhraseSplit]:
    sources, voices = _sources(args), getattr(args, "voices", "melody")
    train = load_phrases(args.data, "train", codec, stride_bars=1, limit_pieces=args.limit_tunes, sources=sources,
                         voices=voices)
    valid = load_phrases(args.data, "valid", codec, stride_bars=2, limit_pieces=args.limit_tunes, sources=sources,
                         voices=voices)
    log.info("train: %s", train.summary())
    log.info("valid: %s", valid.summary())
    return train, valid


def _write_samples(path: Path, phrases: list[list[Note]], length: int, grid: Grid) -> None:
    """Phrases one after another, a bar of silence between them."""
    notes, at = [], 0
    for phrase in phrases:
        notes.extend(Note(n.start + at, n.pitch, n.duration, n.velocity, 0) for n in phrase)
        at += length + grid.ticks_per_bar
    path.parent.mkdir(parents=True, exist_ok=True)
    write_midi(notes, grid, SAMPLE_BPM, path=path)


def _describe(phrase: list[Note]) -> str:
    return " ".join(f"{n.pitch}@{n.start}/{n.duration}" for n in phrase) or "(empty)"


def _append_metrics(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def train(args: argparse.Namespace, transpose: tuple[int, int], command: str) -> None:
    """Run ``antiphon train vae`` with its parsed arguments."""
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    last = args.out / "last.pt"
    payload = read_payload(last) if args.resume and last.exists() else None
    codec = NoteEventCodec(Grid(TICKS_PER_BEAT))
    length = phrase_ticks(codec.grid.ticks_per_beat)
    train_split, valid_split = _load_splits(args, codec)
    train_tokens = [p.tokens for p in train_split.phrases]
    valid_phrases = valid_split.phrases[:: max(1, len(valid_split.phrases) // args.valid_phrases)][: args.valid_phrases]
    valid_tokens = [p.tokens for p in valid_phrases]

    torch.manual_seed(args.seed)
    if payload is not None:
        config = config_from_dict(payload["model_args"])
    else:
        config = VAEConfig(vocab_sizes=tuple(codec.vocab_sizes), encoder_hidden=args.encoder_hidden,
                           latent=args.latent, decoder_hidden=args.decoder_hidden,
                           decoder_layers=args.decoder_layers, dropout=args.dropout)
    model = PhraseVAE(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    step, best = 0, math.inf
    if payload is not None:
        model.load_state_dict(payload["state_dict"])
        optimizer.load_state_dict(payload["resume"]["optimizer"])
        step, best = int(payload["resume"]["step"]), float(payload["resume"]["best_elbo"])
        log.info("resuming from %s at step %d", last, step)
    log.info("model: %d parameters, latent %d", sum(p.numel() for p in model.parameters()), config.latent)
    training: dict[str, Any] = {
        "sources": list(_sources(args)), "tunes": {"train": train_split.pieces, "valid": valid_split.pieces},
        "phrases": {"train": len(train_tokens), "valid": len(valid_split.phrases)}, "steps": args.steps,
        "batch_size": args.batch_size, "lr": args.lr, "beta": args.beta, "kl_anneal": args.kl_anneal,
        "free_bits": args.free_bits, "word_dropout": args.word_dropout, "transpose": list(transpose), "seed": args.seed, "command": command,
        "voices": getattr(args, "voices", "melody")}
    metrics_path = args.out / "metrics.csv"
    started, first_step = time.monotonic(), step
    recent: list[tuple[float, float]] = []
    while step < args.steps:
        model.train()
        rng = np.random.default_rng([args.seed, step])
        torch.manual_seed(args.seed * 1_000_003 + step)
        picks = rng.integers(0, len(train_tokens), size=args.batch_size)
        chosen = [train_tokens[i] for i in picks]
        shifts = [int(rng.integers(*allowed_shift(t, transpose), endpoint=True)) for t in chosen]
        enc, lengths, dec_in, targets = batch_arrays(chosen, codec, shifts)
        dec_in = hide_inputs(dec_in, args.word_dropout, rng, codec)
        enc, lengths, dec_in, targets = (torch.from_numpy(a) for a in (enc, lengths, dec_in, targets))
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args)
        logits, mu, logvar = model(enc, lengths, dec_in)
        nll = reconstruction_nll(logits, targets).mean()
        loss = nll + kl_weight(step, args) * kl_term(mu, logvar, args.free_bits)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        step += 1
        recent.append((float(nll.detach()), float(kl_per_dim(mu.detach(), logvar.detach()).sum(dim=1).mean())))
        if step % args.log_every == 0:
            per_step = (time.monotonic() - started) / max(1, step - first_step)
            nll_mean, kl_mean = (float(np.mean(v)) for v in zip(*recent))
            recent.clear()
            log.info("step %d/%d  nll %.2f  kl %.2f nats/phrase  beta %.2f  lr %.2e  %.3f s/step  eta %.1f min",
                     step, args.steps, nll_mean, kl_mean, kl_weight(step, args), learning_rate(step, args),
                     per_step, per_step * (args.steps - step) / 60)
        if step % args.eval_every == 0 or step == args.steps:
            best = _epoch(args, model, optimizer, codec, step, best, valid_tokens, valid_phrases, length,
                          training, metrics_path)
    log.info("done: %d steps, best validation ELBO %.2f nats/phrase; checkpoints in %s", step, best, args.out)


def _epoch(args: argparse.Namespace, model: PhraseVAE, optimizer: torch.optim.Optimizer, codec: NoteEventCodec,
           step: int, best: float, valid_tokens: list[np.ndarray], valid_phrases: list[Any], length: int,
           training: dict[str, Any], metrics_path: Path) -> float:
    """Validate, save ``last.pt`` (and ``best.pt``), append to ``metrics.csv``, decode samples."""
    measured = measure(model, valid_tokens, codec)
    improved = measured.elbo < best
    best = min(best, measured.elbo)
    log.info("step %d: valid nll %.2f  kl %.2f  elbo %.2f nats/phrase, acc pitch %.3f duration %.3f shift %.3f, "
             "%d active units%s", step, measured.nll, measured.kl, measured.elbo, measured.accuracy["pitch"],
             measured.accuracy["duration"], measured.accuracy["shift"], measured.active, " (best)" if improved else "")
    metrics = {"step": step, **measured.row()}
    resume = {"optimizer": optimizer.state_dict(), "step": step, "best_elbo": best}
    save_checkpoint(args.out / "last.pt", model, codec, phrase_info(codec, _sources(args), getattr(args, "voices", "melody")), training, metrics, resume)
    if improved:
        save_checkpoint(args.out / "best.pt", model, codec, phrase_info(codec, _sources(args), getattr(args, "voices", "melody")), training, metrics)
    _append_metrics(metrics_path, metrics)
    model.eval()
    generator = torch.Generator().manual_seed(args.seed * 1000 + step)
    originals = [p.notes for p in valid_phrases[: args.samples]]
    mu = torch.from_numpy(measured.mus[: args.samples])
    rebuilt = decode_phrases(model, mu, codec, length)
    prior = decode_phrases(model, torch.randn(args.samples, model.config.latent, generator=generator), codec, length)
    for original, again in zip(originals, rebuilt):
        log.info("reconstruction at step %d:\n  in  %s\n  out %s", step, _describe(original), _describe(again))
    for i, phrase in enumerate(prior):
        log.info("prior sample %d at step %d: %s", i + 1, step, _describe(phrase))
    pairs = [p for pair in zip(originals, rebuilt) for p in pair]
    _write_samples(args.out / "samples" / f"step{step:06d}.mid", [*pairs, *prior], length, codec.grid)
    return best
