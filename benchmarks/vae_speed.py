"""Phrase VAE answer time: onnxruntime (one thread) against PyTorch eager (one thread).

What is timed, per phrase: the live path of the ``morph`` preset
(:class:`daemon.models.vae_answer.VaeContinuator`): the phrase played is fed, then
``answer_steps`` encodes its last two bars to a code, takes the point between the previous
phrase's code and this one (the preset's ``morph``), and its first step decodes a two-bar answer
with the preset's sampling (temperature, top-p, the phrase's key as a mask, pitch range). The key
is estimated before the clock starts, as the engine does before it asks for the answer. The same
continuator runs on PyTorch eager (``export.vae.torch_vae_model``: the checkpoint's modules behind
the two sessions, ``torch.inference_mode``, ``torch.set_num_threads(1)``). Runners are
interleaved in blocks of phrases so that load from other processes hits them alike.

Which phrases: the test split's two-bar phrases (every other bar line) from the corpus cache
``antiphon train data`` writes (``--vae-data``, default ``data/``); without it, SYNTHETIC phrases
(greedy decodes of prior draws), and the results say so.

Which model:
    ``--vae-model FILE.onnx``    onnxruntime runs it (its encoder beside it);
    ``--vae-checkpoint CK.pt``   PyTorch runs it (the same weights as the file, the caller's word);
                                 without ``--vae-model`` it is exported on the fly for onnxruntime;
    neither                      the bundled ``presets/folk-vae.onnx`` and, when there, its
                                 training run's ``runs/vae-folk/best.pt``.
Without torch or a checkpoint the PyTorch row says why it is missing; the rest still runs.

The judged bound: the answer is prepared in the silence that ends the phrase, and must be ready
before the next bar line; at 180 bpm a 4/4 bar lasts 1,333 ms (the p99 is judged against it).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks import Section, Timing
from daemon.errors import AntiphonError
from daemon.models.vae import VaeModel
from daemon.music.grid import Grid
from daemon.music.notes import Note
from daemon.music.sampling import SamplingParams

log = logging.getLogger(__name__)

NAME = "vae_speed"
TITLE = "Phrase VAE answer: encode a 2-bar phrase + decode a 2-bar answer (1 thread)"
REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED = REPO_ROOT / "presets" / "folk-vae.onnx"
TRAINED_RUN = REPO_ROOT / "runs" / "vae-folk"  # the bundled VAE's training run
DEFAULT_DATA = REPO_ROOT / "data"
PRESET = "morph"  # the preset whose sampling the answers are drawn with
PHRASES_QUICK = 100
PHRASES_FULL = 500
WARMUP_PHRASES = 10
BLOCK = 25  # phrases per runner before switching to the next one
ANSWER_BARS = 2  # the VAE's phrase: one decoding pass
BPM = 180.0
BEATS_PER_BAR = 4
BAR_MS = BEATS_PER_BAR * 60_000.0 / BPM  # 1,333 ms: phrase end to the next bar line at most
ORT_ROW = "onnxruntime: encode + 2-bar answer (live path)"
EAGER_ROW = "PyTorch eager: encode + 2-bar answer (same path)"


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--vae-model", type=Path, help="an exported phrase VAE .onnx (decoder) file to time")
    group.add_argument("--vae-checkpoint", type=Path,
                       help=f"its .pt checkpoint, for the PyTorch eager row (default {TRAINED_RUN.name}/best.pt "
                            "with the bundled file)")
    group.add_argument("--vae-data", type=Path, default=DEFAULT_DATA,
                       help="the corpus cache whose test split's phrases are played (default data/)")
    group.add_argument("--vae-phrases", type=int,
                       help=f"timed phrases per runner (default {PHRASES_FULL}, --quick {PHRASES_QUICK})")


def _prepare(args: argparse.Namespace, workdir: Path, notes: list[str]) -> tuple[Path, Path | None, str]:
    """(onnx file, checkpoint or None, why there is no PyTorch row or "")."""
    model: Path | None = getattr(args, "vae_model", None)
    checkpoint: Path | None = getattr(args, "vae_checkpoint", None)
    if model is None and checkpoint is None:
        default = TRAINED_RUN / "best.pt"
        checkpoint = default if default.is_file() else None
        model = BUNDLED
    try:
        import torch
    except ImportError:
        torch = None
    why = ""
    if torch is None:
        why = "torch is not installed (pip install 'antiphon[train]')"
    elif checkpoint is None:
        why = f"no checkpoint at {TRAINED_RUN.relative_to(REPO_ROOT)}/best.pt (give --vae-checkpoint)"
    elif not checkpoint.is_file():
        why = f"no checkpoint {checkpoint}"
    if why:
        checkpoint = None
    if model is None and checkpoint is not None:
        from export.vae import export_vae

        model = export_vae(checkpoint, workdir / "vae.onnx")[0]
        notes.append(f"model: {checkpoint}, exported on the fly; PyTorch runs the same checkpoint")
        torch.set_num_threads(1)
        return model, checkpoint, ""
    model = model or BUNDLED
    if torch is not None:
        torch.set_num_threads(1)
    notes.append(f"model: {_shown(model)}" + (f", PyTorch from {_shown(checkpoint)}" if checkpoint
                                              else f" (no PyTorch row: {why})"))
    return model, checkpoint, why


def _shown(path: Path) -> Path:
    return path.resolve().relative_to(REPO_ROOT) if path.resolve().is_relative_to(REPO_ROOT) else path


def _phrases(model: VaeModel, data: Path, count: int, notes: list[str]) -> list[list[Note]]:
    """``count`` test phrases of the corpus cache (spread over the split), else synthetic ones."""
    from training.lstm.data import TrainingDataError
    from training.vae.data import load_phrases

    try:
        split = load_phrases(data, "test", model.codec, stride_bars=2)
    except (TrainingDataError, OSError) as exc:
        log.warning("no test phrases in %s (%s): timing SYNTHETIC phrases", data, exc)
        notes.append(f"phrases: SYNTHETIC, random-walk melodies of 4-16 eighths and quarters ({data} has no test "
                     "split: `antiphon train data --source folk --out data/`)")
        return _random_phrases(model.phrase_ticks, count)
    pick = np.linspace(0, len(split.phrases) - 1, min(count, len(split.phrases))).round().astype(int)
    phrases = [split.phrases[i].notes for i in pick]
    notes.append(f"phrases: {len(phrases)} of the {len(split.phrases)} test-split phrases of {data.name}/ "
                 f"({split.pieces} tunes, every other bar line), spread evenly; "
                 f"{np.mean([len(p) for p in phrases]):.1f} notes each on average")
    return phrases


def _random_phrases(ticks: int, count: int, seed: int = 0) -> list[list[Note]]:
    """``count`` one-line phrases within ``ticks`` (12 ticks a beat): a random walk around G4."""
    rng = np.random.default_rng(seed)
    phrases = []
    for _ in range(count):
        phrase: list[Note] = []
        start, pitch = 0, 67
        while start < ticks and len(phrase) < int(rng.integers(4, 17)):
            duration = int(rng.choice([6, 12]))
            phrase.append(Note(start, pitch, min(duration, ticks - start), 90))
            start += duration
            pitch = int(np.clip(pitch + rng.integers(-4, 5), 55, 84))
        phrases.append(phrase)
    return phrases


def _runner(model: VaeModel, params: Callable[[list[Note]], SamplingParams],
            parts: dict[str, list[float]]) -> Callable[[list[list[Note]]], np.ndarray]:
    """A function timing the answer to each phrase it is given (seconds), one continuator throughout;
    ``parts`` gets the continuator's own encode and decode times and the notes of each answer."""
    from daemon.models.vae_answer import VaeContinuator

    continuator = VaeContinuator(model, channel=1)
    grid = Grid(model.codec.grid.ticks_per_beat, BEATS_PER_BAR, 4)
    length = ANSWER_BARS * grid.ticks_per_bar
    rng = np.random.default_rng(0)

    def run(phrases: list[list[Note]]) -> np.ndarray:
        out = np.empty(len(phrases))
        for i, phrase in enumerate(phrases):
            continuator.reset(0)
            continuator.feed_notes(phrase)
            sampling = params(phrase)
            t0 = time.perf_counter_ns()
            answer = next(continuator.answer_steps(length, sampling, rng, None, grid))
            out[i] = time.perf_counter_ns() - t0
            parts["encode"].append(continuator.encode_s)
            parts["decode"].append(continuator.decode_s)
            parts["notes"].append(len(answer))
        return out * 1e-9

    return run


def _sampling() -> Callable[[list[Note]], SamplingParams]:
    """The preset's sampling with the key of each phrase, as the engine resolves it."""
    from daemon.control.presets import load_preset
    from daemon.music.sampling import resolve_key

    base = load_preset(PRESET).sampling
    return lambda phrase: resolve_key(base, phrase)


def run(args: argparse.Namespace, quick: bool) -> Section:
    """Time both runners and return the section."""
    count = getattr(args, "vae_phrases", None) or (PHRASES_QUICK if quick else PHRASES_FULL)
    if count < 10:
        raise AntiphonError("--vae-phrases must be at least 10")
    from daemon.models.vae import load_vae

    section = Section(NAME, TITLE)
    with tempfile.TemporaryDirectory(prefix="antiphon-bench-") as tmp:
        path, checkpoint, no_eager = _prepare(args, Path(tmp), section.notes)
        ort_model = load_vae(path, intra_op_num_threads=1, inter_op_num_threads=1)
        phrases = _phrases(ort_model, getattr(args, "vae_data", None) or DEFAULT_DATA, count + WARMUP_PHRASES,
                           section.notes)
        params = _sampling()
        ort_parts: dict[str, list[float]] = {"encode": [], "decode": [], "notes": []}
        runners = {ORT_ROW: _runner(ort_model, params, ort_parts)}
        if checkpoint is not None:
            from export.vae import torch_vae_model

            runners[EAGER_ROW] = _runner(torch_vae_model(checkpoint, ort_model), params,
                                         {"encode": [], "decode": [], "notes": []})
        warmup, timed = phrases[:WARMUP_PHRASES], phrases[WARMUP_PHRASES:]
        for runner in runners.values():
            runner(warmup)
        for values in ort_parts.values():
            values.clear()
        samples: dict[str, list[np.ndarray]] = {name: [] for name in runners}
        for start in range(0, len(timed), BLOCK):
            for name, runner in runners.items():
                samples[name].append(runner(timed[start:start + BLOCK]))
    section.timings = [Timing(name, np.concatenate(parts), rate=False) for name, parts in samples.items()]
    section.timings[1:1] = [Timing("onnxruntime: of which encoding the phrase", np.array(ort_parts["encode"]), rate=False),
                            Timing("onnxruntime: of which decoding the answer", np.array(ort_parts["decode"]), rate=False)]
    stats = {t.name: t.stats() for t in section.timings}
    ort = stats[ORT_ROW]
    section.derived["answer, onnxruntime, median ms"] = ort["median_ms"]
    section.derived["answer, onnxruntime, p99 ms"] = ort["p99_ms"]
    eager = stats.get(EAGER_ROW)
    if eager:
        section.derived["onnxruntime speed-up over PyTorch eager (median)"] = eager["median_ms"] / ort["median_ms"]
        section.derived["onnxruntime speed-up over PyTorch eager (p99)"] = eager["p99_ms"] / ort["p99_ms"]
    else:
        section.derived[EAGER_ROW] = f"not measured: {no_eager}"
    section.derived[f"p99 fits between the phrase end and the next bar line at {BPM:g} bpm ({BAR_MS:,.0f} ms)"] = (
        ort["p99_ms"] < BAR_MS)
    section.notes.append(f"{len(timed)} timed phrases per row after {WARMUP_PHRASES} warm-up phrases, interleaved "
                         f"in blocks of {BLOCK}; sampling of the {PRESET!r} preset (the phrase's key as a mask), "
                         f"answers of {ANSWER_BARS} bars; {np.mean(ort_parts['notes']):.1f} notes decoded per answer "
                         "on average; onnxruntime intra/inter-op threads 1, torch.set_num_threads(1)")
    return section
