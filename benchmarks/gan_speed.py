"""GAN bar time: onnxruntime (one thread) against PyTorch eager (one thread), and the band's chain step.

Which model:
    ``--gan-checkpoint CK.pt``  exported on the fly; PyTorch runs the same weights.
    ``--gan-model FILE.onnx``   onnxruntime runs it; PyTorch only with ``--gan-checkpoint`` too.
    neither                     ``runs/gan-grooves/model.onnx`` and its ``checkpoint.pt`` when
                                there, else a freshly initialised groove-sized GAN (drums/bass/
                                chords, the bundled configuration), and the results say so.

What is timed, per bar: the daemon's own path, :meth:`GanModel.sample_batch` with one previous
bar (conditioning features in numpy, one ``session.run``, binarisation by threshold) on
onnxruntime, and the same method with PyTorch eager behind it (``export.gan.TorchSession``,
``torch.inference_mode``, ``torch.set_num_threads(1)``); plus the bare ``session.run`` and one
bar of an 8-bar chain (:meth:`GanModel.sample_bars` / 8). For a file with chain rules
(``training.chain``), also one step of the band's chain as ``accompany`` and ``antiphon bars``
play it (:meth:`daemon.models.gan_chain.BarChain.step` over C Am F G7: its candidates drawn in
one run, their statistics, the choice among them and the running statistics), the number a
listener's bar costs. Runners are interleaved in blocks so that load from other processes hits
them alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks import Section, Timing
from daemon.errors import AntiphonError
from daemon.models.gan import CHORD_INPUT, OUTPUT_NAMES, GanModel
from daemon.models.gan_chain import BarChain, chain_rules_of
from daemon.music.bar_features import condition_features
from daemon.music.harmony import CHORD_DIM, chord_vector, parse_progression

log = logging.getLogger(__name__)

NAME = "gan_speed"
TITLE = "GAN bar time (1 thread)"
WARMUP_BARS = 100
BARS_QUICK = 2000
BARS_FULL = 10000
BLOCK = 250
CHAIN = 8
DEFAULT_RUN = Path("runs") / "gan-grooves"
TARGET_MS = 2.0  # one bar must sample in at most this, median, on one thread
CHAIN_CHORDS = "C Am F G7"  # the chain step's chords, one a bar (for a model that hears chords)
EIGHT_BARS = f"onnxruntime: one bar of an {CHAIN}-bar chain"
CHAIN_STEP = "onnxruntime: one chain step (the band's bar: candidates, choice, running statistics)"


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--gan-model", type=Path, help="an exported GAN .onnx file to time")
    group.add_argument("--gan-checkpoint", type=Path, help="a GAN .pt checkpoint (exported on the fly; PyTorch eager)")
    group.add_argument("--gan-bars", type=int, help=f"timed bars per runner (default {BARS_FULL}, --quick {BARS_QUICK})")


def _prepare(args: argparse.Namespace, workdir: Path, notes: list[str]) -> tuple[Path, Path | None]:
    """(onnx file, checkpoint or None)."""
    from export.gan import export_gan

    model: Path | None = getattr(args, "gan_model", None)
    checkpoint: Path | None = getattr(args, "gan_checkpoint", None)
    if model is None and checkpoint is None:
        if (DEFAULT_RUN / "model.onnx").is_file():
            model = DEFAULT_RUN / "model.onnx"
            checkpoint = DEFAULT_RUN / "checkpoint.pt" if (DEFAULT_RUN / "checkpoint.pt").is_file() else None
            notes.append(f"model: {model}" + (f", PyTorch from {checkpoint}" if checkpoint else ""))
        else:
            checkpoint = _random_groove_checkpoint(workdir / "random.pt")
            notes.append("model: no trained groove GAN at runs/gan-grooves, so a freshly initialised one of the "
                         "bundled size (drums/bass/chords, 3 x 16 x 60 bars), exported on the fly")
    if model is None:
        assert checkpoint is not None
        model = export_gan(checkpoint, workdir / "model.onnx")
    return model, checkpoint


def _random_groove_checkpoint(path: Path) -> Path:
    import torch

    from training.gan.checkpoint import save_checkpoint
    from training.gan.data import groove_spec
    from training.gan.model import Critic, GanConfig, Generator

    torch.manual_seed(0)
    spec = groove_spec()
    config = GanConfig(len(spec.tracks), spec.steps_per_bar, spec.n_pitches, tuple(t.rows for t in spec.tracks))
    generator = Generator(config).eval()
    return save_checkpoint(path, config, spec, generator, Critic(config), {"sources": ["none"]}, {})


def _runner(model: GanModel, previous: np.ndarray, mode: str, each: int = 1) -> Callable[[int], np.ndarray]:
    """A function timing ``count`` bars: ``bar`` (sample_batch), ``run`` (session.run making ``each``
    rolls of the bar: the candidate form of a file exported with candidates) or ``chain``."""
    rng = np.random.default_rng(0)
    prev_f, cond = condition_features(previous, model.spec)
    noise = (1, each, model.z_dim) if model.noise_per_bar else (1, model.z_dim)
    feed = {"noise": rng.standard_normal(noise, dtype=np.float32), "previous": prev_f, "condition": cond}
    if model.hears_chords:  # no chord: the flag 0
        feed[CHORD_INPUT] = np.zeros((1, CHORD_DIM), np.float32)
    names = [o.name for o in model.session.get_outputs()] if each > 1 else list(OUTPUT_NAMES)

    def run(count: int) -> np.ndarray:
        out = np.empty(count)
        for i in range(count):
            t0 = time.perf_counter_ns()
            if mode == "bar":
                model.sample_batch(previous, rng)
            elif mode == "run":
                model.session.run(names, feed)
            else:
                model.sample_bars(CHAIN, previous, rng)
            out[i] = time.perf_counter_ns() - t0
        return out * 1e-9 / (CHAIN if mode == "chain" else 1)

    return run


def _chain_runner(model: GanModel) -> Callable[[int], np.ndarray] | None:
    """A function timing ``count`` steps of the band's chain under the file's rules (None: no rules)."""
    rules = chain_rules_of(model)
    if rules is None:
        return None
    rng = np.random.default_rng(0)
    chords = [chord_vector([c]) for c in parse_progression(CHAIN_CHORDS)] if model.hears_chords else [None]
    chain = BarChain(model, rules)
    chain.start(rng, 0.5, chords[0])
    played = [0]

    def run(count: int) -> np.ndarray:
        out = np.empty(count)
        for i in range(count):
            chord = chords[played[0] % len(chords)]
            played[0] += 1
            t0 = time.perf_counter_ns()
            chain.step(rng, 0.5, chord)
            out[i] = time.perf_counter_ns() - t0
        return out * 1e-9

    return run


def run(args: argparse.Namespace, quick: bool) -> Section:
    """Time every runner and return the section."""
    bars = getattr(args, "gan_bars", None) or (BARS_QUICK if quick else BARS_FULL)
    if bars < 100:
        raise AntiphonError("--gan-bars must be at least 100")
    try:
        import torch
    except ImportError as exc:
        raise AntiphonError("the GAN benchmark exports models: pip install 'antiphon[train]'") from exc
    from daemon.models.gan import open_gan
    from export.gan import as_exported, torch_gan_model
    from training.gan.checkpoint import load_checkpoint

    torch.set_num_threads(1)
    section = Section(NAME, TITLE)
    with tempfile.TemporaryDirectory(prefix="antiphon-bench-") as tmp:
        path, checkpoint = _prepare(args, Path(tmp), section.notes)
        ort_model = open_gan(path, threads=1)
        spec = ort_model.spec
        previous = np.random.default_rng(1).random((1, *spec.bar_shape)) < 0.05  # (1, T, S, P)
        runners = {"onnxruntime: one bar (daemon path)": _runner(ort_model, previous, "bar"),
                   "onnxruntime: session.run only": _runner(ort_model, previous, "run")}
        if ort_model.candidates > 1:
            single = dataclasses.replace(ort_model, candidates=1)
            runners["onnxruntime: one bar, one candidate"] = _runner(single, previous, "bar")
            runners[f"onnxruntime: session.run, {ort_model.candidates} candidates and their scores"] = _runner(
                ort_model, previous, "run", ort_model.candidates)
            section.notes.append(f"the file makes {ort_model.candidates} candidates of each bar that answers a "
                                 "previous one and plays the best (the daemon path); the one-candidate row times "
                                 "the same file drawing one")
        if checkpoint is not None:
            exported = ort_model.metadata.get("training", {})
            ckpt = as_exported(load_checkpoint(checkpoint, exported.get("generator_weights", "average"),
                                               exported.get("voice_switch_cost", 0.0)), ort_model)
            runners["PyTorch eager: one bar (same path)"] = _runner(torch_gan_model(ckpt), previous, "bar")
        runners[EIGHT_BARS] = _runner(ort_model, previous, "chain")
        chain_step = _chain_runner(ort_model)
        if chain_step is not None:
            runners[CHAIN_STEP] = chain_step
            rules = chain_rules_of(ort_model)
            section.notes.append(f"the chain step draws {rules.candidates if rules else 1} candidates a bar in one "
                                 f"run and chooses among them by the running statistics (the file's chain rules), "
                                 f"over {CHAIN_CHORDS}")
        size_mb = path.stat().st_size / 1e6
        section.notes.append(f"bars {spec.bar_shape} ({'/'.join(t.name for t in spec.tracks)}), "
                             f"noise {ort_model.z_dim}; file {size_mb:.2f} MB")
        samples: dict[str, list[np.ndarray]] = {name: [] for name in runners}
        for name, runner in runners.items():
            runner(WARMUP_BARS // (CHAIN if name == EIGHT_BARS else 1))
        done = 0
        while done < bars:
            count = min(BLOCK, bars - done)
            for name, runner in runners.items():
                samples[name].append(runner(max(1, count // CHAIN) if name == EIGHT_BARS else count))
            done += count
    timings = {name: Timing(name, np.concatenate(parts)) for name, parts in samples.items()}
    section.timings = list(timings.values())
    stats = {name: t.stats() for name, t in timings.items()}
    ort_ms = stats["onnxruntime: one bar (daemon path)"]
    section.derived["one bar, onnxruntime, median ms"] = ort_ms["median_ms"]
    section.derived["one bar, onnxruntime, p99 ms"] = ort_ms["p99_ms"]
    section.derived[f"meets the {TARGET_MS:g} ms per bar target (median)"] = ort_ms["median_ms"] <= TARGET_MS
    step = stats.get(CHAIN_STEP)
    if step:
        section.derived["one chain step, onnxruntime, median ms"] = step["median_ms"]
        section.derived["one chain step, onnxruntime, p99 ms"] = step["p99_ms"]
        section.derived[f"chain step meets the {TARGET_MS:g} ms per bar target (median)"] = step["median_ms"] <= TARGET_MS
    eager = stats.get("PyTorch eager: one bar (same path)")
    if eager:
        section.derived["onnxruntime speed-up over PyTorch eager (median)"] = eager["median_ms"] / ort_ms["median_ms"]
    section.notes.append(f"{bars} timed bars per row after {WARMUP_BARS} warm-up bars, interleaved in blocks of "
                         f"{BLOCK}; onnxruntime intra/inter-op threads 1, torch.set_num_threads(1)")
    return section
