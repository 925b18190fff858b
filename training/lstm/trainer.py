"""The LSTM training loop behind ``antiphon train lstm`` (see :mod:`training.lstm.train`).

One linear story: load and encode the splits -> build or restore model and optimiser -> per
epoch: train on shuffled, randomly transposed windows, validate (loss per head, bits per
note), save ``last.pt`` (and ``best.pt`` when better), append to ``metrics.csv``, write a few
continuations -> stop early after ``patience`` epochs without improvement.

Loss: the sum over token fields of each field's mean cross-entropy; targets set to
:data:`~training.lstm.data.PAD` (padding, and the duration/velocity of REST and BOS events)
are ignored.

Batches: windows of similar length are grouped (:func:`~training.lstm.data.length_grouped_batches`)
and each batch is trimmed to its longest window, so short pieces cost little padding; the
order is reshuffled every epoch from ``(seed, epoch)``.

Distributed: when ``WORLD_SIZE`` > 1 (``torchrun``) each process joins a process group
(NCCL on CUDA, Gloo on CPU) and trains every ``world``-th batch of the same epoch order (a
rank-sharded batch sampler: what ``DistributedSampler`` does, with length grouping kept);
gradients are averaged by DDP; validation shards come from ``DistributedSampler`` and their
sums are all-reduced, so every process takes the same early-stopping decision; only rank 0
writes files. This path is written for several GPUs but has been run here only with one
process (this machine has no GPU).
"""

from __future__ import annotations

import csv
import logging
import math
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from daemon.music.chords import ChordCodec
from daemon.music.codecs import codec_from_dict
from daemon.music.events import NoteEventCodec
from daemon.music.midi_files import write_midi
from daemon.music.sampling import SamplingParams
from training.lstm.checkpoint import config_from_dict, read_payload, save_checkpoint
from training.lstm.config import TrainConfig
from training.lstm.continuation import (
    PromptCase,
    TorchStepModel,
    continue_case,
    split_prompt,
    write_pianoroll,
)
from training.lstm.data import (
    PAD,
    SplitData,
    TrainingDataError,
    WindowSet,
    build_codec,
    encode_split,
    encode_variants,
    length_grouped_batches,
    load_pieces,
    resolve_voices,
    ticks_per_beat_of,
    trim_batch,
)
from training.lstm.model import EventLSTM, LSTMConfig

log = logging.getLogger(__name__)

WARMUP_STEPS = 100  # optimiser steps of linear learning-rate warm-up (at most a twentieth of the run)
FINAL_LR_FRACTION = 0.1  # the cosine decay ends at this fraction of the peak learning rate
SAMPLE_PARAMS = SamplingParams(temperature=1.0, top_p=0.95)

Window = tuple[np.ndarray, np.ndarray]  # (inputs, targets), each (T, F) int64


@dataclass
class Dist:
    """Where this process stands in a (possibly one-process) distributed run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


class EpochBatches:
    """Batch sampler: length-grouped batches in a fresh order each epoch, sharded across ranks.

    Every rank draws the same order from ``(seed, epoch)`` and keeps batches ``rank``,
    ``rank + world``, ...; the tail that does not divide evenly is dropped so every rank takes
    the same number of steps (DDP needs that).
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.lengths = lengths
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world = world
        self.epoch = 0

    def _batches(self) -> list[list[int]]:
        batches = length_grouped_batches(self.lengths, self.batch_size, np.random.default_rng((self.seed, self.epoch)))
        usable = len(batches) // self.world * self.world
        return batches[self.rank:usable:self.world]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        n = -(-len(self.lengths) // self.batch_size)
        return n // self.world if self.world > 1 else n


def collate(items: list[Window]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack windows into ``(B, T, F)`` inputs and targets, trimmed to the longest window."""
    inputs, targets = trim_batch(np.stack([i for i, _ in items]), np.stack([t for _, t in items]))
    return torch.from_numpy(inputs), torch.from_numpy(targets)


@contextmanager
def distributed(device_choice: str) -> Iterator[tuple[Dist, torch.device]]:
    """Join the process group torchrun set up (if any) and pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = device_choice == "cuda" or (device_choice == "auto" and torch.cuda.is_available())
    if device_choice == "cuda" and not torch.cuda.is_available():
        raise TrainingDataError("--device cuda asked for, but torch sees no CUDA device; use --device cpu")
    if world <= 1:
        yield Dist(), torch.device("cuda" if use_cuda else "cpu")
        return
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if use_cuda else "gloo")
    try:
        yield (Dist(dist.get_rank(), dist.get_world_size(), local_rank),
               torch.device("cuda", local_rank) if use_cuda else torch.device("cpu"))
    finally:
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def lr_factor(step: int, total_steps: int) -> float:
    """Multiplier of the peak learning rate at optimiser ``step``: linear warm-up, cosine decay."""
    warmup = max(1, min(WARMUP_STEPS, total_steps // 20))
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress))


def field_losses(logits: list[torch.Tensor], targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed cross-entropy (nats) and target count per field.

    Args:
        logits: per field ``(B, T, V_f)``.
        targets: ``(B, T, F)``, :data:`PAD` where ignored.

    Returns:
        ``(sums, counts)``, each ``(F,)``.
    """
    sums = torch.stack([
        F.cross_entropy(lg.reshape(-1, lg.shape[-1]).float(), targets[..., f].reshape(-1),
                        ignore_index=PAD, reduction="sum")
        for f, lg in enumerate(logits)])
    counts = (targets != PAD).sum(dim=(0, 1)).to(sums.dtype)  # (F,)
    return sums, counts


def note_target_count(codec: NoteEventCodec | ChordCodec, targets: torch.Tensor) -> torch.Tensor:
    """Target events that are notes (REST excluded; every chord event counts)."""
    if isinstance(codec, NoteEventCodec):
        pitch = targets[..., codec.FIELDS.index("pitch")]
        return ((pitch != PAD) & (pitch < 128)).sum()
    return (targets[..., 0] != PAD).sum()


def new_model_config(config: TrainConfig, codec: NoteEventCodec | ChordCodec) -> LSTMConfig:
    """The network a new run builds: ``config``'s widths over ``codec``'s vocabularies."""
    return LSTMConfig(vocab_sizes=tuple(codec.vocab_sizes), embed_dims=config.embed_dims, hidden_size=config.hidden,
                      num_layers=config.layers, dropout=config.dropout)


def optimiser(model: torch.nn.Module, config: TrainConfig,
              total_steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW at ``config``'s peak learning rate and its schedule over ``total_steps`` (:func:`lr_factor`)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total_steps))
    return optimizer, scheduler


def batch_loader(windows: WindowSet, batches: EpochBatches) -> DataLoader[Window]:
    """The training batches of an epoch: ``batches``' windows, collated (:func:`collate`) in this process."""
    items = cast("Dataset[Window]", windows)  # WindowSet has the Dataset protocol without the base
    return DataLoader(items, batch_sampler=batches, collate_fn=collate)


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler, batch: tuple[torch.Tensor, torch.Tensor], clip: float,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One optimiser step on a batch of :func:`batch_loader`: forward, loss, backward, clip, AdamW, schedule.

    The step of the training loop, and the one ``benchmarks/training_speed.py`` times.

    Args:
        model: the network in training mode (or its DDP wrapper).
        optimizer, scheduler: from :func:`optimiser`.
        batch: ``(inputs, targets)``, each ``(B, T, F)``, on any device.
        clip: the gradient-norm clip.
        device: where the model is.

    Returns:
        ``(loss, sums, counts)``, detached and on ``device``: the loss stepped on (the sum over fields of
        each field's mean cross-entropy, nats), and per field the summed nats and the target count ``(F,)``.
    """
    inputs, targets = batch[0].to(device), batch[1].to(device)  # (B, T, F) each
    logits, _ = model(inputs)
    sums, counts = field_losses(logits, targets)
    loss = (sums / counts.clamp(min=1)).sum()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    scheduler.step()
    return loss.detach(), sums.detach(), counts.detach()


def train(config: TrainConfig) -> None:
    """Run one training as ``config`` says (see :class:`~training.lstm.config.TrainConfig`)."""
    torch.set_num_threads(max(1, config.threads))
    with distributed(config.device) as (where, device):
        _train(config, where, device)


def _train(config: TrainConfig, where: Dist, device: torch.device) -> None:
    seed_everything(config.seed + where.rank)
    out = config.out
    last_path, best_path = out / "last.pt", out / "best.pt"
    resumed: dict[str, Any] | None = None
    if config.resume:
        resumed = read_payload(last_path)
        if "resume" not in resumed:
            raise TrainingDataError(f"{last_path} holds no optimiser state to resume from; start a new run")
    elif last_path.exists():
        raise TrainingDataError(f"{out} already holds a run; pass --resume to continue it or pick another --out")

    # ---- data
    voices = resolve_voices(config.voices, config.sources)
    train_pieces, train_notes = load_pieces(config.data, config.sources, "train", voices)
    valid_pieces, valid_notes = load_pieces(config.data, config.sources, "valid", voices)
    ticks_per_beat = ticks_per_beat_of(train_pieces + valid_pieces)
    if resumed is not None:
        codec = codec_from_dict(resumed["representation"])
        if not isinstance(codec, (NoteEventCodec, ChordCodec)):
            raise TrainingDataError(f"{last_path} is not a token model")
    else:
        codec = build_codec(config.representation, train_notes, ticks_per_beat, config.max_chords, config.transpose)
    train_data = encode_split(codec, train_pieces, train_notes)
    valid_data = encode_split(codec, valid_pieces, valid_notes)
    variants = None
    if isinstance(codec, ChordCodec) and config.transpose is not None:
        variants = encode_variants(codec, train_data, config.transpose)
    train_set = WindowSet(train_data.tokens, codec, config.window, config.stride, config.transpose, config.seed,
                          variants=variants)
    valid_set = WindowSet(valid_data.tokens, codec, config.window, config.window)
    log.info("%s: train %d pieces, %d events, %d windows; valid %d pieces, %d events, %d windows",
             "+".join(config.sources), len(train_pieces), train_data.n_events, len(train_set),
             len(valid_pieces), valid_data.n_events, len(valid_set))

    train_batches = EpochBatches(train_set.lengths(), config.batch_size, config.seed, where.rank, where.world)
    valid_items = cast("Dataset[Window]", valid_set)  # WindowSet has the Dataset protocol without the base
    valid_sampler: DistributedSampler[Window] | None = (
        DistributedSampler(valid_items, where.world, where.rank, shuffle=False) if where.world > 1 else None)
    train_loader = batch_loader(train_set, train_batches)
    valid_loader: DataLoader[Window] = DataLoader(valid_items, batch_size=config.batch_size, shuffle=False,
                                                  sampler=valid_sampler, collate_fn=collate)

    # ---- model and optimiser
    model_config = config_from_dict(resumed["model_args"]) if resumed is not None else new_model_config(config, codec)
    model = EventLSTM(model_config).to(device)
    optimizer, scheduler = optimiser(model, config, config.epochs * len(train_loader))
    state = {"epoch": 0, "best": math.inf, "best_epoch": 0, "bad_epochs": 0, "elapsed_s": 0.0}
    if resumed is not None:
        model.load_state_dict(resumed["state_dict"])
        optimizer.load_state_dict(resumed["resume"]["optimizer"])
        scheduler.load_state_dict(resumed["resume"]["scheduler"])
        state.update(resumed["resume"]["counters"])
        torch.set_rng_state(resumed["resume"]["torch_rng"])
        if device.type == "cuda" and resumed["resume"].get("cuda_rng") is not None:
            torch.cuda.set_rng_state(resumed["resume"]["cuda_rng"], device)
        log.info("resumed %s after epoch %d (best %.4f at epoch %d)", last_path, state["epoch"], state["best"],
                 state["best_epoch"])
    ddp_model: torch.nn.Module = model
    if where.world > 1:
        ddp_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("model: %s, %d parameters, on %s (%d process(es))", model_config, n_params, device, where.world)

    training_info = {
        "sources": list(config.sources),
        "voices": voices,
        "pieces": {"train": len(train_pieces), "valid": len(valid_pieces)},
        "events": {"train": train_data.n_events, "valid": valid_data.n_events},
        "epochs": state["epoch"],
        "seed": config.seed,
        "command": config.command,
        "sequence": {"origin": "bar line before the first note", "bos": isinstance(codec, NoteEventCodec),
                     "window": config.window, "stride": config.stride,
                     "transpose": list(config.transpose) if config.transpose else None},
        "optimiser": {"name": "AdamW", "lr": config.lr, "weight_decay": config.weight_decay,
                      "batch_size": config.batch_size * where.world, "clip": config.clip},
    }
    cases = _sample_cases(valid_data, config.samples) if where.main else []
    fields = tuple(codec.FIELDS)
    metrics_path = out / "metrics.csv"
    if where.main:
        out.mkdir(parents=True, exist_ok=True)

    started = time.monotonic() - float(state["elapsed_s"])
    deadline = None if config.max_minutes is None else started + 60.0 * config.max_minutes
    for epoch in range(int(state["epoch"]) + 1, config.epochs + 1):
        train_set.epoch = epoch
        train_batches.epoch = epoch
        t0 = time.monotonic()
        train_metrics, ran_out = _train_epoch(ddp_model, codec, train_loader, optimizer, scheduler, config, device,
                                              where, epoch, deadline)
        valid_metrics = _validate(model, codec, valid_loader, device, where)
        state["elapsed_s"] = time.monotonic() - started
        state["epoch"] = epoch
        score = valid_metrics["bits_per_note"]
        improved = score < state["best"] - 1e-4
        if improved:
            state.update(best=score, best_epoch=epoch, bad_epochs=0)
        else:
            state["bad_epochs"] = int(state["bad_epochs"]) + 1
        row = {"epoch": epoch, "seconds": round(time.monotonic() - t0, 1), "lr": scheduler.get_last_lr()[0],
               **{f"train_{k}": v for k, v in train_metrics.items()},
               **{f"valid_{k}": v for k, v in valid_metrics.items()}}
        log.info("epoch %d: train loss %.4f, valid loss %.4f (%s), valid %.3f bits/note%s", epoch,
                 train_metrics["loss"], valid_metrics["loss"],
                 ", ".join(f"{f} {valid_metrics[f + '_loss']:.3f}" for f in fields), score,
                 " (best)" if improved else "")
        if where.main:
            training_info["epochs"] = epoch
            training_info["seconds"] = round(float(state["elapsed_s"]), 1)
            metrics = {"epoch": epoch, "best_epoch": state["best_epoch"],
                       **{f"valid_{k}": v for k, v in valid_metrics.items()}}
            resume = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                      "counters": dict(state), "torch_rng": torch.get_rng_state(),
                      "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                      "config": _plain(asdict(config))}
            save_checkpoint(last_path, model, codec, training_info, metrics, resume)
            if improved:
                save_checkpoint(best_path, model, codec, training_info, metrics)
            _append_csv(metrics_path, row)
            _write_samples(model, codec, cases, out / "samples" / f"epoch{epoch:03d}", config.seed + epoch)
        if where.world > 1:
            dist.barrier()
        if state["bad_epochs"] >= config.patience:
            log.info("no improvement for %d epochs: stopping early", config.patience)
            break
        if ran_out:
            log.info("the %.1f-minute budget is spent: stopping", config.max_minutes)
            break
    log.info("best validation: %.4f bits/note at epoch %d; checkpoint %s", state["best"], state["best_epoch"],
             best_path)


def _train_epoch(model: torch.nn.Module, codec: NoteEventCodec | ChordCodec, loader: DataLoader[Window],
                 optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                 config: TrainConfig, device: torch.device, where: Dist, epoch: int,
                 deadline: float | None) -> tuple[dict[str, float], bool]:
    """One pass over the training windows; returns mean losses and whether the budget ran out."""
    model.train()
    fields = codec.FIELDS
    total = torch.zeros(len(fields), dtype=torch.float64)
    count = torch.zeros(len(fields), dtype=torch.float64)
    ran_out = False
    bar = tqdm(loader, desc=f"epoch {epoch}", unit="batch", disable=not where.main, mininterval=10.0,
               leave=False, dynamic_ncols=True)
    for batch in bar:
        loss, sums, counts = train_step(model, optimizer, scheduler, batch, config.clip, device)
        total += sums.double().cpu()
        count += counts.double().cpu()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        if deadline is not None and time.monotonic() > deadline:
            ran_out = True
            break
    if deadline is not None and where.world > 1:
        flag = torch.tensor([float(ran_out)], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        ran_out = bool(flag.item())
    per_field = (total / count.clamp(min=1)).tolist()
    out = {f"{f}_loss": v for f, v in zip(fields, per_field)}
    out["loss"] = float(sum(per_field))
    return out, ran_out


@torch.no_grad()
def _validate(model: EventLSTM, codec: NoteEventCodec | ChordCodec, loader: DataLoader[Window], device: torch.device,
              where: Dist) -> dict[str, float]:
    """Validation loss per head (nats per target), their sum, and bits per note (see training.lstm.metrics)."""
    model.eval()
    fields = codec.FIELDS
    totals = torch.zeros(len(fields) * 2 + 1, dtype=torch.float64, device=device)  # sums, counts, notes
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        logits, _ = model(inputs)
        sums, counts = field_losses(logits, targets)
        totals += torch.cat([sums.double(), counts.double(), note_target_count(codec, targets).double().view(1)])
    if where.world > 1:
        dist.all_reduce(totals)
    values: list[float] = totals.cpu().tolist()
    nats, targets_per_field, notes = values[:len(fields)], values[len(fields):-1], values[-1]
    out = {f"{f}_loss": s / max(1.0, c) for f, s, c in zip(fields, nats, targets_per_field)}
    out["loss"] = float(sum(out.values()))
    out["bits_per_note"] = sum(nats) / math.log(2) / max(1.0, notes)
    return out


def _sample_cases(valid: SplitData, n: int) -> list[PromptCase]:
    """The first ``n`` validation pieces long enough for a prompt and a continuation."""
    cases: list[PromptCase] = []
    for piece, notes in zip(valid.pieces, valid.notes):
        if len(cases) >= n:
            break
        case = split_prompt(piece.id, notes, piece.grid, piece.bpm)
        if case is not None:
            cases.append(case)
    return cases


def _write_samples(model: EventLSTM, codec: NoteEventCodec | ChordCodec, cases: list[PromptCase], folder: Path,
                   seed: int) -> None:
    """Continue each case's prompt; write prompt+continuation as .mid and a pianoroll .png."""
    if not cases:
        return
    step_model = TorchStepModel(model, codec)
    for i, case in enumerate(cases):
        generated = continue_case(step_model, case, SAMPLE_PARAMS, seed + i)
        stem = folder / f"{i:02d}-{_safe(case.name)}"
        stem.parent.mkdir(parents=True, exist_ok=True)
        write_midi([*case.prompt, *generated], case.grid, case.bpm, path=stem.with_suffix(".mid"))
        write_pianoroll(stem.with_suffix(".png"), case, generated,
                        title=f"{case.name}: prompt (grey), real (outline), model (blue)")
    model.train()


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:60]


def _plain(value: Any) -> Any:
    """Paths and tuples as strings and lists, for a checkpoint readable without this code."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _append_csv(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
