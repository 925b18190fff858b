"""``antiphon train gan``: train the conditional WGAN-GP bar model.

A linear loop: load 4/4 bar pairs of the training split, then for each critic step draw a
batch of real (previous bar, bar) pairs (randomly transposed, condition dropped with
``cond_dropout``), update the critic on ``D(fake) - D(real) + lambda * GP``, and every
``n_critic`` steps update the generator on ``-D(fake)``. For a share of the fake pairs
(``--thin-condition``) the generator sees the previous bar with some of its notes removed while
the critic judges the result against the whole bar (:mod:`training.gan.conditioning`): without
it, bars chained on the model's own, slightly sparser output thin out within a few bars. An *epoch* is
one critic pass over the training bars. After each epoch: a checkpoint (``checkpoint.pt``, atomic), a row of
``metrics.csv`` (losses, Wasserstein estimate, a quick metric check on generated bars), and
sample bars as ``samples/epoch_NNN.png`` and ``.mid``. The generator saved, evaluated and
sampled is an exponential moving average of the trained weights (``--ema-decay``); the trained
weights themselves are kept for ``--resume``. ``--resume`` continues from ``checkpoint.pt``.
With ``--match-stats W`` the generator's loss also has ``W`` times a moment-matching term
(:func:`training.gan.model.statistics_loss`): how far the batch's mean statistics of each track (rows
and note starts per step, pitch classes used, empty bars), measured on the bars as the daemon
plays them, are from the training bars'. ``--steps`` stops after a number of generator steps (the documented budget:
the same on any machine); ``--max-minutes`` stops cleanly at a wall-clock budget.

CPU by default, CUDA when present. With ``WORLD_SIZE > 1`` (``torchrun``) every process trains
on its own batches and gradients are averaged with ``torch.distributed.all_reduce`` after each
backward pass: the same data-parallel arithmetic as ``DistributedDataParallel``, which is not
used because it does not support ``torch.autograd.grad`` (the gradient penalty's double
backward). Exercised here on CPU only (``torchrun --nproc_per_node=2``, gloo), never on GPUs.
Only rank 0 logs, samples and writes checkpoints.

This module is the command line and the loop; one step of each network is in
:mod:`training.gan.steps` (the steps ``benchmarks/training_speed.py`` times), what an epoch
writes in :mod:`training.gan.report`. Imports torch inside functions only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from daemon.errors import AntiphonError

log = logging.getLogger(__name__)

# training.gan.model.BINARY_NEURONS, spelled out so building the command line never imports torch
# (tests/training/gan/test_model.py checks the two agree).
BINARY_NEURONS = ("none", "deterministic", "stochastic")

CHECKPOINT = "checkpoint.pt"  # in --out: the latest epoch, with what --resume needs


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="data", help="corpus cache from 'antiphon train data' (default: data)")
    parser.add_argument("--source", default="grooves",
                        help="comma-separated sources: grooves[,freedoom] (drums/bass/chords) or bach (S/A/T/B)")
    parser.add_argument("--out", required=True, help="run folder (checkpoint.pt, metrics.csv, samples/, train.log)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--epochs", type=int, default=1000, help="critic passes over the training bars (default 1000)")
    parser.add_argument("--steps", type=int, default=None,
                        help="stop after this many generator steps (the documented, reproducible budget)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="wall-clock budget; stops cleanly (default: none; the step count then depends on the machine)")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per step and process (default 32)")
    parser.add_argument("--n-critic", type=int, default=3, help="critic steps per generator step (default 3)")
    parser.add_argument("--gp-weight", type=float, default=10.0, help="gradient penalty lambda (default 10)")
    parser.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate of both networks (default 2e-4)")
    parser.add_argument("--z-dim", type=int, default=32)
    parser.add_argument("--g-channels", type=int, default=64)
    parser.add_argument("--d-channels", type=int, default=64)
    parser.add_argument("--enc-channels", type=int, default=24)
    parser.add_argument("--spectral-norm", action="store_true", help="spectral normalisation in the critic")
    parser.add_argument("--binary-neuron", choices=BINARY_NEURONS, default="deterministic",
                        help="binarise the generator's output for the critic, straight-through (default deterministic)")
    parser.add_argument("--cond-dropout", type=float, default=0.2,
                        help="probability of training a pair unconditioned (default 0.2)")
    parser.add_argument("--no-critic-stats", action="store_true",
                        help="do not give the critic per-step note counts and chroma of each track")
    parser.add_argument("--critic-onsets", action="store_true",
                        help="also give the critic the notes starting at each step of each track")
    parser.add_argument("--critic-beats", action="store_true",
                        help="also give the critic each track's chroma in each beat (the harmony beat by beat)")
    parser.add_argument("--voice-neurons", action="store_true",
                        help="the binary neuron decodes one-note-at-a-time tracks as voices, as the daemon does")
    parser.add_argument("--thin-condition", type=float, default=0.25,
                        help="share of fake pairs whose generator sees a thinned previous bar (default 0.25)")
    parser.add_argument("--thin-rate", type=float, default=0.5,
                        help="most notes a thinned previous bar loses, a share drawn per pair (default 0.5)")
    parser.add_argument("--thicken-condition", type=float, default=0.0,
                        help="share of fake pairs (after the thinned ones) whose generator sees the previous bar "
                             "with extra notes, its own moved by a step or two (default 0)")
    parser.add_argument("--thicken-rate", type=float, default=0.5,
                        help="most of the moved notes a thickened previous bar gains, a share drawn per pair (default 0.5)")
    parser.add_argument("--match-stats", type=float, default=0.0,
                        help="weight of a moment-matching term in the generator's loss: each track's rows "
                             "and note starts per step, pitch classes used and empty bars of the bars as the "
                             "daemon plays them (voices one row per step), batch mean against the training "
                             "bars' (training.gan.model.statistics_loss; default 0: off)")
    parser.add_argument("--chords", action="store_true",
                        help="the generator and critic also hear the chord of the bar being made (grooves: the "
                             "chord each bar was rendered over), so the band follows a player's chords")
    parser.add_argument("--self-condition", type=float, default=0.0,
                        help="share of fake pairs whose generator hears its own bar (the moving average's, made "
                             "from the bar before) instead of the real previous bar: scheduled sampling for long "
                             "chains (default 0: off)")
    parser.add_argument("--chord-dropout", type=float, default=0.25,
                        help="with --chords, the share of pairs given no chord, so the model also plays without "
                             "one (default 0.25)")
    parser.add_argument("--no-transpose", action="store_true", help="no random transposition of pitched tracks")
    parser.add_argument("--ticks-per-step", type=int, default=3, help="grid ticks per step at 12 per beat (default 3)")
    parser.add_argument("--max-bars-per-piece", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--ema-decay", type=float, default=0.999,
                        help="decay of the generator weights' moving average, the generator saved (default 0.999)")
    parser.add_argument("--sample-every", type=int, default=5, help="epochs between sample pictures (default 5)")
    parser.add_argument("--keep-best", action="store_true",
                        help="also keep best.pt: the evaluated epoch whose bars come closest to the validation split's "
                             "(the smallest summed gap over every metric, then the fewest off target; 2,048 bars, fixed noise)")
    parser.add_argument("--eval-every", type=int, default=1,
                        help="epochs between the quick metric evaluations in metrics.csv (default 1; losses are logged every epoch)")


class _Distributed:
    """Rank and world size; a no-op outside torchrun."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world > 1:
            import torch.distributed as dist

            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend)
            self.dist = dist

    @property
    def main(self) -> bool:
        return self.rank == 0

    def broadcast_parameters(self, module: Any) -> None:
        if self.world > 1:
            for tensor in list(module.parameters()) + list(module.buffers()):
                self.dist.broadcast(tensor.data, src=0)

    def average_gradients(self, module: Any) -> None:
        if self.world > 1:
            for p in module.parameters():
                if p.grad is not None:
                    self.dist.all_reduce(p.grad, op=self.dist.ReduceOp.SUM)
                    p.grad /= self.world

    def any_true(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        value = self.torch.tensor([1.0 if flag else 0.0])
        self.dist.all_reduce(value, op=self.dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def close(self) -> None:
        if self.world > 1:
            self.dist.destroy_process_group()


def _device(torch: Any, name: str, local_rank: int) -> Any:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _log_to_file(out: Path) -> None:
    handler = logging.FileHandler(out / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)


@dataclass
class _Setup:
    """What a run starts from: its bars, the networks' configuration, the checkpoint it resumes."""

    sources: list[str]
    spec: Any  # daemon.music.pianoroll.RollSpec
    config: Any  # training.gan.model.GanConfig
    train: Any  # training.gan.data.BarSet
    valid: Any | None  # the validation bars, with --keep-best
    voices: list[str]  # the monophonic tracks, decoded as voices
    resumed: Any | None  # the training.gan.checkpoint.GanCheckpoint resumed from
    resumed_from: Path | None  # its file

    @property
    def any_row(self) -> bool:
        """Voices decoded as the binary neuron showed them to the critic."""
        return bool(self.config.voices)


@dataclass
class _Counters:
    """Where a run stands: what ``checkpoint.pt`` keeps for ``--resume``."""

    epoch: int = 0
    g_steps: int = 0
    d_steps: int = 0
    wall_before: float = 0.0  # wall-clock seconds of the runs resumed from
    best: dict[str, Any] | None = None  # best.pt's epoch, steps and score
    stop: bool = False
    quick_keys: list[str] = field(default_factory=list)  # metrics.csv's columns after CSV_FIELDS


@dataclass
class _EpochLosses:
    """Sums of one epoch's step losses, for its metrics.csv row."""

    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("d_loss", "g_loss", "wasserstein",
                                                                          "gp", "stats"), 0.0))
    n_d: int = 0
    n_g: int = 0


def gan_config(args: argparse.Namespace, spec: Any, voices: list[str]) -> Any:
    """The networks' :class:`~training.gan.model.GanConfig` a new run builds from its command line."""
    from training.gan.model import CHORD_DIM, CONDITION_DIM, GanConfig

    return GanConfig(n_tracks=len(spec.tracks), n_steps=spec.steps_per_bar, n_pitches=spec.n_pitches,
                     track_rows=tuple(t.rows for t in spec.tracks), z_dim=args.z_dim,
                     g_channels=args.g_channels, d_channels=args.d_channels, enc_channels=args.enc_channels,
                     spectral_norm=args.spectral_norm, binary_neuron=args.binary_neuron,
                     cond_dropout=args.cond_dropout, critic_stats=not args.no_critic_stats,
                     critic_onsets=args.critic_onsets, critic_beats=args.critic_beats,
                     voices=tuple(i for i, t in enumerate(spec.tracks) if t.name in voices)
                     if args.voice_neurons else (),
                     cond_dim=CONDITION_DIM + (CHORD_DIM if args.chords else 0), chord_dropout=args.chord_dropout)


def step_settings(args: argparse.Namespace) -> Any:
    """The :class:`~training.gan.steps.StepSettings` of the command line."""
    from training.gan.steps import StepSettings

    return StepSettings(transpose=not args.no_transpose, gp_weight=args.gp_weight,
                        thin_condition=args.thin_condition, thin_rate=args.thin_rate,
                        thicken_condition=args.thicken_condition, thicken_rate=args.thicken_rate,
                        match_stats=args.match_stats, ema_decay=args.ema_decay,
                        self_condition=args.self_condition)


def main(args: argparse.Namespace) -> int:
    import torch

    from training.gan.steps import statistics_target

    if args.match_stats < 0 or not np.isfinite(args.match_stats):
        raise AntiphonError(f"--match-stats {args.match_stats}: give a weight >= 0")
    torch.set_num_threads(max(1, args.threads))
    ddp = _Distributed(torch)
    device = _device(torch, args.device, ddp.local_rank)
    out = Path(args.out)
    if ddp.main:
        out.mkdir(parents=True, exist_ok=True)
        _log_to_file(out)
    setup = _load_setup(args, out / CHECKPOINT, ddp)
    nets, counters = _networks(args, setup, device, ddp)
    target = None
    if args.match_stats > 0:
        target = statistics_target(setup.train.bars, [i for i, t in enumerate(setup.spec.tracks)
                                                       if t.name in setup.voices], device)
    training_info = _training_info(args, setup, device, ddp)
    rng = np.random.default_rng(args.seed + 1000 * ddp.rank + counters.epoch)
    sample_rng = np.random.default_rng(args.seed + 7)
    sample_pairs = sample_rng.choice(setup.train.pair_indices, size=min(4, len(setup.train.pair_indices)),
                                     replace=False)
    steps_per_epoch = max(1, len(setup.train) // (args.batch_size * ddp.world))
    started = time.perf_counter()
    settings = step_settings(args)
    while counters.epoch < args.epochs and not counters.stop:
        losses = _train_epoch(args, setup, nets, counters, settings, target, rng, steps_per_epoch, ddp, device,
                              started)
        if not ddp.main:
            continue
        wall = counters.wall_before + time.perf_counter() - started
        row = _epoch_row(args, out, setup, nets, counters, losses, training_info, wall)
        _write_epoch(args, out, setup, nets, counters, row, training_info, sample_pairs, wall, losses)
    if ddp.main:
        log.info("done: %d epochs, %d generator steps, %.1f min; checkpoint %s", counters.epoch, counters.g_steps,
                 (counters.wall_before + time.perf_counter() - started) / 60, out / CHECKPOINT)
    ddp.close()
    return 0


def _load_setup(args: argparse.Namespace, checkpoint_path: Path, ddp: _Distributed) -> _Setup:
    """The training (and, with --keep-best, validation) bars, and the networks' configuration:
    the command line's, or the checkpoint's with --resume."""
    from training.gan.checkpoint import load_checkpoint
    from training.gan.data import describe, load_bar_set, monophonic_tracks, spec_for

    sources = [s.strip() for s in args.source.split(",") if s.strip()]
    resumed = None
    if args.resume:
        if not checkpoint_path.is_file():
            raise AntiphonError(f"--resume: no {checkpoint_path}; start without --resume")
        resumed = load_checkpoint(checkpoint_path)
        spec = resumed.spec
        sources = list(resumed.training.get("sources", sources))
    else:
        spec = spec_for(sources, args.ticks_per_step)
    train = load_bar_set(args.data, sources, "train", spec, args.max_bars_per_piece)
    voices = monophonic_tracks(train)
    valid = load_bar_set(args.data, sources, "valid", spec, args.max_bars_per_piece) if args.keep_best else None
    if valid is not None and not len(valid.pair_indices):
        raise AntiphonError("--keep-best: the validation split has no pair of bars to compare with")
    config = resumed.config if resumed is not None else gan_config(args, spec, voices)
    if ddp.main:
        print(describe(train, f"{'+'.join(sources)} train"))
        sys.stdout.flush()
    return _Setup(sources, spec, config, train, valid, voices, resumed, checkpoint_path if args.resume else None)


def _networks(args: argparse.Namespace, setup: _Setup, device: Any, ddp: _Distributed) -> tuple[Any, _Counters]:
    """Networks and optimisers seeded by --seed, and the counters: fresh, or as checkpoint.pt left them."""
    import torch

    from training.gan.model import count_parameters
    from training.gan.steps import build_networks

    torch.manual_seed(args.seed)
    nets = build_networks(setup.config, args.lr, device, ddp.broadcast_parameters)
    counters = _Counters()
    resumed = setup.resumed
    if resumed is not None:
        state = resumed.resume
        nets.generator.load_state_dict(state.get("generator_train", resumed.generator.state_dict()))
        nets.critic.load_state_dict(resumed.critic.state_dict())
        nets.average.load_state_dict(resumed.generator.state_dict())
        nets.optim_g.load_state_dict(state["optim_g"])
        nets.optim_d.load_state_dict(state["optim_d"])
        counters = _Counters(int(state["epoch"]), int(state["g_steps"]), int(state["d_steps"]),
                             float(state.get("wall_s", 0.0)), dict(state["best"]) if state.get("best") else None)
        log.info("resumed %s at epoch %d (%d generator steps)", setup.resumed_from, counters.epoch, counters.g_steps)
    if ddp.main:
        log.info("generator %d parameters, critic %d; %s on %s, %d process(es)", count_parameters(nets.generator),
                 count_parameters(nets.critic), "+".join(setup.sources), device, ddp.world)
    return nets, counters


def _training_info(args: argparse.Namespace, setup: _Setup, device: Any, ddp: _Distributed) -> dict[str, Any]:
    """What every checkpoint records of the data and the command line."""
    from daemon.music.voices import ANY_ROW, LIKELIEST_ROW
    from training.gan.steps import ADAM_BETAS

    train = setup.train
    return {
        "sources": setup.sources, "split": "train", "bars": len(train), "pieces": len(train.piece_ids),
        "counts": dict(train.counts), "monophonic_tracks": setup.voices,
        "voice_decoding": ANY_ROW if setup.any_row else LIKELIEST_ROW, "batch_size": args.batch_size,
        "n_critic": args.n_critic, "gp_weight": args.gp_weight, "thin_condition": args.thin_condition,
        "thin_rate": args.thin_rate, "thicken_condition": args.thicken_condition, "thicken_rate": args.thicken_rate,
        "match_stats": args.match_stats, "lr": args.lr, "adam_betas": list(ADAM_BETAS),
        "transpose": not args.no_transpose, "seed": args.seed, "device": str(device), "world_size": ddp.world,
        "threads": args.threads,
        "command": " ".join(["python -m training.gan.train" if sys.argv[0].endswith("train_gan.py") else "antiphon",
                             *sys.argv[1:]]),
    }


def _train_epoch(args: argparse.Namespace, setup: _Setup, nets: Any, counters: _Counters, settings: Any,
                 target: Any, rng: np.random.Generator, steps_per_epoch: int, ddp: _Distributed, device: Any,
                 started: float) -> _EpochLosses:
    """One critic pass over the training bars in a fresh order, a generator step every --n-critic;
    stops early (``counters.stop``) at --steps generator steps or the --max-minutes budget."""
    from tqdm import tqdm

    from training.gan.steps import critic_step, draw_batch, generator_step

    nets.generator.train()
    nets.critic.train()
    losses = _EpochLosses()
    order = rng.permutation(len(setup.train))
    bar = tqdm(range(steps_per_epoch), desc=f"epoch {counters.epoch + 1}", disable=not ddp.main, leave=False,
               mininterval=2.0, file=sys.stderr)
    for step in bar:
        idx = order[step * args.batch_size:(step + 1) * args.batch_size]
        batch = draw_batch(setup.train, idx, rng, setup.config, settings, device,
                           nets.average if settings.self_condition else None)
        parts = critic_step(nets, batch, settings, ddp.average_gradients)
        counters.d_steps += 1
        losses.n_d += 1
        for key in ("d_loss", "wasserstein", "gp"):
            losses.sums[key] += parts[key]
        if counters.d_steps % args.n_critic == 0:
            g = generator_step(nets, batch, settings, counters.g_steps, target, ddp.average_gradients)
            if g.statistics is not None:
                losses.sums["stats"] += g.statistics
            counters.g_steps += 1
            losses.n_g += 1
            losses.sums["g_loss"] += g.loss
            if args.steps is not None and counters.g_steps >= args.steps:
                log.info("%d generator steps reached; stopping", args.steps)
                counters.stop = True
                break
            over = args.max_minutes is not None and (time.perf_counter() - started) / 60.0 > args.max_minutes
            if ddp.any_true(over):
                log.info("wall-clock budget of %.1f min reached; stopping", args.max_minutes)
                counters.stop = True
                break
        if step % 20 == 0:
            bar.set_postfix(w=f"{parts['wasserstein']:.3f}", gp=f"{parts['gp']:.3f}", g=counters.g_steps)
    bar.close()
    counters.epoch += 1
    return losses


def _epoch_row(args: argparse.Namespace, out: Path, setup: _Setup, nets: Any, counters: _Counters,
               losses: _EpochLosses, training_info: dict[str, Any], wall: float) -> dict[str, Any]:
    """The epoch's metrics.csv row: mean losses, the quick metric check when due, and the score
    against the validation bars (with --keep-best), saving best.pt when it is the best yet."""
    from training.gan.checkpoint import save_checkpoint
    from training.gan.report import quick_metrics, selection_score

    epoch, sums, n_d = counters.epoch, losses.sums, max(1, losses.n_d)
    row: dict[str, Any] = {"epoch": epoch, "g_steps": counters.g_steps, "d_steps": counters.d_steps,
                           "wall_s": round(wall, 1), "d_loss": sums["d_loss"] / n_d,
                           "g_loss": sums["g_loss"] / max(1, losses.n_g), "wasserstein": sums["wasserstein"] / n_d,
                           "gp": sums["gp"] / n_d}
    if epoch == 1 or counters.stop or epoch == args.epochs or epoch % max(1, args.eval_every) == 0:
        row.update(quick_metrics(nets.average, setup.train, epoch, setup.voices, setup.any_row))
    if setup.valid is None or "key_cond" not in row:
        return row
    misses, gap = selection_score(nets.average, setup.valid, setup.voices, setup.any_row)
    row.update({"select_misses": misses, "select_gap": round(gap, 4)})
    best = counters.best
    if best is None or (gap, misses) < (best["gap"], best["misses"]):
        counters.best = {"epoch": epoch, "g_steps": counters.g_steps, "misses": misses, "gap": gap}
        save_checkpoint(out / "best.pt", setup.config, setup.spec, nets.average, nets.critic,
                        {**training_info, "epochs": epoch, "g_steps": counters.g_steps, "d_steps": counters.d_steps,
                         "best": counters.best},
                        {"epoch": epoch, "quick": row})
        log.info("best.pt: epoch %d, %d metrics off target against the validation bars (summed gap %.3f)",
                 epoch, misses, gap)
    return row


def _write_epoch(args: argparse.Namespace, out: Path, setup: _Setup, nets: Any, counters: _Counters,
                 row: dict[str, Any], training_info: dict[str, Any], sample_pairs: np.ndarray, wall: float,
                 losses: _EpochLosses) -> None:
    """Append the row to metrics.csv, log it, write the sample bars when due and save checkpoint.pt."""
    from training.gan.checkpoint import save_checkpoint
    from training.gan.report import CSV_FIELDS, append_row, write_samples

    epoch = counters.epoch
    if not counters.quick_keys:
        counters.quick_keys = [k for k in row if k not in CSV_FIELDS]
    append_row(out / "metrics.csv", row, counters.quick_keys)
    if args.match_stats > 0:
        log.info("epoch %d: statistics gap %.4f (mean squared, in training standard deviations)", epoch,
                 losses.sums["stats"] / max(1, losses.n_g))
    log.info("epoch %d: %s", epoch, json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                                                for k, v in row.items()}))
    if args.sample_every > 0 and (epoch % args.sample_every == 0 or counters.stop or epoch == args.epochs
                                  or epoch == 1):
        write_samples(nets.average, setup.train, sample_pairs, out / "samples" / f"epoch_{epoch:03d}", epoch,
                      setup.voices, setup.any_row)
    training_info.update({"epochs": epoch, "g_steps": counters.g_steps, "d_steps": counters.d_steps,
                          "wall_s": round(wall, 1)})
    save_checkpoint(out / CHECKPOINT, setup.config, setup.spec, nets.average, nets.critic, training_info,
                    {"epoch": epoch, "quick": row},
                    {"optim_g": nets.optim_g.state_dict(), "optim_d": nets.optim_d.state_dict(), "epoch": epoch,
                     "g_steps": counters.g_steps, "d_steps": counters.d_steps, "wall_s": wall, "best": counters.best,
                     "generator_train": {k: v.detach().cpu() for k, v in nets.generator.state_dict().items()}})


if __name__ == "__main__":  # python -m training.gan.train (the same as 'antiphon train gan')
    from daemon.commands import run_module

    run_module("python -m training.gan.train", __doc__.splitlines()[0], configure, main)
