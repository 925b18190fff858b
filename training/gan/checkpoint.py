"""Write and read GAN checkpoints.

A checkpoint is one ``torch.save`` dict::

    {"kind": "gan", "model_args": asdict(GanConfig), "representation": spec.to_dict(),
     "generator": state_dict, "critic": state_dict,
     "training": {...}, "metrics": {...},
     "resume": {"optim_g": ..., "optim_d": ..., "epoch": int, "g_steps": int, ...}}

Every value is a tensor or a plain Python value, so ``torch.load(weights_only=True)`` reads it.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from daemon.errors import AntiphonError, ModelError
from daemon.music.codecs import codec_from_dict
from daemon.music.pianoroll import RollSpec
from daemon.music.voices import ANY_ROW, switch_costs
from training.gan.floors import HoldFloor, PitchClassFloor, RestartFloor
from training.gan.model import Critic, GanConfig, Generator

log = logging.getLogger(__name__)

KIND = "gan"
AVERAGE, TRAINED = "average", "trained"
WEIGHTS = (AVERAGE, TRAINED)  # the generator weights a checkpoint offers: the moving average (what is saved
# as "generator") or, in checkpoint.pt, the trained weights themselves (resume["generator_train"])


@dataclass
class GanCheckpoint:
    """A loaded GAN checkpoint; both networks in eval mode on the CPU."""

    path: Path
    config: GanConfig
    spec: RollSpec
    generator: Generator | PitchClassFloor | HoldFloor | RestartFloor  # the network, or it with its decoding floors (with_floors)
    critic: Critic
    training: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    resume: Mapping[str, Any] = field(default_factory=dict)

    @property
    def any_row(self) -> bool:
        """Voices decoded any-row (a model trained with voice neurons), as its file will say."""
        return self.training.get("voice_decoding") == ANY_ROW

    @property
    def voices(self) -> list[str]:
        """The tracks decoded as voices, one note at a time (the training data plays them so)."""
        names = [t.name for t in self.spec.tracks]
        return [n for n in self.training.get("monophonic_tracks", []) if n in names]

    @property
    def switch_costs(self) -> dict[str, float]:
        """Each voice's cost of a change when decoded (``daemon.music.voices.decode_voices``), as its file will say."""
        return switch_costs(self.training.get("voice_switch_cost", 0.0), self.voices)


def plain(value: Any) -> Any:
    """``value`` with numpy scalars, tuples-of-plain and Counters turned into plain Python values."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, torch.Tensor):
        return value.item()
    return value


def save_checkpoint(path: str | Path, config: GanConfig, spec: RollSpec, generator: torch.nn.Module,
                    critic: torch.nn.Module, training: Mapping[str, Any], metrics: Mapping[str, Any],
                    resume: Mapping[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "kind": KIND,
        "model_args": asdict(config),
        "representation": spec.to_dict(),
        "generator": {k: v.detach().cpu() for k, v in generator.state_dict().items()},
        "critic": {k: v.detach().cpu() for k, v in critic.state_dict().items()},
        "training": plain(training),
        "metrics": plain(metrics),
        "resume": dict(resume or {}),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(data, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, weights: str = AVERAGE, switch_cost: Any = 0.0) -> GanCheckpoint:
    """Rebuild config, representation and both networks from a checkpoint.

    Args:
        path: a ``.pt`` written by ``antiphon train gan``.
        weights: the generator's weights: ``average`` (the exponential moving average, what
            training saves, samples and evaluates) or ``trained`` (the weights the last step
            left, which ``checkpoint.pt`` keeps for ``--resume``). The choice is recorded in
            ``training["generator_weights"]``, so an exported file says which it carries.
        switch_cost: how its voices are to be decoded (``daemon.music.voices.decode_voices``):
            a number for every voice, ``{voice: cost}`` or their command-line text
            (``daemon.music.voices.switch_costs``); recorded per voice as
            ``training["voice_switch_cost"]`` for evaluation, export and the daemon.

    Raises:
        ModelError: missing or unreadable file, not a GAN checkpoint, weights that do not fit, or
            ``trained`` asked of a file that has no trained weights (``best.pt``), or a
            ``switch_cost`` that is negative or names a track that is not a voice.
    """
    if weights not in WEIGHTS:
        raise ModelError(f"unknown generator weights {weights!r}; choose one of {', '.join(WEIGHTS)}")
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint {path} does not exist; train one with 'antiphon train gan --out DIR'")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise ModelError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, Mapping) or data.get("kind") != KIND:
        kind = data.get("kind") if isinstance(data, Mapping) else type(data).__name__
        raise ModelError(f"{path} is a {kind!r} checkpoint, not a GAN one")
    try:
        args = dict(data["model_args"])
        args["track_rows"] = tuple(args["track_rows"])
        if "voices" in args:
            args["voices"] = tuple(args["voices"])
        config = GanConfig(**args)
        spec = codec_from_dict(data["representation"])
    except (KeyError, TypeError, ValueError, AntiphonError) as exc:
        raise ModelError(f"{path}: model_args or representation cannot be read ({exc})") from exc
    if not isinstance(spec, RollSpec) or spec.bar_shape != (config.n_tracks, config.n_steps, config.n_pitches):
        raise ModelError(f"{path}: the representation does not match the model's bar shape")
    generator, critic = Generator(config), Critic(config)
    resume = data.get("resume", {}) or {}
    if weights == TRAINED and "generator_train" not in resume:
        raise ModelError(f"{path} keeps only the generator's moving average (best.pt does); "
                         "the trained weights are in the run's checkpoint.pt")
    try:
        generator.load_state_dict(resume["generator_train"] if weights == TRAINED else data["generator"])
        critic.load_state_dict(data["critic"])
    except (KeyError, RuntimeError) as exc:
        raise ModelError(f"{path}: weights do not fit the model ({str(exc).splitlines()[0]})") from exc
    generator.eval()
    critic.eval()
    training = {**(data.get("training", {}) or {}), "generator_weights": weights}
    checkpoint = GanCheckpoint(path, config, spec, generator, critic, training, data.get("metrics", {}) or {}, resume)
    try:
        training["voice_switch_cost"] = switch_costs(switch_cost, checkpoint.voices)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from exc
    return checkpoint


def choose_among(checkpoint: GanCheckpoint, candidates: int = 1, length_prior: float = 0.0,
                 data: str | Path | None = None) -> GanCheckpoint:
    """Record in ``checkpoint.training`` that bars are to be made ``candidates`` at a time and the
    best played (``daemon.music.voices.choose_candidates``): the critic's score of each, plus
    ``length_prior`` times the log-likelihood of its voices' note lengths under the training
    bars' (read from the corpus cache ``data``; the checkpoint's own sources, train split).

    Raises:
        ModelError: ``candidates`` out of range, a negative prior, or a prior without voices or data.
    """
    from daemon.music.voices import MAX_CANDIDATES, note_length_log_p

    if not 1 <= candidates <= MAX_CANDIDATES:
        raise ModelError(f"--candidates must be from 1 to {MAX_CANDIDATES}, got {candidates}")
    if not math.isfinite(length_prior) or length_prior < 0:
        raise ModelError(f"--length-prior must be a number >= 0, got {length_prior}")
    if length_prior > 0 and candidates == 1:
        raise ModelError("the note-length prior chooses among candidates: give --candidates 2 or more")
    training = dict(checkpoint.training)
    training.pop("note_length_prior", None)
    training["candidates"] = int(candidates)
    if length_prior > 0:
        if not checkpoint.voices:
            raise ModelError(f"{checkpoint.path}: the note-length prior weighs voices; this model has none")
        if data is None:
            raise ModelError("the note-length prior is learned from the training bars: give --data")
        from training.gan.data import load_bar_set

        sources = list(checkpoint.training.get("sources", ["grooves"]))
        bars = load_bar_set(data, sources, "train", checkpoint.spec).bars
        names = [t.name for t in checkpoint.spec.tracks]
        log_p = note_length_log_p(bars, [names.index(v) for v in checkpoint.voices])
        training["note_length_prior"] = {"weight": float(length_prior),
                                         "log_p": {v: [round(float(x), 6) for x in row]
                                                   for v, row in zip(checkpoint.voices, log_p, strict=True)}}
    return replace(checkpoint, training=training)


def track_numbers(value: Any, number: Callable[[str], Any], what: str, form: str) -> dict[str, Any]:
    """``{track: number}`` from command-line text (``"chords=0.2,bass=0.1"``, each number read by
    ``number``) or a mapping (as it is); None or an empty text gives none.

    Raises:
        ModelError: an item that is not ``track=number``, naming ``what`` and the ``form`` to give.
    """
    if not isinstance(value, str):
        return dict(value or {})
    pairs: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, text = item.partition("=")
        try:
            pairs[name.strip()] = number(text if sep else "no number")
        except ValueError:
            raise ModelError(f"{what} {item!r}: give {form}") from None
    return pairs


def pitch_class_floors(value: Any, spec: RollSpec) -> dict[str, float]:
    """``{track: floor}`` for :class:`~training.gan.floors.PitchClassFloor` from a mapping or command-line
    text (``"chords=0.2"``, several separated by commas); an empty text or mapping gives none.

    Raises:
        ModelError: a name that is not a pitched track, or a floor outside [0, 1).
    """
    return _pitched_floors(value, spec, "pitch-class floor", "chords=0.2", 1.0, "1")


def hold_floors(value: Any, spec: RollSpec) -> dict[str, float]:
    """``{track: floor}`` for :class:`~training.gan.floors.HoldFloor` from a mapping or command-line
    text (``"bass=0.3"``); an empty text or mapping gives none.

    Raises:
        ModelError: a name that is not a pitched track, or a floor outside [0, 0.5).
    """
    return _pitched_floors(value, spec, "hold floor", "bass=0.3", 0.5, "the threshold 0.5")


def _pitched_floors(value: Any, spec: RollSpec, what: str, example: str, below: float,
                    below_text: str) -> dict[str, float]:
    """``{track: floor}`` of pitched tracks, each floor in [0, ``below``); floors of 0 left out."""
    pitched = [t.name for t in spec.tracks if not t.drums]
    floors = {}
    for name, floor in track_numbers(value, float, what, f"track=number ({example})").items():
        if name not in pitched:
            raise ModelError(f"a {what} names {name!r}, not a pitched track of this model "
                             f"(its pitched tracks: {', '.join(pitched) or 'none'})")
        if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0.0 <= floor < below:
            raise ModelError(f"the {what} of {name} must be a number from 0 to below {below_text}, got {floor!r}")
        if floor > 0:
            floors[str(name)] = float(floor)
    return floors


def restart_floors(value: Any, spec: RollSpec) -> dict[str, int]:
    """``{track: cells}`` for :class:`~training.gan.floors.RestartFloor` from a mapping or command-line
    text (``"drums=8"``, several separated by commas); an empty text or mapping gives none.

    Raises:
        ModelError: a name that is not a track, or a floor that is not a whole number >= 0.
    """
    names = [t.name for t in spec.tracks]
    floors = {}
    for name, floor in track_numbers(value, int, "restart floor", "track=cells (drums=8)").items():
        if name not in names:
            raise ModelError(f"a restart floor names {name!r}, not a track of this model (its tracks: {', '.join(names)})")
        if isinstance(floor, bool) or not isinstance(floor, int) or floor < 0:
            raise ModelError(f"the restart floor of {name} must be a whole number of cells >= 0, got {floor!r}")
        if floor > 0:
            floors[str(name)] = floor
    return floors


FLOOR_KEYS = ("pitch_class_floor", "hold_floor", "restart_floor")  # the decoding floors a file's training records


def with_floors(checkpoint: GanCheckpoint, pitch_class_floor: Any, restart_floor: Any,
                hold_floor: Any = None) -> GanCheckpoint:
    """``checkpoint``'s network with exactly these decoding floors, recorded in ``training`` as
    ``pitch_class_floor``, ``hold_floor`` and ``restart_floor``; None or an empty text: none of that kind.

    First the pitch-class floor, :class:`~training.gan.floors.PitchClassFloor` (:func:`pitch_class_floors`:
    in the tracks named, each bar drops the pitch classes it barely plays), then the hold floor,
    :class:`~training.gan.floors.HoldFloor` (:func:`hold_floors`: a note goes on while its row stays
    likely), then the restart floor, :class:`~training.gan.floors.RestartFloor` (:func:`restart_floors`:
    a track silent in the previous bar comes back only with a pattern).

    Raises:
        ModelError: see :func:`pitch_class_floors`, :func:`hold_floors` and :func:`restart_floors`.
    """
    spec = checkpoint.spec
    classes, restarts = pitch_class_floors(pitch_class_floor, spec), restart_floors(restart_floor, spec)
    holds = hold_floors(hold_floor, spec)
    generator = checkpoint.generator
    while isinstance(generator, (PitchClassFloor, HoldFloor, RestartFloor)):
        generator = generator.generator
    training = {k: v for k, v in checkpoint.training.items() if k not in FLOOR_KEYS}
    names = [t.name for t in spec.tracks]
    if classes:
        generator = PitchClassFloor(generator, {names.index(n): f for n, f in classes.items()},
                                    tuple(t.lowest_pitch for t in spec.tracks),
                                    tuple(i for i, t in enumerate(spec.tracks) if not t.drums)).eval()
        training["pitch_class_floor"] = classes
    if holds:
        generator = HoldFloor(generator, {names.index(n): f for n, f in holds.items()}).eval()
        training["hold_floor"] = holds
    if restarts:
        generator = RestartFloor(generator, {names.index(n): f for n, f in restarts.items()}).eval()
        training["restart_floor"] = restarts
    return replace(checkpoint, generator=generator, training=training)
