"""Export a GAN checkpoint's generator to ONNX, and prove parity with PyTorch.

The ONNX GAN graph (Antiphon model format 1)
============================================

Inputs
    ``noise``      float32 ``(B, Z)``          standard normal noise
    ``previous``   float32 ``(B, T, S, P)``    the previous bar's active roll (0/1; zeros: none)
    ``condition``  float32 ``(B, 13)``         the previous bar's pitch-class profile (12, sums to
                                               1 or all 0) and a has-previous flag (1 or 0)
    ``chord``      float32 ``(B, 13)``         only for a model that hears chords: the pitch classes
                                               of the chord the bar is played over and a flag (1, or
                                               all 0 for no chord)
Outputs
    ``roll``       float32 ``(B, T, S, P)``    note probabilities in [0, 1] (rows a track does
                                               not have are 0)
    ``score``      float32 ``(B,)``            only in files exported with ``candidates`` > 1: the
                                               training critic's score of ``roll > 0.5``

``B`` is dynamic (axis ``batch``); ``T, S, P`` are the representation's bar shape, constants of
the graph (no node computes a size from the input's shape). A file exported with candidates
takes ``noise`` ``(B, K, Z)``, ``K`` dynamic (axis ``candidates``), and puts out ``roll``
``(B, K, T, S, P)`` and ``score`` ``(B, K)``: ``K`` bars of each previous bar, whose conditioner
and share of every layer run once per previous bar (:class:`ScoredGenerator`). A model that hears
chords and whose chain draws candidates (``training.chain``) takes the same candidate form, its
``chord`` ``(B, 13)`` once per previous bar, without a ``score`` (:class:`ChordInput`). The daemon
builds ``previous``/``condition`` with ``daemon.music.bar_features.condition_features`` and binarises
``roll`` with ``daemon.music.pianoroll.binarise`` (threshold or Bernoulli).

Metadata (``metadata_props``, every value JSON): ``antiphon.format`` ``"1"``, ``antiphon.kind``
``"gan"``, ``antiphon.representation`` (``RollSpec.to_dict()``), ``antiphon.model_config``
(``asdict(GanConfig)``), ``antiphon.inputs``, ``antiphon.outputs``, ``antiphon.training``
(whose ``monophonic_tracks``, ``voice_decoding`` and ``voice_switch_cost`` tell the daemon how to
decode voices: ``daemon.music.voices.decode_voices``, and ``candidates`` and ``note_length_prior``
how it chooses among candidates: ``daemon.music.voices.choose_candidates``), ``antiphon.metrics``.

Imports torch and onnx: run by ``antiphon export gan`` and tests, never by the daemon.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from daemon.errors import ModelError
from daemon.models.gan import (
    CANDIDATE_AXIS,
    CHORD_INPUT,
    FORMAT_VERSION,
    INPUT_NAMES,
    KIND,
    OUTPUT_NAMES,
    SCORE_NAME,
    GanModel,
    length_prior,
    open_gan,
)
from daemon.models.gan_chain import ChainRules
from daemon.models.onnx_file import META_PREFIX
from daemon.music.bar_features import condition_features
from daemon.music.harmony import CHORD_DIM
from export.onnx_file import BATCH_AXIS, OPSET, _json, _set_metadata
from training.gan.checkpoint import AVERAGE, GanCheckpoint, choose_among, load_checkpoint, with_floors
from training.gan.floors import HoldFloor, PitchClassFloor, RestartFloor
from training.gan.model import Critic, Generator, dims

log = logging.getLogger(__name__)


def output_names(ckpt: GanCheckpoint) -> list[str]:
    """The graph's outputs: ``roll``, and ``score`` when bars are chosen among candidates."""
    return [*OUTPUT_NAMES, *([SCORE_NAME] if ckpt.training.get("candidates", 1) > 1 else [])]


PARITY_CANDIDATES = 3  # rolls of each previous bar that the parity check compares, in a file with candidates


class ScoredGenerator(torch.nn.Module):
    """``K`` candidates of each bar and the critic's score of each thresholded one (what the
    critic judged in training: the deterministic binary neuron's forward pass).

    noise ``(N, K, Z)``, previous ``(N, T, S, P)``, condition ``(N, 13)`` -> roll
    ``(N, K, T, S, P)``, score ``(N, K)``; what depends on the previous bar alone is computed
    once for its ``K`` candidates (:meth:`training.gan.model.Generator.candidates`).
    """

    def __init__(self, generator: Generator | PitchClassFloor | HoldFloor | RestartFloor, critic: Critic) -> None:
        super().__init__()
        self.generator, self.critic = generator.eval(), critic.eval()

    def forward(self, noise: torch.Tensor, previous: torch.Tensor,
                condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = noise.shape[1]
        roll = self.generator.candidates(noise, previous, condition)  # (N*K, T, S, P)
        bar, cond = dims(previous), dims(condition)
        repeated = previous[:, None].expand(-1, k, *bar).reshape(-1, *bar)
        score = self.critic((roll > 0.5).to(roll.dtype), repeated,
                            condition[:, None].expand(-1, k, *cond).reshape(-1, *cond))
        return roll.reshape(-1, k, *bar), score.reshape(-1, k)


class ChordInput(torch.nn.Module):
    """A generator that hears chords, with the chord as an input of its own: noise, previous,
    condition ``(B, 13)`` and chord ``(B, 13)`` -> roll (the generator's condition is both, joined).

    In the candidate form (``candidates``) noise is ``(B, K, Z)`` and roll ``(B, K, T, S, P)``: ``K``
    bars of each previous bar over its chord, what depends on them alone computed once
    (:meth:`training.gan.model.Generator.candidates`): a chain's dozen candidates cost about
    two thirds of a dozen separate bars.
    """

    def __init__(self, generator: Generator | PitchClassFloor | HoldFloor | RestartFloor, candidates: bool = False) -> None:
        super().__init__()
        self.generator = generator.eval()
        self.candidates = candidates

    def forward(self, noise: torch.Tensor, previous: torch.Tensor, condition: torch.Tensor,
                chord: torch.Tensor) -> torch.Tensor:
        joined = torch.cat([condition, chord], dim=1)
        if not self.candidates:
            return self.generator(noise, previous, joined)
        roll = self.generator.candidates(noise, previous, joined)  # (B*K, T, S, P)
        return roll.reshape(-1, noise.shape[1], *dims(roll))


def input_names(ckpt: GanCheckpoint) -> list[str]:
    """The graph's inputs: noise, previous, condition, and chord for a model that hears chords."""
    return [*INPUT_NAMES, *([CHORD_INPUT] if ckpt.config.hears_chords else [])]


def gan_metadata(ckpt: GanCheckpoint) -> dict[str, str]:
    """The ``antiphon.*`` metadata of a GAN graph, values as JSON text."""
    values: Mapping[str, Any] = {
        "format": FORMAT_VERSION,
        "kind": KIND,
        "representation": ckpt.spec.to_dict(),
        "model_config": asdict(ckpt.config),
        "inputs": input_names(ckpt),
        "outputs": output_names(ckpt),
        "training": dict(ckpt.training),
        "metrics": dict(ckpt.metrics),
    }
    return {META_PREFIX + k: _json(v) for k, v in values.items()}


def export_gan(checkpoint: str | Path, onnx_path: str | Path, weights: str = AVERAGE, switch_cost: Any = 0.0,
               candidates: int = 1, length_prior: float = 0.0, data: str | Path | None = None,
               pitch_class_floor: Any = None, restart_floor: Any = None, chain_rules: ChainRules | None = None,
               hold_floor: Any = None) -> Path:
    """Export a checkpoint's generator (eval mode: batch norm uses its running statistics).

    Args:
        checkpoint: a ``.pt`` written by ``antiphon train gan``.
        onnx_path: where the model goes (parent folders are created).
        weights: ``average`` or ``trained`` generator weights (:func:`load_checkpoint`).
        switch_cost: how the daemon decodes the model's voices (``training.voice_switch_cost``,
            ``daemon.music.voices.decode_voices``): a number for all, ``{voice: cost}``, or their
            command-line text.
        candidates, length_prior, data: make each bar ``candidates`` times and play the best
            (:func:`training.gan.checkpoint.choose_among`; the graph then also puts out the
            critic's ``score``).
        pitch_class_floor: ``{track: floor}`` or ``"chords=0.2"``: the graph drops the pitch
            classes a bar barely plays in those tracks (:func:`training.gan.checkpoint.with_floors`).
        restart_floor: ``{track: cells}`` or ``"drums=8"``: a track silent in the previous bar comes
            back only with a pattern (the same).
        hold_floor: ``{track: floor}`` or ``"bass=0.3"``: a note goes on while its row stays over the
            floor (the same).
        chain_rules: how the daemon keeps chains of the model's bars alive and in range
            (``daemon.models.gan_chain``), written as ``training.chain``.

    Returns:
        ``onnx_path``.

    Raises:
        ModelError: the checkpoint cannot be read, or the choice among candidates cannot be set.
    """
    ckpt = with_floors(choose_among(load_checkpoint(checkpoint, weights, switch_cost), candidates, length_prior, data),
                       pitch_class_floor, restart_floor, hold_floor)
    if chain_rules is not None:
        ckpt = replace(ckpt, training={**ckpt.training, "chain": chain_rules.check(ckpt.spec).to_dict(ckpt.spec)})
    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    outputs = output_names(ckpt)
    inputs = input_names(ckpt)
    if ckpt.config.hears_chords and SCORE_NAME in outputs:
        raise ModelError("a model that hears chords is exported with one candidate a bar; drop --candidates")
    chained = ckpt.config.hears_chords and chain_rules is not None and chain_rules.candidates > 1
    generator: torch.nn.Module = (ScoredGenerator(ckpt.generator, ckpt.critic) if SCORE_NAME in outputs
                                  else ChordInput(ckpt.generator, chained) if ckpt.config.hears_chords
                                  else ckpt.generator.eval())
    prev, cond = condition_features(None, ckpt.spec, 2)
    noise = torch.zeros(2, ckpt.config.z_dim)
    axes = {name: {0: BATCH_AXIS} for name in (*inputs, *outputs)}
    if SCORE_NAME in outputs or chained:  # K candidates of each previous bar: noise (N, K, Z), roll (N, K, ...)
        noise = torch.zeros(2, 3, ckpt.config.z_dim)
        for name in ("noise", *outputs):
            axes[name][1] = CANDIDATE_AXIS
    example: tuple[torch.Tensor, ...] = (noise, torch.from_numpy(prev), torch.from_numpy(cond))
    if ckpt.config.hears_chords:
        example = (*example, torch.zeros(2, CHORD_DIM))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter says it is legacy
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # sizes after the batch axis are constants
        torch.onnx.export(generator, example, str(onnx_path), input_names=inputs,
                          output_names=outputs, dynamic_axes=axes, opset_version=OPSET,
                          do_constant_folding=True, dynamo=False)
    model = onnx.load(str(onnx_path))
    _set_metadata(model, gan_metadata(ckpt))
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))
    log.info("exported %s -> %s (bars %s, z %d)", ckpt.path, onnx_path, ckpt.spec.bar_shape, ckpt.config.z_dim)
    return onnx_path


class TorchSession:
    """A PyTorch generator behind the small part of the onnxruntime session API that
    :class:`~daemon.models.gan.GanModel` uses, so the daemon's own sampling code runs on both.
    With a critic, or with ``candidates``, it takes the graph's candidate form
    (:class:`ScoredGenerator`, :class:`ChordInput`), as a file exported with candidates does."""

    @dataclass(frozen=True)
    class _Arg:
        name: str
        shape: tuple[Any, ...]

    def __init__(self, generator: Generator | PitchClassFloor | HoldFloor | RestartFloor, critic: Critic | None = None,
                 candidates: bool = False) -> None:
        self.generator = generator.eval()
        self.scored = ScoredGenerator(generator, critic) if critic is not None else None
        self.candidate_form = candidates or self.scored is not None
        cfg = generator.config
        bar = ("batch", cfg.n_tracks, cfg.n_steps, cfg.n_pitches)
        noise = ("batch", CANDIDATE_AXIS, cfg.z_dim) if self.candidate_form else ("batch", cfg.z_dim)
        self.hears_chords = cfg.hears_chords
        self._inputs = [self._Arg("noise", noise), self._Arg("previous", bar),
                        self._Arg("condition", ("batch", cfg.cond_dim - (CHORD_DIM if cfg.hears_chords else 0)))]
        if cfg.hears_chords:
            self._inputs.append(self._Arg(CHORD_INPUT, ("batch", CHORD_DIM)))

    def get_inputs(self) -> list[Any]:
        return list(self._inputs)

    def get_outputs(self) -> list[Any]:
        return [self._Arg(name, ()) for name in (*OUTPUT_NAMES, *([SCORE_NAME] if self.scored else []))]

    def run(self, output_names: Sequence[str], feed: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        inputs = [torch.from_numpy(np.asarray(feed[n])) for n in INPUT_NAMES]
        if self.hears_chords:  # the generator's condition is the previous bar's and the chord, joined
            inputs[2] = torch.cat([inputs[2], torch.from_numpy(np.asarray(feed[CHORD_INPUT]))], dim=1)
        with torch.inference_mode():
            if self.scored is not None and SCORE_NAME in output_names:
                roll, score = self.scored(*inputs)
            elif self.candidate_form:  # the candidate form, without the critic
                roll, score = self.generator.candidates(*inputs), None
                roll = roll.reshape(-1, int(inputs[0].shape[1]), *dims(roll))
            elif SCORE_NAME in output_names:
                raise ValueError(f"this session has no critic for {SCORE_NAME!r}")
            else:
                roll, score = self.generator(*inputs), None
        return [roll.numpy() if name == OUTPUT_NAMES[0] else score.numpy() for name in output_names]


def torch_gan_model(ckpt: GanCheckpoint) -> GanModel:
    """The checkpoint's generator wrapped as a daemon :class:`GanModel` (PyTorch eager inside),
    decoding the same monophonic tracks as the exported file."""
    names = [t.name for t in ckpt.spec.tracks]
    costs = ckpt.switch_costs
    candidates = int(ckpt.training.get("candidates", 1))
    session = TorchSession(ckpt.generator, ckpt.critic if candidates > 1 else None)
    return GanModel(session, ckpt.spec, ckpt.config.z_dim, {"kind": KIND},
                    tuple(names.index(n) for n in ckpt.voices), ckpt.any_row, tuple(costs[n] for n in ckpt.voices),
                    candidates, *length_prior(ckpt.training.get("note_length_prior"), names, ckpt.spec.steps_per_bar),
                    noise_per_bar=candidates > 1, hears_chords=ckpt.config.hears_chords)


def as_exported(ckpt: GanCheckpoint, gan: GanModel) -> GanCheckpoint:
    """``ckpt`` choosing among candidates as the exported ``gan`` does (its ``candidates`` and
    ``note_length_prior``) and with its decoding floors, so :func:`torch_gan_model` runs the
    file's own path."""
    training = gan.metadata.get("training", {})
    chosen = {k: v for k, v in training.items() if k in ("candidates", "note_length_prior")}
    return with_floors(replace(ckpt, training={**ckpt.training, **chosen}), training.get("pitch_class_floor"),
                       training.get("restart_floor"), training.get("hold_floor"))


@dataclass(frozen=True)
class GanParityReport:
    """How closely onnxruntime reproduces PyTorch.

    Attributes:
        bars: previous bars in the batch check (half conditioned on random bars, half not; in a file
            with candidates, each makes ``PARITY_CANDIDATES`` rolls).
        max_abs_diff: largest ``|p_ort - p_torch|`` over every cell (and, in a file with
            candidates, every critic score's difference over the largest score, at least 1).
        mean_abs_diff: mean of the same.
        flipped_cells: cells whose threshold-0.5 binarisation differs.
        cells: cells compared.
        chained_bars: bars sampled one after another, each conditioned on the last, by the
            daemon's :meth:`GanModel.sample_bars` on both runtimes with the same seed.
        chained_equal: True when both chains are identical, note for note.
        atol: the tolerance ``max_abs_diff`` is held to.
        ok: within tolerance and chains identical.
    """

    bars: int
    max_abs_diff: float
    mean_abs_diff: float
    flipped_cells: int
    cells: int
    chained_bars: int
    chained_equal: bool
    atol: float
    ok: bool

    def summary(self) -> str:
        verdict = "OK" if self.ok else "FAILED"
        return (f"GAN parity over {self.bars} bars (atol {self.atol:g}): {verdict}; max |diff| {self.max_abs_diff:.3g}, "
                f"mean {self.mean_abs_diff:.3g}; {self.flipped_cells} of {self.cells:,} cells binarise differently; "
                f"{self.chained_bars} chained bars {'identical' if self.chained_equal else 'DIFFER'}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_gan_parity(checkpoint: str | Path, onnx_path: str | Path, bars: int = 64, chained_bars: int = 16,
                     seed: int = 0, atol: float = 1e-4, weights: str = AVERAGE,
                     switch_cost: Any = 0.0) -> GanParityReport:
    """Run the PyTorch generator and the ONNX file on the same inputs and compare.

    Args:
        checkpoint: the checkpoint the file was exported from.
        onnx_path: the exported file (opened as the daemon opens it, one thread).
        bars: bars in the batch check.
        chained_bars: bars in the chained (daemon path) check.
        seed: seed of noise and conditioning bars.
        atol: tolerance on probabilities.
        weights: the generator weights the file was exported with.
        switch_cost: the voice switch cost it was exported with (the chains decode voices
            with it on the PyTorch side, with the file's own on the onnxruntime side).
    """
    ort_model = open_gan(onnx_path)
    ckpt = as_exported(load_checkpoint(checkpoint, weights, switch_cost), ort_model)  # chains choose as the file does
    spec = ckpt.spec
    rng = np.random.default_rng(seed)
    previous = rng.random((bars, *spec.bar_shape)) < 0.08  # (B, T, S, P) random sparse bars
    half = bars // 2
    prev, cond = condition_features(previous, spec)
    prev[half:], cond[half:] = 0.0, 0.0  # the second half unconditioned
    names = output_names(ckpt)
    each = (PARITY_CANDIDATES,) if ort_model.noise_per_bar else ()  # the candidate form: rolls of each bar
    noise = rng.standard_normal((bars, *each, ckpt.config.z_dim)).astype(np.float32)
    feed = {"noise": noise, "previous": prev, "condition": cond}
    if ckpt.config.hears_chords:  # random chords, a quarter of them none
        chord = (rng.random((bars, CHORD_DIM)) < 0.3).astype(np.float32)
        chord[:, -1] = rng.random(bars) >= 0.25
        chord[chord[:, -1] == 0] = 0.0
        feed[CHORD_INPUT] = chord
    ort_out = ort_model.session.run(names, feed)
    torch_out = TorchSession(ckpt.generator, ckpt.critic if len(names) > 1 else None,
                             ort_model.noise_per_bar).run(names, feed)
    p_ort, p_torch = ort_out[0], torch_out[0]
    diff = np.abs(p_ort.astype(np.float64) - p_torch.astype(np.float64))
    if len(names) > 1:  # the critic's scores, relative to the largest (at least 1)
        scale = max(1.0, float(np.abs(torch_out[1]).max()))
        diff = np.concatenate([diff.reshape(-1), np.abs(ort_out[1] - torch_out[1]).reshape(-1) / scale])
    flipped = int(((p_ort > 0.5) != (p_torch > 0.5)).sum())
    chain_ort = ort_model.sample_bars(chained_bars, None, np.random.default_rng(seed + 1))
    chain_torch = torch_gan_model(ckpt).sample_bars(chained_bars, None, np.random.default_rng(seed + 1))
    equal = bool(np.array_equal(chain_ort.active, chain_torch.active)
                 and np.array_equal(chain_ort.onset, chain_torch.onset))
    max_diff = float(diff.max())
    return GanParityReport(bars, max_diff, float(diff.mean()), flipped, int(p_ort.size), chained_bars, equal, atol,
                           ok=max_diff <= atol and equal)
