"""Training speed: LSTM notes per second and GAN bars per second, on CPU, and on a GPU when one is lent.

What is timed is the training loops' own step -- the very functions the loops call, so a change
to a step shows here -- on the bundled models' configurations and data:

* LSTM: the folk model's run (``antiphon train lstm --source oneills,ryans,airds`` with its
  defaults: note-events, 2 x 256, batch 16 windows of 128 events, AdamW, gradient clipping),
  its batches from the loop's own loader (:func:`training.lstm.trainer.batch_loader`: the same
  windows, length-grouped batches and collate function), its step
  :func:`training.lstm.trainer.train_step`. One sample = fetching a batch + forward + backward +
  clip + optimiser and learning-rate step. Notes per second = note targets in the timed batches / their time.
* GAN: the groove model's run (``antiphon train gan --source grooves`` with its defaults:
  batch 32 bar pairs, WGAN-GP critic step, a generator step every ``n_critic``), its batches
  from :func:`training.gan.steps.draw_batch` (an epoch's random order, transposition, the
  thinned previous bars) and its steps :func:`training.gan.steps.critic_step` and
  :func:`training.gan.steps.generator_step` (with the moving average's update). One sample = one
  critic step (and the generator step when due). Bars per second = real bars the critic saw / time.

From those, the time an epoch would take (steps per epoch x mean step). Data loading is
timed apart and not in the rates. Data: the corpus cache in ``data/`` (``antiphon train
data``); where a split is missing, synthetic data of the same shapes, and the results say so.
CPU with ``torch.set_num_threads(1)`` (the training default on this shared machine); CUDA
when ``torch.cuda.is_available()`` (each step ends with ``torch.cuda.synchronize()``), else
the GPU row says "not lent".

Needs torch (the [train] extra); imported inside :func:`run` only.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import Section, Timing
from daemon.errors import AntiphonError

log = logging.getLogger(__name__)

NAME = "training_speed"
TITLE = "Training speed (one optimiser step of the bundled configurations)"
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
LSTM_SOURCES = ("oneills", "ryans", "airds")  # the bundled folk-events model's
GAN_SOURCES = ("grooves",)  # the bundled gan-grooves model's
WARMUP_STEPS = 2
LSTM_STEPS_FULL, LSTM_STEPS_QUICK = 40, 8
GAN_STEPS_FULL, GAN_STEPS_QUICK = 30, 6
CPU_THREADS = 1
SYNTHETIC_PIECES = 64
SYNTHETIC_EVENTS = 400


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--train-steps", type=int,
                       help=f"timed steps per model and device (default LSTM {LSTM_STEPS_FULL} / GAN "
                            f"{GAN_STEPS_FULL}, --quick {LSTM_STEPS_QUICK} / {GAN_STEPS_QUICK})")
    group.add_argument("--train-data", type=Path, default=DATA_DIR,
                       help="corpus cache written by `antiphon train data` (default: data/)")


def _sync(torch: Any, device: Any) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _lstm(torch: Any, data_dir: Path, devices: list[Any], steps: int) -> dict[str, Any]:
    """Time LSTM training steps on each device; returns per-device samples and counts."""
    from daemon.music.events import NoteEventCodec
    from daemon.music.grid import Grid
    from training.lstm.data import (
        PAD,
        TrainingDataError,
        WindowSet,
        build_codec,
        encode_split,
        load_pieces,
        resolve_voices,
        ticks_per_beat_of,
    )
    from training.lstm.model import EventLSTM
    from training.lstm.train import config_from_args, configure
    from training.lstm.trainer import (
        EpochBatches,
        batch_loader,
        new_model_config,
        note_target_count,
        optimiser,
        train_step,
    )

    parser = argparse.ArgumentParser()
    configure(parser)
    with tempfile.TemporaryDirectory(prefix="antiphon-train-speed-") as tmp:
        config = config_from_args(parser.parse_args(["--source", ",".join(LSTM_SOURCES), "--out", tmp,
                                                     "--data", str(data_dir)]))
    t0 = time.perf_counter()
    try:
        voices = resolve_voices(config.voices, config.sources)
        pieces, notes = load_pieces(config.data, config.sources, "train", voices)
        codec = build_codec(config.representation, notes, ticks_per_beat_of(pieces), config.max_chords,
                            config.transpose)
        sequences = encode_split(codec, pieces, notes).tokens
        data_note = f"real data: {'+'.join(config.sources)} train split, {len(pieces)} pieces"
    except TrainingDataError as exc:
        codec = NoteEventCodec(Grid(12))
        rng = np.random.default_rng(0)
        sequences = [np.stack([rng.integers(0, v, SYNTHETIC_EVENTS) for v in codec.vocab_sizes], axis=1)
                     for _ in range(SYNTHETIC_PIECES)]
        data_note = f"SYNTHETIC data (random tokens; {exc})"
    load_s = time.perf_counter() - t0
    windows = WindowSet(sequences, codec, config.window, config.stride,
                        config.transpose if isinstance(codec, NoteEventCodec) and "real" in data_note else None,
                        config.seed)
    loader = batch_loader(windows, EpochBatches(windows.lengths(), config.batch_size, config.seed))
    out: dict[str, Any] = {"data": data_note, "load_s": load_s, "steps_per_epoch": len(loader),
                           "config": (f"{config.layers} x {config.hidden} LSTM, batch {config.batch_size} windows "
                                      f"of {config.window} events, {config.representation}")}
    for device in devices:
        torch.manual_seed(config.seed)
        model = EventLSTM(new_model_config(config, codec)).to(device)
        model.train()
        optimizer, scheduler = optimiser(model, config, config.epochs * len(loader))
        order = iter(loader)
        times: list[float] = []
        n_notes = n_events = 0
        for step in range(WARMUP_STEPS + steps):
            s0 = time.perf_counter()
            try:
                batch = next(order)
            except StopIteration:
                order = iter(loader)
                batch = next(order)
            train_step(model, optimizer, scheduler, batch, config.clip, device)
            _sync(torch, device)
            if step >= WARMUP_STEPS:
                times.append(time.perf_counter() - s0)
                targets = batch[1]  # (B, T, F)
                n_notes += int(note_target_count(codec, targets))
                n_events += int((targets[..., 0] != PAD).sum())
        out[device.type] = {"times_s": times, "notes": n_notes, "events": n_events}
    return out


def _gan(torch: Any, data_dir: Path, devices: list[Any], steps: int) -> dict[str, Any]:
    """Time GAN critic (+ generator) steps on each device; returns per-device samples and counts."""
    from training.gan.data import (
        GanDataError,
        build_bar_set,
        load_bar_set,
        monophonic_tracks,
        spec_for,
        synthetic_pieces,
    )
    from training.gan.steps import build_networks, critic_step, draw_batch, generator_step, statistics_target
    from training.gan.train import configure, gan_config, step_settings

    parser = argparse.ArgumentParser()
    configure(parser)
    args = parser.parse_args(["--out", "unused", "--source", ",".join(GAN_SOURCES), "--data", str(data_dir)])
    spec = spec_for(list(GAN_SOURCES), args.ticks_per_step)
    t0 = time.perf_counter()
    try:
        bars = load_bar_set(data_dir, list(GAN_SOURCES), "train", spec, args.max_bars_per_piece)
        data_note = f"real data: {'+'.join(GAN_SOURCES)} train split, {len(bars)} bars"
    except GanDataError as exc:
        bars = build_bar_set(synthetic_pieces(n_pieces=32, bars_per_piece=8), spec)
        data_note = f"SYNTHETIC data (random bars; {exc})"
    load_s = time.perf_counter() - t0
    voices = monophonic_tracks(bars)
    config = gan_config(args, spec, voices)
    settings = step_settings(args)
    steps_per_epoch = max(1, len(bars) // args.batch_size)
    out: dict[str, Any] = {"data": data_note, "load_s": load_s, "steps_per_epoch": steps_per_epoch,
                           "config": (f"bars {spec.bar_shape}, batch {args.batch_size} pairs, n_critic "
                                      f"{args.n_critic}, gradient penalty {args.gp_weight:g}")}
    for device in devices:
        torch.manual_seed(args.seed)
        rng = np.random.default_rng(args.seed)
        nets = build_networks(config, args.lr, device)
        nets.generator.train()
        nets.critic.train()
        target = None
        if settings.match_stats > 0:
            target = statistics_target(bars.bars, [i for i, t in enumerate(spec.tracks) if t.name in voices], device)
        times: list[float] = []
        n_bars = g_steps = 0
        order = rng.permutation(len(bars))
        for step in range(WARMUP_STEPS + steps):
            if step and step % steps_per_epoch == 0:  # a new epoch, a new order (as the loop draws it)
                order = rng.permutation(len(bars))
            at = step % steps_per_epoch * args.batch_size
            idx = order[at:at + args.batch_size]
            s0 = time.perf_counter()
            batch = draw_batch(bars, idx, rng, config, settings, device)
            critic_step(nets, batch, settings)
            if (step + 1) % args.n_critic == 0:
                generator_step(nets, batch, settings, g_steps, target)
                g_steps += 1
            _sync(torch, device)
            if step >= WARMUP_STEPS:
                times.append(time.perf_counter() - s0)
                n_bars += len(idx)
        out[device.type] = {"times_s": times, "bars": n_bars}
    return out


def run(args: argparse.Namespace, quick: bool) -> Section:
    """Time both models' training steps on CPU (and CUDA when there) and return the section."""
    try:
        import torch
    except ImportError as exc:
        raise AntiphonError("the training benchmark needs torch: pip install 'antiphon[train]'") from exc
    steps = getattr(args, "train_steps", None)
    data_dir = Path(getattr(args, "train_data", None) or DATA_DIR)
    torch.set_num_threads(CPU_THREADS)
    devices = [torch.device("cpu")]
    gpu = torch.cuda.is_available()
    if gpu:
        devices.append(torch.device("cuda"))
    section = Section(NAME, TITLE)
    lstm = _lstm(torch, data_dir, devices, steps or (LSTM_STEPS_QUICK if quick else LSTM_STEPS_FULL))
    gan = _gan(torch, data_dir, devices, steps or (GAN_STEPS_QUICK if quick else GAN_STEPS_FULL))
    for device in devices:
        kind = device.type
        where = f"{kind} ({CPU_THREADS} thread)" if kind == "cpu" else f"{kind} ({torch.cuda.get_device_name(device)})"
        lstm_run, gan_run = lstm[kind], gan[kind]
        lstm_s, gan_s = float(np.sum(lstm_run["times_s"])), float(np.sum(gan_run["times_s"]))
        section.timings.append(Timing(f"LSTM optimiser step, {where}", np.array(lstm_run["times_s"]),
                                      "fetch + forward + backward + clip + AdamW"))
        section.timings.append(Timing(f"GAN critic step (+ generator step every n_critic), {where}",
                                      np.array(gan_run["times_s"]), "WGAN-GP"))
        section.derived[f"LSTM notes per second, {kind}"] = lstm_run["notes"] / lstm_s
        section.derived[f"LSTM events per second, {kind}"] = lstm_run["events"] / lstm_s
        section.derived[f"LSTM epoch ({lstm['steps_per_epoch']} steps), estimated seconds, {kind}"] = (
            lstm["steps_per_epoch"] * lstm_s / len(lstm_run["times_s"]))
        section.derived[f"GAN bars per second, {kind}"] = gan_run["bars"] / gan_s
        section.derived[f"GAN epoch ({gan['steps_per_epoch']} critic steps), estimated seconds, {kind}"] = (
            gan["steps_per_epoch"] * gan_s / len(gan_run["times_s"]))
    if not gpu:
        section.derived["GPU"] = "not lent (torch.cuda.is_available() is False): no GPU row"
    section.notes += [
        f"LSTM: {lstm['config']}; {lstm['data']} (loaded and encoded in {lstm['load_s']:.1f} s, not timed)",
        f"GAN: {gan['config']}; {gan['data']} (loaded in {gan['load_s']:.1f} s, not timed)",
        f"{WARMUP_STEPS} warm-up steps left out per row; CPU with torch.set_num_threads({CPU_THREADS})",
    ]
    return section
