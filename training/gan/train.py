"""``antiphon train gan``: train the conditional WGAN-GP bar model.

A linear loop: load 4/4 bar pairs of the training split, then for each critic step draw a
batch of real (previous bar, bar) pairs (randomly transposed, condition dropped with
``cond_dropout``), update the critic on ``D(fake) - D(real) + lambda * GP``, and every
``n_critic`` steps update the generator on ``-D(fake)``. For a share of the fake pairs
(``--thin-condition``) the generator sees the previous bar with some of its notes removed while
the critic judges the result against the whole bar (:func:`thinned_previous`): without it, bars
chained on the model's own, slightly sparser output thin out within a few bars. An *epoch* is
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

Imports torch inside ``main`` only.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from daemon.errors import AntiphonError

log = logging.getLogger(__name__)

# training.gan.model.BINARY_NEURONS, spelled out so building the command line never imports torch
# (tests/training/test_gan.py checks the two agree).
BINARY_NEURONS = ("none", "deterministic", "stochastic")

CSV_FIELDS = ("epoch", "g_steps", "d_steps", "wall_s", "d_loss", "g_loss", "wasserstein", "gp")
QUICK_BARS = 512  # generated bars for the per-epoch metric check
SELECT_BARS = 2048  # generated bars for choosing best.pt against the validation split


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


def main(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from daemon.music.voices import ANY_ROW, LIKELIEST_ROW
    from training.gan.checkpoint import load_checkpoint, save_checkpoint
    from training.gan.data import describe, load_bar_set, make_batch, monophonic_tracks, spec_for
    from training.gan.evaluate import evaluate
    from training.gan.model import (
        Critic,
        GanConfig,
        Generator,
        bar_statistics,
        binary_neuron,
        count_parameters,
        critic_loss,
        generator_loss,
        likeliest_rows,
        statistics_loss,
    )

    if args.match_stats < 0 or not np.isfinite(args.match_stats):
        raise AntiphonError(f"--match-stats {args.match_stats}: give a weight >= 0")
    torch.set_num_threads(max(1, args.threads))
    ddp = _Distributed(torch)
    device = _device(torch, args.device, ddp.local_rank)
    out = Path(args.out)
    if ddp.main:
        out.mkdir(parents=True, exist_ok=True)
        _log_to_file(out)
    sources = [s.strip() for s in args.source.split(",") if s.strip()]
    checkpoint_path = out / "checkpoint.pt"

    resumed = None
    if args.resume:
        if not checkpoint_path.is_file():
            raise AntiphonError(f"--resume: no {checkpoint_path}; start without --resume")
        resumed = load_checkpoint(checkpoint_path)
        spec = resumed.spec
        config = resumed.config
        sources = list(resumed.training.get("sources", sources))
    else:
        spec = spec_for(sources, args.ticks_per_step)

    train = load_bar_set(args.data, sources, "train", spec, args.max_bars_per_piece)
    voices = monophonic_tracks(train)
    valid = load_bar_set(args.data, sources, "valid", spec, args.max_bars_per_piece) if args.keep_best else None
    if valid is not None and not len(valid.pair_indices):
        raise AntiphonError("--keep-best: the validation split has no pair of bars to compare with")
    if resumed is None:
        config = GanConfig(n_tracks=len(spec.tracks), n_steps=spec.steps_per_bar, n_pitches=spec.n_pitches,
                           track_rows=tuple(t.rows for t in spec.tracks), z_dim=args.z_dim,
                           g_channels=args.g_channels, d_channels=args.d_channels, enc_channels=args.enc_channels,
                           spectral_norm=args.spectral_norm, binary_neuron=args.binary_neuron,
                           cond_dropout=args.cond_dropout, critic_stats=not args.no_critic_stats,
                           critic_onsets=args.critic_onsets, critic_beats=args.critic_beats,
                           voices=tuple(i for i, t in enumerate(spec.tracks) if t.name in voices)
                           if args.voice_neurons else ())
    if ddp.main:
        print(describe(train, f"{'+'.join(sources)} train"))
        sys.stdout.flush()

    torch.manual_seed(args.seed)
    generator, critic = Generator(config).to(device), Critic(config).to(device)
    if resumed is not None:
        generator.load_state_dict(resumed.resume.get("generator_train", resumed.generator.state_dict()))
        critic.load_state_dict(resumed.critic.state_dict())
    ddp.broadcast_parameters(generator)
    ddp.broadcast_parameters(critic)
    average = copy.deepcopy(generator).eval()  # the exponential moving average of the weights: what ships
    if resumed is not None:
        average.load_state_dict(resumed.generator.state_dict())
    for p in average.parameters():
        p.requires_grad_(False)
    optim_g = torch.optim.Adam(generator.parameters(), lr=args.lr, betas=(0.5, 0.9))
    optim_d = torch.optim.Adam(critic.parameters(), lr=args.lr, betas=(0.5, 0.9))
    epoch, g_steps, d_steps, wall_before = 0, 0, 0, 0.0
    if resumed is not None:
        state = resumed.resume
        optim_g.load_state_dict(state["optim_g"])
        optim_d.load_state_dict(state["optim_d"])
        epoch, g_steps, d_steps = int(state["epoch"]), int(state["g_steps"]), int(state["d_steps"])
        wall_before = float(state.get("wall_s", 0.0))
        log.info("resumed %s at epoch %d (%d generator steps)", checkpoint_path, epoch, g_steps)
    if ddp.main:
        log.info("generator %d parameters, critic %d; %s on %s, %d process(es)", count_parameters(generator),
                 count_parameters(critic), "+".join(sources), device, ddp.world)

    stats_target = None
    if args.match_stats > 0:
        stats_target = target_statistics(torch, bar_statistics, train.bars, device)
    voice_tracks = [i for i, t in enumerate(spec.tracks) if t.name in voices]
    any_row = bool(config.voices)  # voices decoded as the binary neuron showed them to the critic
    training_info: dict[str, Any] = {
        "sources": sources, "split": "train", "bars": len(train), "pieces": len(train.piece_ids),
        "counts": dict(train.counts), "monophonic_tracks": voices,
        "voice_decoding": ANY_ROW if any_row else LIKELIEST_ROW, "batch_size": args.batch_size, "n_critic": args.n_critic,
        "gp_weight": args.gp_weight, "thin_condition": args.thin_condition, "thin_rate": args.thin_rate,
        "thicken_condition": args.thicken_condition, "thicken_rate": args.thicken_rate,
        "match_stats": args.match_stats, "lr": args.lr, "adam_betas": [0.5, 0.9], "transpose": not args.no_transpose,
        "seed": args.seed, "device": str(device), "world_size": ddp.world, "threads": args.threads,
        "command": " ".join(["python -m training.gan.train" if sys.argv[0].endswith("train_gan.py") else "antiphon",
                             *sys.argv[1:]]),
    }
    rng = np.random.default_rng(args.seed + 1000 * ddp.rank + epoch)
    sample_rng = np.random.default_rng(args.seed + 7)
    sample_pairs = sample_rng.choice(train.pair_indices, size=min(4, len(train.pair_indices)), replace=False)
    csv_path = out / "metrics.csv"
    quick_keys: list[str] = []
    steps_per_epoch = max(1, len(train) // (args.batch_size * ddp.world))
    started = time.perf_counter()
    metrics: dict[str, Any] = dict(resumed.metrics) if resumed is not None else {}
    best: dict[str, Any] | None = dict(resumed.resume["best"]) if resumed is not None and resumed.resume.get("best") else None
    stop = False

    def to_tensors(batch: Any) -> tuple[Any, Any, Any]:
        return (torch.from_numpy(batch.bars).to(device), torch.from_numpy(batch.previous).to(device),
                torch.from_numpy(batch.condition).to(device))

    while epoch < args.epochs and not stop:
        generator.train()
        critic.train()
        sums = {"d_loss": 0.0, "g_loss": 0.0, "wasserstein": 0.0, "gp": 0.0, "stats": 0.0}
        n_d = n_g = 0
        order = rng.permutation(len(train))
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}", disable=not ddp.main, leave=False,
                   mininterval=2.0, file=sys.stderr)
        for step in bar:
            idx = order[step * args.batch_size:(step + 1) * args.batch_size]
            real, prev, cond = to_tensors(make_batch(train, idx, rng, not args.no_transpose, config.cond_dropout))
            seen_prev, seen_cond = thinned_previous(prev, cond, args.thin_condition, args.thin_rate, spec)
            seen_prev, seen_cond = thickened_previous(seen_prev, seen_cond, args.thin_condition,
                                                      args.thicken_condition, args.thicken_rate, spec)
            noise = torch.randn(len(idx), config.z_dim, device=device)
            with torch.no_grad():
                fake = binary_neuron(generator(noise, seen_prev, seen_cond), config.binary_neuron, config.voices)
            loss, parts = critic_loss(critic, real, fake, prev, cond, args.gp_weight)
            optim_d.zero_grad(set_to_none=True)
            loss.backward()
            ddp.average_gradients(critic)
            optim_d.step()
            d_steps += 1
            n_d += 1
            for key in ("d_loss", "wasserstein", "gp"):
                sums[key] += parts[key]
            if d_steps % args.n_critic == 0:
                noise = torch.randn(len(idx), config.z_dim, device=device)
                probs = generator(noise, seen_prev, seen_cond)
                fake = binary_neuron(probs, config.binary_neuron, config.voices)
                g_loss = generator_loss(critic, fake, prev, cond)
                if stats_target is not None:  # measured on the bars as the daemon plays them
                    matched = statistics_loss(fake * likeliest_rows(probs, voice_tracks), *stats_target)
                    sums["stats"] += float(matched.detach())
                    g_loss = g_loss + args.match_stats * matched
                optim_g.zero_grad(set_to_none=True)
                g_loss.backward()
                ddp.average_gradients(generator)
                optim_g.step()
                update_average(average, generator, g_steps, args.ema_decay)
                g_steps += 1
                n_g += 1
                sums["g_loss"] += float(g_loss.detach())
                if args.steps is not None and g_steps >= args.steps:
                    log.info("%d generator steps reached; stopping", args.steps)
                    stop = True
                    break
                over = args.max_minutes is not None and (time.perf_counter() - started) / 60.0 > args.max_minutes
                if ddp.any_true(over):
                    log.info("wall-clock budget of %.1f min reached; stopping", args.max_minutes)
                    stop = True
                    break
            if step % 20 == 0:
                bar.set_postfix(w=f"{parts['wasserstein']:.3f}", gp=f"{parts['gp']:.3f}", g=g_steps)
        bar.close()
        epoch += 1
        if not ddp.main:
            continue
        wall = wall_before + time.perf_counter() - started
        row: dict[str, Any] = {"epoch": epoch, "g_steps": g_steps, "d_steps": d_steps, "wall_s": round(wall, 1),
                               "d_loss": sums["d_loss"] / max(1, n_d), "g_loss": sums["g_loss"] / max(1, n_g),
                               "wasserstein": sums["wasserstein"] / max(1, n_d), "gp": sums["gp"] / max(1, n_d)}
        if epoch == 1 or stop or epoch == args.epochs or epoch % max(1, args.eval_every) == 0:
            quick = evaluate(average, train, QUICK_BARS, seed=epoch, binarisations=("threshold",), unconditioned=True,
                             monophonic=training_info["monophonic_tracks"], any_row=any_row)
            generated = quick["generated"]["conditioned/threshold"]
            for track in spec.tracks:
                for metric, real in quick["reference"][track.name].items():
                    if np.isfinite(real):  # the metrics that apply to the track
                        row[f"{track.name}_{metric}"] = round(generated["metrics"][track.name][metric], 4)
                        row[f"{track.name}_{metric}_real"] = round(real, 4)
            for pair, value in generated["metrics"]["TD"].items():
                row[f"TD_{pair}"] = round(value, 4)
            row["key_cond"] = round(generated["key_agreement"]["exact"], 4)
            row["key_uncond"] = round(quick["generated"]["unconditioned/threshold"]["key_agreement"]["exact"], 4)
            row["key_real"] = round(quick["reference_key_agreement"]["exact"], 4)
        evaluated = "key_cond" in row
        if valid is not None and evaluated:
            misses, gap = selection_score(average, valid, training_info["monophonic_tracks"], any_row)
            row.update({"select_misses": misses, "select_gap": round(gap, 4)})
            if best is None or (gap, misses) < (best["gap"], best["misses"]):
                best = {"epoch": epoch, "g_steps": g_steps, "misses": misses, "gap": gap}
                save_checkpoint(out / "best.pt", config, spec, average, critic, {**training_info, "epochs": epoch, "g_steps": g_steps, "d_steps": d_steps, "best": best},
                                {"epoch": epoch, "quick": row})
                log.info("best.pt: epoch %d, %d metrics off target against the validation bars (summed gap %.3f)",
                         epoch, misses, gap)
        if not quick_keys:
            quick_keys = [k for k in row if k not in CSV_FIELDS]
        write_header = not csv_path.exists()
        with csv_path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=[*CSV_FIELDS, *quick_keys], extrasaction="ignore")
            if write_header:
                writer.writeheader()
            writer.writerow(row)
        if stats_target is not None:
            log.info("epoch %d: statistics gap %.4f (mean squared, in training standard deviations)", epoch,
                     sums["stats"] / max(1, n_g))
        log.info("epoch %d: %s", epoch, json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                                                    for k, v in row.items()}))
        metrics = {"epoch": epoch, "quick": row}
        if args.sample_every > 0 and (epoch % args.sample_every == 0 or stop or epoch == args.epochs or epoch == 1):
            _write_samples(average, train, sample_pairs, out / "samples" / f"epoch_{epoch:03d}", epoch,
                           training_info["monophonic_tracks"], any_row)
        training_info.update({"epochs": epoch, "g_steps": g_steps, "d_steps": d_steps, "wall_s": round(wall, 1)})
        save_checkpoint(checkpoint_path, config, spec, average, critic, training_info, metrics,
                        {"optim_g": optim_g.state_dict(), "optim_d": optim_d.state_dict(), "epoch": epoch,
                         "g_steps": g_steps, "d_steps": d_steps, "wall_s": wall, "best": best,
                         "generator_train": {k: v.detach().cpu() for k, v in generator.state_dict().items()}})
    if ddp.main:
        log.info("done: %d epochs, %d generator steps, %.1f min; checkpoint %s", epoch, g_steps,
                 (wall_before + time.perf_counter() - started) / 60, checkpoint_path)
    ddp.close()
    return 0


def target_statistics(torch: Any, statistics: Any, bars: np.ndarray, device: Any,
                      chunk: int = 2048) -> tuple[Any, Any]:
    """The training bars' mean and standard deviation (at least 0.05) of each of
    ``statistics(bars)`` (``training.gan.model.bar_statistics``), as tensors on ``device``."""
    if not len(bars):
        raise AntiphonError("--match-stats: no training bars")
    values = torch.cat([statistics(torch.from_numpy(np.asarray(bars[start:start + chunk], np.float32)))
                        for start in range(0, len(bars), chunk)])  # (N, F)
    return values.mean(dim=0).to(device), values.std(dim=0, correction=0).clamp_min(0.05).to(device)


def selection_score(generator: Any, valid: Any, monophonic: list[str], any_row: bool = False) -> tuple[int, float]:
    """How far ``generator``'s conditioned bars are from the validation bars: the number of
    metrics off target (per-track metrics beyond 10 %, TD beyond 0.1) and the summed gap
    (relative gaps in units of 10 %, TD gaps in units of 0.1, each capped at 3). Fixed noise,
    so epochs compare on the same draws. ``best.pt`` ranks the gap first: a count of misses
    flips on a metric's noise at the 10 % line, the summed gap moves smoothly."""
    import math

    from training.gan.evaluate import evaluate, targets
    from training.gan.metrics import relative_gap

    result = evaluate(generator, valid, SELECT_BARS, seed=0, binarisations=("threshold",), unconditioned=False,
                      monophonic=monophonic, any_row=any_row)
    column = "conditioned/threshold"
    generated = result["generated"][column]["metrics"]
    gap = 0.0
    for track, metrics in result["reference"].items():
        for metric, ref in metrics.items():
            if not math.isfinite(ref):
                continue
            value = generated.get(track, {}).get(metric, math.nan)
            one = abs(value - ref) / 0.1 if track == "TD" else relative_gap(value, ref) / 0.1
            gap += min(3.0, one) if math.isfinite(one) else 3.0
    return len(targets(result, column)["misses"]), gap


def thinned_previous(previous: Any, condition: Any, share: float, max_rate: float, spec: Any) -> tuple[Any, Any]:
    """What the generator sees of the previous bar: for the first ``share`` of the pairs, the bar
    with a random share (up to ``max_rate``, drawn per pair) of its active cells removed, and the
    condition recomputed from it; the critic still judges the fake bar against the whole bar.

    The generator so learns to continue a bar it hears only in part -- which is what it hears when
    chained on its own, slightly sparser output, or when the player's bar is cut short -- and the
    chain no longer thins out bar after bar. Returns previous ``(B, T, S, P)`` and condition
    ``(B, 13)`` tensors.
    """
    import torch

    k = round(share * previous.shape[0])
    if k == 0 or max_rate <= 0:
        return previous, condition
    rate = torch.rand(k, 1, 1, 1, device=previous.device) * max_rate  # (k, 1, 1, 1)
    kept = previous[:k] * (torch.rand_like(previous[:k]) >= rate)  # (k, T, S, P)
    return _replace_previous(previous, condition, 0, kept, spec)


def thickened_previous(previous: Any, condition: Any, start: float, share: float, max_rate: float,
                       spec: Any) -> tuple[Any, Any]:
    """The counterpart of :func:`thinned_previous`, for the ``share`` of the pairs that follow the
    first ``start`` share: the previous bar with extra notes -- its own notes moved by one or two
    steps, each kept with a random chance (up to ``max_rate``, drawn per pair) -- and the condition
    recomputed; the critic still judges the fake bar against the real previous bar.

    The generator so learns not to copy every note it hears: a bar chained on the model's own,
    slightly busier output no longer fills up bar after bar, and a player's busy bar is answered
    with a bar as busy as the music. Returns previous ``(B, T, S, P)`` and condition ``(B, 13)``.
    """
    import torch

    first = round(start * previous.shape[0])
    k = min(previous.shape[0] - first, round(share * previous.shape[0]))
    if k <= 0 or max_rate <= 0:
        return previous, condition
    part = previous[first:first + k]  # (k, T, S, P)
    shifts = torch.stack([torch.roll(part, shifts=s, dims=2) for s in (-2, -1, 1, 2)])  # (4, k, T, S, P)
    moved = shifts[torch.randint(4, (k,), device=previous.device), torch.arange(k, device=previous.device)]
    rate = torch.rand(k, 1, 1, 1, device=previous.device) * max_rate  # (k, 1, 1, 1)
    extra = moved * (torch.rand_like(moved) < rate)
    return _replace_previous(previous, condition, first, torch.maximum(part, extra), spec)


def _replace_previous(previous: Any, condition: Any, first: int, seen: Any, spec: Any) -> tuple[Any, Any]:
    """``previous`` with pairs ``first .. first + len(seen)`` replaced by ``seen``, and their
    condition recomputed from it (pairs with no previous bar keep the zero condition)."""
    import torch

    from daemon.music.bar_features import condition_features

    last = first + seen.shape[0]
    _, seen_cond = condition_features(seen.cpu().numpy() > 0, spec)
    has = condition[first:last, -1:]  # (k, 1) the pair has a previous bar at all
    seen_cond_t = torch.from_numpy(seen_cond).to(previous.device) * has
    return (torch.cat([previous[:first], seen, previous[last:]]),
            torch.cat([condition[:first], seen_cond_t, condition[last:]]))


def update_average(average: Any, generator: Any, step: int, decay: float) -> None:
    """Move ``average``'s weights toward ``generator``'s (decay warmed up as ``(1 + step) / (10 + step)``)
    and copy its batch-norm statistics."""
    import torch

    rate = min(decay, (1.0 + step) / (10.0 + step))
    with torch.no_grad():
        for p_avg, p in zip(average.parameters(), generator.parameters()):
            p_avg.lerp_(p, 1.0 - rate)
        for b_avg, b in zip(average.buffers(), generator.buffers()):
            b_avg.copy_(b)


def _write_samples(generator: Any, train: Any, pairs: np.ndarray, stem: Path, seed: int,
                   monophonic: list[str], any_row: bool = False, n_bars: int = 4) -> None:
    """For each chosen real pair: the real previous bar, then ``n_bars`` generated bars chained
    (each conditioned on the one before), as one PNG and one MIDI file."""
    from training.gan.evaluate import chain, track_indices
    from training.gan.plots import plot_rows, write_bars_midi

    mono = track_indices(train.spec, monophonic)
    rows = [chain(generator, train.spec, train.bars[train.previous[index]], n_bars + 1, seed * 100 + i, mono, any_row)
            for i, index in enumerate(pairs)]
    stem.parent.mkdir(parents=True, exist_ok=True)
    plot_rows(rows, train.spec, stem.with_suffix(".png"), labels=[f"#{i}" for i in range(len(rows))],
              title=f"{stem.name}: real bar, then {n_bars} generated bars, each conditioned on the previous")
    write_bars_midi(np.concatenate(rows), train.spec, stem.with_suffix(".mid"))


if __name__ == "__main__":  # python -m training.gan.train (the same as 'antiphon train gan')
    from daemon.commands import run_module

    run_module("python -m training.gan.train", __doc__.splitlines()[0], configure, main)
