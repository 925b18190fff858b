"""Sample pianoroll bars from an exported GAN generator with onnxruntime.

The generator graph (written by ``export/gan.py``) maps

* ``noise``     float32 ``(B, Z)``               standard normal,
* ``previous``  float32 ``(B, tracks, steps, pitches)`` the previous bar's active roll (0/1),
* ``condition`` float32 ``(B, 13)``              the previous bar's pitch-class profile (12)
  and a flag that says whether there is a previous bar at all (1) or not (0),

to ``roll`` float32 ``(B, tracks, steps, pitches)`` in [0, 1]. A file exported with candidates
takes ``K`` noise vectors for each previous bar, ``noise`` ``(B, K, Z)``, and puts out ``K``
rolls of each, ``roll`` ``(B, K, tracks, steps, pitches)``, and ``score`` float32 ``(B, K)``:
the training critic's judgement of each thresholded roll (higher = more like the training
bars; :func:`choose_candidates`); what depends on the previous bar alone is computed once for
its ``K`` candidates. ``K`` is free: 1 for a single bar. A file whose model hears chords has a
fourth input, ``chord`` float32 ``(B, 13)``: the pitch classes of the chord the bar is played
over and a flag (1) or all zeros for no chord (:func:`daemon.music.harmony.chord_vector`).
:func:`condition_features`
builds the two conditioning inputs from bars; training imports it too, so the model is fed
exactly what it learned on. A zero ``previous`` with flag 0 is the *unconditioned* sample
(the model was trained with conditioning dropout).

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from daemon.errors import AntiphonError, ModelError
from daemon.models.onnx_file import open_session
from daemon.music.bar_features import condition_features
from daemon.music.codecs import codec_from_dict
from daemon.music.grid import DEFAULT_VELOCITY
from daemon.music.harmony import CHORD_DIM
from daemon.music.pianoroll import Bars, RollSpec, binarise
from daemon.music.voices import (
    ANY_ROW,
    LIKELIEST_ROW,
    MAX_CANDIDATES,
    VOICE_DECODINGS,
    choose_candidates,
    decode_voices,
    switch_costs,
)

log = logging.getLogger(__name__)
KIND = "gan"
FORMAT_VERSION = "1"
META_PREFIX = "antiphon."
INPUT_NAMES = ("noise", "previous", "condition")
CHORD_INPUT = "chord"  # in files whose model hears the chord of the bar it makes
OUTPUT_NAMES = ("roll",)
CANDIDATE_AXIS = "candidates"  # noise (B, K, Z) of a file exported with candidates
SCORE_NAME = "score"  # the critic's score of each thresholded roll, in files exported with candidates


def _gan_metadata(info: Any) -> dict[str, Any]:
    """The ``antiphon.*`` metadata as a dict keyed without the prefix, from either a
    ``daemon.models.onnx_file.ModelInfo`` or a raw ``metadata_props`` mapping of JSON strings."""
    if hasattr(info, "representation") and hasattr(info, "kind"):
        return {"format": FORMAT_VERSION, "kind": info.kind, "representation": info.representation,
                "model_config": info.model_config, "inputs": list(info.inputs), "outputs": list(info.outputs),
                "training": dict(info.training), "metrics": dict(info.metrics)}
    out: dict[str, Any] = {}
    for key, value in dict(info).items():
        name = key.removeprefix(META_PREFIX)
        if isinstance(value, str):
            try:
                out[name] = json.loads(value)
            except json.JSONDecodeError:
                out[name] = value
        else:
            out[name] = value
    return out


@dataclass(repr=False)
class GanModel:
    """A GAN generator in an onnxruntime session, with its representation.

    Not thread-safe: one owner (the engine thread) calls it.

    Attributes:
        session: an ``onnxruntime.InferenceSession`` of the generator graph.
        spec: the pianoroll layout of the bars it makes.
        z_dim: width of the noise input.
        metadata: every ``antiphon.*`` metadata entry, parsed, keyed without the prefix.
        monophonic: indices of tracks decoded one note per step (:func:`one_per_step`); from
            ``training.monophonic_tracks`` in the metadata (the tracks the training data plays
            one note at a time).
        any_row: how a voice is decoded (:func:`one_per_step`): ``training.voice_decoding`` in
            the metadata is ``any-row`` for a model trained with voice neurons.
        switch_costs: each monophonic track's cost of changing pitch or between note and rest
            (:func:`decode_voices`), from ``training.voice_switch_cost`` in the metadata (set at
            export; 0, each step on its own, when absent).
        candidates: thresholded bars that answer a previous bar are made this many at a time and
            the best one played (:func:`choose_candidates`), from ``training.candidates`` (set at
            export; the graph then has a ``score`` output). 1: the first and only.
        length_tracks, length_log_p, length_weight: the note-length prior of the choice, from
            ``training.note_length_prior`` (``{"weight": w, "log_p": {track: [log p of 1..S steps]}}``).
        noise_per_bar: the graph takes noise ``(B, K, Z)``, ``K`` rolls of each previous bar
            (files exported with candidates); otherwise ``(B, Z)``, one roll each.
        hears_chords: the graph has a ``chord`` input: the chord of the bar it makes.
    """

    session: Any
    spec: RollSpec
    z_dim: int
    metadata: Mapping[str, Any]
    monophonic: tuple[int, ...] = ()
    any_row: bool = False
    switch_costs: tuple[float, ...] = ()
    candidates: int = 1
    length_tracks: tuple[int, ...] = ()
    length_log_p: np.ndarray | None = None
    length_weight: float = 0.0
    noise_per_bar: bool = False
    hears_chords: bool = False

    @property
    def kind(self) -> str:
        return KIND

    def __repr__(self) -> str:
        names = "/".join(t.name for t in self.spec.tracks)
        return f"GanModel({names}, bars {self.spec.bar_shape}, z {self.z_dim})"

    def roll(self, previous: np.ndarray | None, rng: np.random.Generator, n: int = 1,
             chord: np.ndarray | None = None, each: int = 1) -> np.ndarray:
        """Real-valued rolls ``(N * each, tracks, steps, pitches)`` in [0, 1], ``each`` per previous
        bar, one after another (or ``n * each`` unconditioned ones when ``previous`` is None);
        ``chord`` ``(N, 13)`` the chord of each bar (ignored by a model that hears none)."""
        return self._run(previous, rng, n, list(OUTPUT_NAMES), each, chord)[0]

    def candidate_bars(self, previous: np.ndarray | None, rng: np.random.Generator, threshold: float, k: int,
                       n: int = 1, chord: np.ndarray | None = None) -> np.ndarray:
        """bool ``(N, k, tracks, steps, pitches)``: ``k`` bars of each previous bar (or of ``n``
        unconditioned ones), thresholded and with their voices decoded as they are played."""
        count = n if previous is None else len(previous)
        roll = self.roll(previous, rng, count, chord, k)
        roll = (self._decode(roll, threshold) if self.monophonic else roll) > threshold
        for t, track in enumerate(self.spec.tracks):
            roll[:, t, :, track.rows:] = False
        return roll.reshape(count, k, *self.spec.bar_shape)

    def scored(self, previous: np.ndarray | None, rng: np.random.Generator, n: int = 1,
               each: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`roll` and the critic's score of each thresholded roll ``(N,)`` (files exported with
        candidates); ``each`` > 1 makes that many rolls of every previous bar, one after another."""
        roll, score = self._run(previous, rng, n, [*OUTPUT_NAMES, SCORE_NAME], each)
        return roll, score.reshape(-1)

    def _run(self, previous: np.ndarray | None, rng: np.random.Generator, n: int, outputs: list[str],
             each: int = 1, chord: np.ndarray | None = None) -> list[np.ndarray]:
        prev, cond = condition_features(previous, self.spec, n)
        feed = {"previous": prev, "condition": cond}
        if self.hears_chords:
            feed[CHORD_INPUT] = self._chords(chord, len(prev))
        if self.noise_per_bar:  # the graph makes each previous bar's `each` rolls from it once
            feed["noise"] = rng.standard_normal((len(prev), each, self.z_dim), dtype=np.float32)  # (N, K, Z)
            out = self.session.run(outputs, feed)
            return [np.asarray(o, np.float32).reshape(-1, *np.shape(o)[2:]) for o in out]  # (N*K, ...)
        if each > 1:  # the features of each previous bar once, then repeated for its candidates
            feed = {name: np.repeat(value, each, axis=0) for name, value in feed.items()}
        feed["noise"] = rng.standard_normal((len(feed["previous"]), self.z_dim), dtype=np.float32)  # (B, Z)
        out = self.session.run(outputs, feed)
        return [np.asarray(o, np.float32) for o in out]

    @staticmethod
    def _chords(chord: np.ndarray | None, n: int) -> np.ndarray:
        if chord is None:
            return np.zeros((n, CHORD_DIM), np.float32)
        out = np.asarray(chord, np.float32).reshape(-1, CHORD_DIM)
        if len(out) == 1 and n > 1:
            out = np.repeat(out, n, axis=0)
        if len(out) != n:
            raise ModelError(f"{len(out)} chords for {n} bars")
        return out

    def sample_batch(self, previous: np.ndarray | None, rng: np.random.Generator, threshold: float | None = 0.5,
                     n: int = 1, velocity: int = DEFAULT_VELOCITY, chord: np.ndarray | None = None) -> Bars:
        """Independent bars, one per previous bar (or ``n`` unconditioned), binarised by
        ``threshold`` or, with ``threshold=None``, by a Bernoulli draw from ``rng`` (monophonic
        tracks first decoded as voices, :func:`decode_voices`). Thresholded and conditioned, a
        model with ``candidates`` > 1 makes that many of each bar and keeps the best
        (:func:`choose_candidates`); Bernoulli sampling and unconditioned bars draw one (the
        critic favours near-empty bars when nothing came before). ``chord`` ``(N, 13)``: the chord of
        each bar, for a model that hears chords."""
        k = self.candidates if threshold is not None and previous is not None else 1
        if k == 1:
            roll = self._decode(self.roll(previous, rng, n, chord), threshold)
        else:
            count = len(previous)
            many, scores = self.scored(previous, rng, count, each=k)
            many = self._decode(many, threshold)
            pick = choose_candidates(many > threshold, scores, k, self.length_tracks, self.length_log_p,
                                     self.length_weight)
            roll = many.reshape(count, k, *self.spec.bar_shape)[np.arange(count), pick]
        return binarise(roll, self.spec, threshold, rng, velocity)

    def _decode(self, roll: np.ndarray, threshold: float | None) -> np.ndarray:
        return decode_voices(roll, self.monophonic, self.any_row, self.switch_costs or 0.0, threshold)

    def sample_bars(self, n: int, condition: Bars | np.ndarray | None = None, rng: np.random.Generator | None = None,
                    threshold: float | None = 0.5, velocity: int = DEFAULT_VELOCITY) -> Bars:
        """``n`` consecutive bars, each conditioned on the bar before it.

        Args:
            n: bars to make (>= 1).
            condition: bars to continue from (:class:`Bars`, or an active roll ``(N, T, S, P)``;
                the last bar conditions the first new bar), or None to start unconditioned.
            rng: random source for noise and Bernoulli binarisation (a fresh one if None).
            threshold: binarisation threshold in (0, 1), or None for Bernoulli sampling.
            velocity: MIDI velocity of every onset.

        Returns:
            Bars ``(n, tracks, steps, pitches)``; notes held across a bar line are tied.
        """
        if n < 1:
            raise ModelError(f"asked for {n} bars; ask for at least one")
        generator = rng if rng is not None else np.random.default_rng()
        previous: np.ndarray | None = None
        roll = condition.active if isinstance(condition, Bars) else condition
        if roll is not None and len(roll):
            previous = np.asarray(roll[-1:], bool)  # (1, T, S, P)
            if previous.shape[1:] != self.spec.bar_shape:
                raise ModelError(
                    f"conditioning bars of shape {previous.shape[1:]} do not fit this model's bars {self.spec.bar_shape}")
        made: list[np.ndarray] = []
        for _ in range(n):
            bar = self.sample_batch(previous, generator, threshold, 1, velocity).active  # (1, T, S, P)
            made.append(bar)
            previous = bar
        active = np.concatenate(made, axis=0).astype(np.float32)  # (n, T, S, P)
        return binarise(active, self.spec, 0.5, None, velocity)  # onsets inferred across bar lines


def load_gan(session: Any, info: Any) -> GanModel:
    """Build a :class:`GanModel` from an open session and its metadata.

    Args:
        session: an ``onnxruntime.InferenceSession`` of a generator graph.
        info: a ``daemon.models.onnx_file.ModelInfo`` or the file's raw ``metadata_props`` mapping.

    Raises:
        ModelError: the file is not a GAN of a format and representation this version reads.
    """
    meta = _gan_metadata(info)
    if str(meta.get("kind")) != KIND:
        raise ModelError(f"this model is a {meta.get('kind')!r} model, not a GAN; choose a GAN preset or model file")
    if str(meta.get("format")) != FORMAT_VERSION:
        raise ModelError(f"model file format {meta.get('format')!r} is not known to this Antiphon "
                         f"(it reads {FORMAT_VERSION}); re-export the model or upgrade Antiphon")
    representation = meta.get("representation")
    if not isinstance(representation, Mapping):
        raise ModelError("the model file names no representation; re-export it with 'antiphon export gan'")
    try:
        spec = codec_from_dict(representation)
    except AntiphonError as exc:
        raise ModelError(f"the GAN's representation: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"the model's representation cannot be read ({exc!r}); re-export it") from exc
    if not isinstance(spec, RollSpec):
        raise ModelError(f"a GAN needs a pianoroll representation, this file has {representation.get('name')!r}")
    inputs = {i.name: i for i in session.get_inputs()}
    if set(inputs) - {CHORD_INPUT} != set(INPUT_NAMES):
        raise ModelError(f"the GAN graph's inputs are {sorted(inputs)}, expected {list(INPUT_NAMES)} "
                         f"(and {CHORD_INPUT!r} for a model that hears chords); re-export it")
    shape = inputs["previous"].shape
    if tuple(shape[1:]) != spec.bar_shape:
        raise ModelError(f"the GAN graph takes bars of {tuple(shape[1:])} but its representation says "
                         f"{spec.bar_shape}; the file is inconsistent, re-export it")
    z_dim = inputs["noise"].shape[-1]
    if not isinstance(z_dim, int) or z_dim < 1 or len(inputs["noise"].shape) not in (2, 3):
        raise ModelError(f"the GAN graph's noise input has shape {inputs['noise'].shape}; re-export it")
    training = meta.get("training") if isinstance(meta.get("training"), Mapping) else {}
    names = [t.name for t in spec.tracks]
    mono = tuple(names.index(name) for name in training.get("monophonic_tracks", []) if name in names)
    decoding = training.get("voice_decoding", LIKELIEST_ROW)
    if decoding not in VOICE_DECODINGS:
        raise ModelError(f"the model asks for voice decoding {decoding!r}; this Antiphon knows "
                         f"{', '.join(VOICE_DECODINGS)}")
    try:
        costs = switch_costs(training.get("voice_switch_cost", 0.0), [names[t] for t in mono])
    except ModelError as exc:
        raise ModelError(f"the model's {exc}; re-export it") from exc
    candidates = training.get("candidates", 1)
    if isinstance(candidates, bool) or not isinstance(candidates, int) or not 1 <= candidates <= MAX_CANDIDATES:
        raise ModelError(f"the model asks for {candidates!r} candidates a bar; expected a whole number from 1 to "
                         f"{MAX_CANDIDATES}; re-export it")
    outputs = {o.name for o in session.get_outputs()}
    if candidates > 1 and SCORE_NAME not in outputs:
        raise ModelError(f"the model asks for {candidates} candidates a bar but its graph has no {SCORE_NAME!r} "
                         "output to choose by; re-export it")
    tracks, log_p, weight = length_prior(training.get("note_length_prior"), names, spec.steps_per_bar)
    return GanModel(session, spec, z_dim, meta, mono, decoding == ANY_ROW, tuple(costs.values()), candidates,
                    tracks, log_p, weight, noise_per_bar=len(inputs["noise"].shape) == 3,
                    hears_chords=CHORD_INPUT in inputs)


def length_prior(value: Any, names: Sequence[str], steps: int) -> tuple[tuple[int, ...], np.ndarray | None, float]:
    """``training.note_length_prior`` of a model file -> (track indices, log p ``(V, steps)``, weight).

    Raises:
        ModelError: not ``{"weight": w >= 0, "log_p": {track: [steps log-probabilities]}}``.
    """
    if value is None:
        return (), None, 0.0
    try:
        weight = float(value["weight"])
        table = dict(value["log_p"])
        log_p = np.array([[float(x) for x in table[name]] for name in table], np.float64).reshape(len(table), -1)
        tracks = tuple(list(names).index(name) for name in table)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"the model's note-length prior cannot be read ({exc!r}); re-export it") from exc
    if not math.isfinite(weight) or weight < 0 or log_p.shape[1] != steps or not np.all(log_p <= 0.0):
        raise ModelError(f"the model's note-length prior (weight {weight}, {log_p.shape[1]} lengths for bars of "
                         f"{steps} steps) does not fit; re-export it")
    return tracks, log_p, weight


def open_gan(path: str | Path, threads: int = 1) -> GanModel:
    """Open a GAN ``.onnx`` file on the CPU with ``threads`` intra-op threads.

    Raises:
        ModelError: the file is missing, not ONNX, or not a GAN this version reads.
    """
    session, info = open_session(path, intra_op_num_threads=threads)
    try:
        return load_gan(session, info)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from exc
