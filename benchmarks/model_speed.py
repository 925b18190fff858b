"""LSTM step time: onnxruntime (fp32 and int8, one thread) against PyTorch eager (one thread).

Which model:
    ``--checkpoint CK.pt``  exported on the fly (fp32 + int8); PyTorch runs the same weights.
    ``--model FILE.onnx``   onnxruntime runs it, int8 is quantised on the fly; PyTorch runs only
                            with ``--checkpoint`` as well (the same weights, the caller's word).
    neither                 the first bundled LSTM preset's model (PyTorch from
                            ``runs/<model stem>/best.pt`` if there); else, before the model
                            is bundled, its training run's ``runs/folk-events/best.pt``
                            exported on the fly; else a freshly initialised ``note-events``
                            model of the bundled size (2 x 256); the results say which.

What is timed: one :meth:`LstmModel.step` call per sample (the daemon's own path: Python
call, feed dict, onnxruntime run), and PyTorch's ``EventLSTM.step`` under
``torch.inference_mode`` with ``torch.set_num_threads(1)``. Tokens are random valid
tokens; the state is carried across steps. The three runners are timed in interleaved
blocks so that load from other processes hits them alike. A fourth row times one step
plus :class:`~daemon.music.sampling.EventSampler` sampling, which is what generating one event costs.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks import Section, Timing
from daemon.errors import AntiphonError

log = logging.getLogger(__name__)

NAME = "model_speed"
TITLE = "LSTM step time (1 thread)"
WARMUP_STEPS = 200
STEPS_QUICK = 2000
STEPS_FULL = 10000
BLOCK = 250  # steps per runner before switching to the next one
BUNDLED_HIDDEN = 256
BUNDLED_LAYERS = 2
TRAINED_RUN = Path(__file__).resolve().parents[1] / "runs" / "folk-events"  # the bundled LSTM's training run


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--model", type=Path, help="an exported LSTM .onnx file to time")
    group.add_argument("--checkpoint", type=Path, help="the .pt checkpoint (exported on the fly; PyTorch eager)")
    group.add_argument("--steps", type=int, help=f"timed steps per runner (default {STEPS_FULL}, "
                       f"--quick {STEPS_QUICK}; at least {STEPS_QUICK})")


def _bundled_model() -> tuple[Path, Path | None] | None:
    from daemon.control.presets import list_presets, load_preset
    from daemon.errors import AntiphonError as Error
    from daemon.models.onnx_file import open_session

    for name in list_presets():
        try:
            preset = load_preset(name)
            _, info = open_session(preset.model_path)
        except Error as exc:
            log.info("skipping preset %s: %s", name, exc)
            continue
        if info.kind == "lstm":
            checkpoint = Path("runs") / preset.model_path.stem / "best.pt"
            return preset.model_path, checkpoint if checkpoint.is_file() else None
    return None


def _prepare(args: argparse.Namespace, workdir: Path, notes: list[str]) -> tuple[Path, Path, Path | None]:
    """(fp32 onnx, int8 onnx, checkpoint or None)."""
    from export.lstm import export_lstm, int8_path, quantize_lstm
    from export.lstm_checkpoint import random_lstm_checkpoint

    checkpoint: Path | None = args.checkpoint
    model: Path | None = args.model
    if checkpoint is None and model is None:
        bundled = _bundled_model()
        if bundled is not None:
            model, checkpoint = bundled
            notes.append(f"model: bundled {model.name}" + (f", PyTorch from {checkpoint}" if checkpoint else
                                                          " (no checkpoint at runs/<stem>/best.pt: no PyTorch row)"))
        elif (TRAINED_RUN / "best.pt").is_file():
            checkpoint = workdir / "trained.pt"
            shutil.copyfile(TRAINED_RUN / "best.pt", checkpoint)  # training may rewrite it meanwhile
            notes.append(f"model: no bundled LSTM yet, so the trained runs/{TRAINED_RUN.name}/best.pt, exported on "
                         "the fly (fp32 + int8); PyTorch runs the same checkpoint")
        else:
            checkpoint = random_lstm_checkpoint(workdir / "random.pt", hidden_size=BUNDLED_HIDDEN,
                                                num_layers=BUNDLED_LAYERS, seed=0)
            notes.append(f"model: no bundled model yet, so a freshly initialised note-events LSTM of the bundled "
                         f"size ({BUNDLED_LAYERS} layers x {BUNDLED_HIDDEN} hidden), exported on the fly")
    if model is None:
        assert checkpoint is not None
        model = export_lstm(checkpoint, workdir / "model.onnx", quantize=True)
        if args.checkpoint is not None:
            notes.append(f"model: {checkpoint}, exported on the fly")
        return model, int8_path(model), checkpoint
    if args.model is not None:
        notes.append(f"model: {model}" + (f", PyTorch from {checkpoint}" if checkpoint else " (no --checkpoint: "
                                                                                            "no PyTorch row)"))
    return model, quantize_lstm(model, workdir / "model.int8.onnx"), checkpoint


def _ort_runner(path: Path, tokens: np.ndarray, with_sampling: bool = False) -> Callable[[int, int], np.ndarray]:
    from daemon.models.lstm import load_lstm
    from daemon.music.sampling import SamplingParams, make_sampler

    model = load_lstm(path)
    state = [model.initial_state()]
    sampler = make_sampler(model.codec, SamplingParams(), np.random.default_rng(0)) if with_sampling else None

    def run(start: int, count: int) -> np.ndarray:
        out = np.empty(count)
        st = state[0]
        for i in range(count):
            token = tokens[(start + i) % len(tokens)]
            t0 = time.perf_counter_ns()
            logits, st = model.step(token, st)
            if sampler is not None:
                sampler.sample(logits)
            out[i] = time.perf_counter_ns() - t0
        state[0] = st
        return out * 1e-9

    return run


def _torch_runner(checkpoint: Path, tokens: np.ndarray) -> Callable[[int, int], np.ndarray]:
    import torch

    from export.lstm_checkpoint import load_lstm_checkpoint

    torch.set_num_threads(1)
    model = load_lstm_checkpoint(checkpoint).model
    torch_tokens = torch.from_numpy(tokens).unsqueeze(1)  # (N, 1, F)
    state = list(model.initial_state(1))

    def run(start: int, count: int) -> np.ndarray:
        out = np.empty(count)
        h, c = state
        with torch.inference_mode():
            for i in range(count):
                token = torch_tokens[(start + i) % len(torch_tokens)]
                t0 = time.perf_counter_ns()
                _, h, c = model.step(token, h, c)
                out[i] = time.perf_counter_ns() - t0
        state[:] = [h, c]
        return out * 1e-9

    return run


def run(args: argparse.Namespace, quick: bool) -> Section:
    """Time every runner and return the section."""
    steps = args.steps or (STEPS_QUICK if quick else STEPS_FULL)
    if steps < STEPS_QUICK:
        raise AntiphonError(f"--steps must be at least {STEPS_QUICK}")
    section = Section(NAME, TITLE)
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise AntiphonError("the model-speed benchmark exports models: pip install 'antiphon[train]'") from exc
    with tempfile.TemporaryDirectory(prefix="antiphon-bench-") as tmp:
        fp32, int8, checkpoint = _prepare(args, Path(tmp), section.notes)
        from daemon.models.lstm import load_lstm

        probe = load_lstm(fp32)
        rng = np.random.default_rng(0)
        tokens = np.stack([rng.integers(0, v, steps + WARMUP_STEPS) for v in probe.vocab_sizes], axis=1)
        section.notes.append(f"{probe.num_layers} layers x {probe.hidden_size} hidden, {probe.codec.NAME}/"
                             f"{probe.codec.VERSION}, vocabulary {probe.vocab_sizes}; fp32 file "
                             f"{fp32.stat().st_size / 1e6:.2f} MB, int8 file {int8.stat().st_size / 1e6:.2f} MB")
        runners: dict[str, Callable[[int, int], np.ndarray]] = {
            "onnxruntime fp32 step": _ort_runner(fp32, tokens),
            "onnxruntime int8 step": _ort_runner(int8, tokens),
        }
        if checkpoint is not None:
            runners["PyTorch eager step"] = _torch_runner(checkpoint, tokens)
        runners["onnxruntime fp32 step + sampling"] = _ort_runner(fp32, tokens, with_sampling=True)
        samples: dict[str, list[np.ndarray]] = {name: [] for name in runners}
        for runner in runners.values():
            runner(0, WARMUP_STEPS)
        done = 0
        while done < steps:
            count = min(BLOCK, steps - done)
            for name, runner in runners.items():
                samples[name].append(runner(WARMUP_STEPS + done, count))
            done += count
    timings = {name: Timing(name, np.concatenate(parts)) for name, parts in samples.items()}
    section.timings = list(timings.values())
    stats = {name: t.stats() for name, t in timings.items()}
    fp32_median = stats["onnxruntime fp32 step"]["median_ms"]
    section.derived["int8 speed-up over fp32 (median)"] = fp32_median / stats["onnxruntime int8 step"]["median_ms"]
    if "PyTorch eager step" in stats:
        section.derived["onnxruntime fp32 speed-up over PyTorch eager (median)"] = \
            stats["PyTorch eager step"]["median_ms"] / fp32_median
        section.derived["onnxruntime int8 speed-up over PyTorch eager (median)"] = \
            stats["PyTorch eager step"]["median_ms"] / stats["onnxruntime int8 step"]["median_ms"]
    for name in ("onnxruntime fp32 step", "onnxruntime int8 step", "PyTorch eager step"):
        if name in stats:
            section.derived[f"{name}: tokens/s at the median / at the mean"] = \
                f"{1e3 / stats[name]['median_ms']:,.0f} / {stats[name]['per_s']:,.0f}"
    for name in ("onnxruntime fp32 step", "onnxruntime int8 step"):
        st = stats[name]
        if st["p99_ms"] > 10 * st["median_ms"]:
            section.reasons[name] = (f"p99 is {st['p99_ms'] / st['median_ms']:.0f}x the median ({st['median_ms']:.3f} ms, "
                                     f"p95 {st['p95_ms']:.3f} ms): a few steps lost the CPU to other processes for a "
                                     "scheduler time slice")
        else:
            section.reasons[name] = (f"the median step ({st['median_ms']:.3f} ms: the Python call, the feed dict and "
                                     f"one session.run) is within the target; the slowest 1-5 % take "
                                     f"{st['p95_ms']:.3f}-{st['p99_ms']:.3f} ms on this shared 2-core VM")
    if "PyTorch eager step" in stats:
        eager = stats["PyTorch eager step"]["median_ms"]
        section.reasons["onnxruntime fp32 speed-up over PyTorch eager (median)"] = (
            f"PyTorch eager's median step is {eager:.3f} ms and onnxruntime fp32's {fp32_median:.3f} ms: 10x needs "
            f"onnxruntime at {eager / 10:.3f} ms (int8 reaches {eager / stats['onnxruntime int8 step']['median_ms']:.1f}x)")
    section.notes.append(f"{steps} timed steps per row after {WARMUP_STEPS} warm-up steps, interleaved in blocks "
                         f"of {BLOCK}; onnxruntime intra/inter-op threads 1, torch.set_num_threads(1)")
    return section
