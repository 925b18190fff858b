"""``antiphon train gan-eval``: generated bars against the training data, MuseGAN-style.

Generates ``--bars`` bars (default 20,000) conditioned on previous bars drawn from the
training split, and as many unconditioned ones, binarises each set by threshold (0.5) and by
Bernoulli sampling, and compares per-track metrics (EB, UPC, QN, PP, DP), tonal distance
between pitched tracks, and how often a bar is in its previous bar's key, with the same
numbers measured on the training bars. Writes ``eval.md``, ``eval.json`` and ``compare.png``
(real bars next to generated ones).

Imports torch inside functions only (``antiphon --help`` stays light).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from daemon.models.gan import length_prior
from daemon.music.bar_features import condition_features
from daemon.music.harmony import CHORD_DIM
from daemon.music.pianoroll import RollSpec, binarise
from daemon.music.voices import ANY_ROW, LIKELIEST_ROW, choose_candidates, decode_voices
from training.gan.data import BarSet
from training.gan.metrics import all_metrics, comparison_table, key_agreement, note_shapes, silence_kept
from training.gan.options import add_decoding_arguments

log = logging.getLogger(__name__)

DEFAULT_BARS = 20_000
THRESHOLD = 0.5
BINARISATIONS = ("threshold", "bernoulli")


def generate_rolls(generator: Any, spec: RollSpec, previous: np.ndarray | None, n: int, seed: int,
                   batch_size: int = 1024, chords: np.ndarray | None = None) -> np.ndarray:
    """Run the generator (in eval mode) on previous bars or unconditioned.

    Args:
        generator: a ``training.gan.model.Generator``.
        spec: the bar layout.
        previous: bool ``(N, T, S, P)`` previous bars, or None for ``n`` unconditioned bars.
        n: bars when ``previous`` is None (else ``len(previous)``).
        seed: noise seed.
        batch_size: bars per forward pass (on the generator's device).
        chords: ``(N, 13)`` the chord of each bar (``daemon.music.harmony.chord_vector``) for a
            model that hears chords (None: no chord); ignored by a model that does not.

    Returns:
        float32 ``(N, T, S, P)`` sigmoid rolls.
    """
    import torch

    total = n if previous is None else len(previous)
    device = next(generator.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    out = np.zeros((total, *spec.bar_shape), np.float32)
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        for start in range(0, total, batch_size):
            stop = min(total, start + batch_size)
            part = None if previous is None else previous[start:stop]
            prev, cond = condition_features(part, spec, stop - start)
            if getattr(generator.config, "hears_chords", False):
                chord = np.zeros((stop - start, CHORD_DIM), np.float32) if chords is None else chords[start:stop]
                cond = np.concatenate([cond, np.asarray(chord, np.float32)], axis=1)
            noise = torch.randn(stop - start, generator.config.z_dim, generator=gen)
            roll = generator(noise.to(device), torch.from_numpy(prev).to(device), torch.from_numpy(cond).to(device))
            out[start:stop] = roll.cpu().numpy()
    generator.train(was_training)
    return out


def binarised(rolls: np.ndarray, spec: RollSpec, how: str, seed: int, monophonic: Sequence[int] = (),
              any_row: bool = False, switch_cost: float | Sequence[float] = 0.0) -> np.ndarray:
    """bool ``(N, T, S, P)`` active steps by ``threshold`` (0.5) or ``bernoulli``, the ``monophonic``
    tracks first decoded as voices (``daemon.music.voices.decode_voices``, as the daemon does)."""
    if how not in BINARISATIONS:
        raise ValueError(f"unknown binarisation {how!r}")
    threshold = THRESHOLD if how == "threshold" else None
    return binarise(decode_voices(rolls, monophonic, any_row, switch_cost, threshold), spec, threshold,
                    np.random.default_rng(seed)).active


@dataclass(frozen=True)
class Selection:
    """Bars made ``candidates`` at a time, the best played (``daemon.music.voices.choose_candidates``):
    the ``critic``'s score of each thresholded roll plus ``weight`` times its ``tracks``' note-length
    log-likelihood (``log_p``)."""

    critic: Any
    candidates: int = 1
    tracks: tuple[int, ...] = ()
    log_p: np.ndarray | None = None
    weight: float = 0.0

    @classmethod
    def of(cls, checkpoint: Any) -> Selection | None:
        """The choice a checkpoint's ``training`` records (``training.gan.checkpoint.choose_among``), or None."""
        k = int(checkpoint.training.get("candidates", 1))
        if k == 1:
            return None
        names = [t.name for t in checkpoint.spec.tracks]
        prior = length_prior(checkpoint.training.get("note_length_prior"), names, checkpoint.spec.steps_per_bar)
        return cls(checkpoint.critic, k, *prior)


def thresholded_bars(generator: Any, spec: RollSpec, previous: np.ndarray | None, n: int, seed: int,
                     monophonic: Sequence[int] = (), any_row: bool = False,
                     switch_cost: float | Sequence[float] = 0.0, selection: Selection | None = None) -> np.ndarray:
    """bool ``(N, T, S, P)`` bars as the daemon plays them at the threshold: voices decoded and,
    with a ``selection`` and ``previous`` bars, the best of each bar's candidates."""
    if selection is None or previous is None:
        return binarised(generate_rolls(generator, spec, previous, n, seed), spec, "threshold", 0, monophonic,
                         any_row, switch_cost)
    import torch

    k = selection.candidates
    total = len(previous)
    out = np.zeros((total, *spec.bar_shape), bool)
    step = max(1, 1024 // k)
    for start in range(0, total, step):
        stop = min(total, start + step)
        part = np.repeat(previous[start:stop], k, axis=0)
        rolls = generate_rolls(generator, spec, part, (stop - start) * k, seed * 7919 + start)
        prev, cond = condition_features(part, spec, len(rolls))
        with torch.no_grad():
            scores = selection.critic(torch.from_numpy((rolls > THRESHOLD).astype(np.float32)), torch.from_numpy(prev),
                                      torch.from_numpy(cond)).numpy()
        decoded = decode_voices(rolls, monophonic, any_row, switch_cost, THRESHOLD)
        pick = choose_candidates(decoded > THRESHOLD, scores, k, selection.tracks, selection.log_p, selection.weight)
        out[start:stop] = decoded.reshape(stop - start, k, *spec.bar_shape)[np.arange(stop - start), pick] > THRESHOLD
    return out


def evaluate(generator: Any, reference: BarSet, n_bars: int = DEFAULT_BARS, seed: int = 0,
             binarisations: tuple[str, ...] = BINARISATIONS, unconditioned: bool = True,
             monophonic: Sequence[str] = (), chain_length: int = 0, any_row: bool = False,
             switch_costs: Mapping[str, float] | None = None, selection: Selection | None = None) -> dict[str, Any]:
    """Metrics of generated bars against ``reference`` (the training bars).

    Tracks named in ``monophonic`` are decoded as voices, as the daemon does (``any_row`` and
    ``switch_costs``, ``{voice: cost}``: ``daemon.music.voices.decode_voices``); with any,
    one more column, ``conditioned/threshold, no voice decoding``, shows the raw model. With
    ``chain_length`` > 1, one more column, ``chained/threshold``: ``n_bars`` bars made as the
    daemon plays them, in chains that start from a real bar and go on from the model's own
    previous bar (``result["chain_density"]``: mean density at each position of the chains).
    With a ``selection``, thresholded bars are the best of their candidates, as the daemon plays
    them (Bernoulli, unconditioned and raw columns draw one).

    Returns:
        ``{"reference": metrics, "reference_key_agreement": ..., "generated": {"conditioned/threshold":
        {"metrics": ..., "key_agreement": ..., "mean_density": ...}, ...}, "bars": n, ...}``.
    """
    spec = reference.spec
    rng = np.random.default_rng(seed)
    pairs = reference.pair_indices
    if not len(pairs):
        raise ValueError("the reference bars have no (previous, bar) pair")
    chosen = rng.choice(pairs, size=n_bars, replace=n_bars > len(pairs))
    previous = reference.bars[reference.previous[chosen]]  # (N, T, S, P)
    started = time.perf_counter()
    assert reference.chords is not None
    rolls = {"conditioned": generate_rolls(generator, spec, previous, n_bars, seed + 1,
                                           chords=reference.chords[chosen])}
    if unconditioned:
        rolls["unconditioned"] = generate_rolls(generator, spec, None, n_bars, seed + 2)
    generation_s = time.perf_counter() - started
    result: dict[str, Any] = {
        "bars": n_bars,
        "seed": seed,
        "generation_s": generation_s,
        "reference_bars": len(reference),
        "reference": all_metrics(reference.bars, spec),
        "reference_key_agreement": key_agreement(reference.bars[reference.previous[pairs]],
                                                 reference.bars[pairs], spec).to_dict(),
        "reference_density": float(reference.bars.mean()),
        "reference_note_shapes": note_shapes(reference.bars, spec),
        "reference_silence_kept": silence_kept(reference.bars[reference.previous[pairs]], reference.bars[pairs], spec),
        "generated": {},
    }
    mono = track_indices(spec, monophonic)
    result["monophonic_tracks"] = [spec.tracks[t].name for t in mono]
    result["voice_decoding"] = ANY_ROW if any_row else LIKELIEST_ROW
    costs = voice_costs(spec, mono, switch_costs)
    result["voice_switch_cost"] = {spec.tracks[t].name: c for t, c in zip(mono, costs, strict=True)}
    columns = [(condition, how, mono) for condition in rolls for how in binarisations]
    if mono:
        columns.append(("conditioned", "threshold", []))
    for condition, how, decode in columns:
        if selection is not None and condition == "conditioned" and how == "threshold" and (decode or not mono):
            active = thresholded_bars(generator, spec, previous, n_bars, seed + 1, mono, any_row, costs, selection)
        else:
            active = binarised(rolls[condition], spec, how, seed + 3, decode, any_row, costs if decode else 0.0)
        name = f"{condition}/{how}" + (", no voice decoding" if mono and not decode else "")
        result["generated"][name] = {
            "metrics": all_metrics(active, spec),
            "key_agreement": key_agreement(previous, active, spec).to_dict(),
            "density": float(active.mean()),
            "note_shapes": note_shapes(active, spec),
        }
        if condition == "conditioned":
            result["generated"][name]["silence_kept"] = silence_kept(previous, active, spec)
    if chain_length > 1:
        chained, before = chained_bars(generator, spec, previous, n_bars, chain_length, seed + 4, mono, any_row,
                                       costs, selection)
        result["generated"]["chained/threshold"] = {
            "metrics": all_metrics(chained, spec),
            "key_agreement": key_agreement(before, chained, spec).to_dict(),
            "density": float(chained.mean()),
            "note_shapes": note_shapes(chained, spec),
        }
        n_chains = -(-n_bars // chain_length)
        positions = chained.reshape(chain_length, n_chains, -1) if len(chained) == n_chains * chain_length else None
        result["chain_density"] = [] if positions is None else [float(p.mean()) for p in positions]
    return result


def chained_bars(generator: Any, spec: RollSpec, starts: np.ndarray, n_bars: int, chain_length: int, seed: int,
                 monophonic: Sequence[int] = (), any_row: bool = False,
                 switch_cost: float | Sequence[float] = 0.0,
                 selection: Selection | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n_bars`` bars in chains of ``chain_length``, each chain going on from one of ``starts``
    (real bars) and then from its own last generated bar, binarised at the threshold.

    Returns:
        ``(bars, previous)``: bool ``(n_chains * chain_length, T, S, P)`` ordered position-major
        (all first generated bars, then all second ones, ...), and the bar each was conditioned on.
    """
    n_chains = -(-n_bars // chain_length)
    current = np.asarray(starts[:n_chains], bool)
    if len(current) < n_chains:
        raise ValueError(f"{n_chains} chains need as many start bars; got {len(current)}")
    made, before = [], []
    for k in range(chain_length):
        bar = thresholded_bars(generator, spec, current, n_chains, seed * 1000 + k, monophonic, any_row, switch_cost,
                               selection)
        made.append(bar)
        before.append(current)
        current = bar
    return np.concatenate(made), np.concatenate(before)


def chain(generator: Any, spec: RollSpec, first: np.ndarray, n_bars: int, seed: int,
          monophonic: Sequence[int] = (), any_row: bool = False,
          switch_cost: float | Sequence[float] = 0.0, selection: Selection | None = None) -> np.ndarray:
    """``first`` (a real bar, bool ``(T, S, P)``) followed by ``n_bars - 1`` generated bars, each
    conditioned on the one before and binarised at the threshold (``monophonic`` tracks one note
    per step, or as voices with ``switch_cost``): bool ``(n_bars, T, S, P)``."""
    bars = [np.asarray(first, bool)]
    for b in range(n_bars - 1):
        bars.append(thresholded_bars(generator, spec, bars[-1][None], 1, seed * 1000 + b, monophonic, any_row,
                                     switch_cost, selection)[0])
    return np.stack(bars)


def track_indices(spec: RollSpec, names: Sequence[str]) -> list[int]:
    """Indices of the named tracks (names the spec lacks are ignored)."""
    known = [t.name for t in spec.tracks]
    return [known.index(name) for name in names if name in known]


def voice_costs(spec: RollSpec, tracks: Sequence[int], switch_costs: Mapping[str, float] | None) -> list[float]:
    """The switch cost of each of ``tracks`` (indices) from ``{voice name: cost}`` (0 where absent)."""
    return [float((switch_costs or {}).get(spec.tracks[t].name, 0.0)) for t in tracks]


def write_comparison(generator: Any, reference: BarSet, path: str | Path, rows: int = 3, n_bars: int = 8,
                     seed: int = 0, monophonic: Sequence[str] = (), any_row: bool = False,
                     switch_costs: Mapping[str, float] | None = None, selection: Selection | None = None) -> Path:
    """A pianoroll PNG: for ``rows`` random pieces, ``n_bars`` real bars, and under them the same
    first bar followed by ``n_bars - 1`` generated bars (chained; ``monophonic`` tracks decoded
    as voices, with ``switch_costs`` as lines).

    Raises:
        ValueError: no piece of the reference is ``n_bars`` long.
    """
    from training.gan.plots import plot_rows

    rng = np.random.default_rng(seed)
    mono = track_indices(reference.spec, monophonic)
    starts = [i for i in range(len(reference)) if i + n_bars <= len(reference)
              and reference.piece[i] == reference.piece[i + n_bars - 1] and reference.bars[i].any()]
    if not starts:
        raise ValueError(f"no piece of the reference has {n_bars} bars")
    chosen = rng.choice(starts, size=min(rows, len(starts)), replace=False)
    drawn: list[np.ndarray] = []
    labels: list[str] = []
    for k, start in enumerate(chosen):
        real = reference.bars[start:start + n_bars]
        drawn += [real, chain(generator, reference.spec, real[0], n_bars, seed + k,
                              mono, any_row, voice_costs(reference.spec, mono, switch_costs), selection)]
        name = reference.piece_ids[reference.piece[start]]
        labels += [f"real {name[:18]}", "generated"]
    return plot_rows(drawn, reference.spec, path, labels,
                     title=f"real bars, and the same first bar followed by {n_bars - 1} generated bars "
                           "(each conditioned on the previous)")


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None, so the JSON is standard."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def targets(result: Mapping[str, Any], column: str, tolerance: float = 0.10, td_tolerance: float = 0.10) -> dict[str, Any]:
    """Which targets a column meets: per-track metrics within ``tolerance`` (relative), TD within
    ``td_tolerance`` (absolute), conditioned key agreement above unconditioned."""
    from training.gan.metrics import relative_gap

    reference, generated = result["reference"], result["generated"][column]["metrics"]
    misses = []
    for track, metrics in reference.items():
        for metric, ref in metrics.items():
            value = generated.get(track, {}).get(metric, math.nan)
            if not _finite(ref):
                continue
            if track == "TD":
                ok = _finite(value) and abs(value - ref) <= td_tolerance
            else:
                gap = relative_gap(value, ref)
                ok = _finite(gap) and gap <= tolerance
            if not ok:
                misses.append(f"{track} {metric}: {value:.3f} vs {ref:.3f}")
    how = column.split("/")[-1].split(",")[0]
    cond = result["generated"].get(f"conditioned/{how}", {}).get("key_agreement", {})
    uncond = result["generated"].get(f"unconditioned/{how}", {}).get("key_agreement", {})
    key_ok = bool(cond and uncond and cond["exact"] > uncond["exact"])
    return {"misses": misses, "all_metrics_within": not misses, "key_agreement_better_conditioned": key_ok}


def report_markdown(result: Mapping[str, Any], title: str) -> str:
    """The evaluation as markdown: metric table, key agreement, targets."""
    columns = {name: value["metrics"] for name, value in result["generated"].items()}
    lines = [f"# {title}", "",
             (f"{result['bars']:,} generated bars per column (conditioned on previous bars drawn from "
              f"the {result['reference_bars']:,} training bars, or unconditioned); binarised by threshold "
              f"{THRESHOLD} or by Bernoulli sampling. `ok` = within 10% of the training value (0.01 absolute "
              "below 0.1), TD within 0.1."), "",
             *([f"Voices ({', '.join(result['monophonic_tracks'])}) are decoded one note per step "
                f"({result.get('voice_decoding', LIKELIEST_ROW)}"
                + (", as lines with switch costs " + ", ".join(f"{k} {v:g}" for k, v in costs.items())
                   if any((costs := result.get("voice_switch_cost") or {}).values()) else "")
                + "), as the daemon decodes them.", ""]
               if result.get("monophonic_tracks") else []),
             *([f"Thresholded bars are the best of {result['candidates']} candidates each (the critic's score"
                + (f" plus {result['length_prior']:g} x the voices' note-length log-likelihood"
                   if result.get("length_prior") else "")
                + "), as the daemon chooses; Bernoulli, unconditioned and raw columns draw one.", ""]
               if result.get("candidates", 1) > 1 else []),
             *(["Every column drops the pitch classes a bar barely plays (below "
                + ", ".join(f"{v:g} x the strongest's weight in {k}" for k, v in floors.items())
                + "), as the exported file does.", ""]
               if (floors := result.get("pitch_class_floor")) else []),
             *(["Notes go on through the cells over the hold floor ("
                + ", ".join(f"{k}: {v:g}" for k, v in holds.items()) + "), as the exported file does.", ""]
               if (holds := result.get("hold_floor")) else []),
             *([(f"A track silent in the bar before comes back only with at least so many cells passing "
                f"the threshold ({', '.join(f'{k}: {v}' for k, v in restarts.items())}; else it stays "
                "silent), as the exported file does."), ""]
               if (restarts := result.get("restart_floor")) else []),
             comparison_table(result["reference"], columns), "",
             "## Key agreement with the previous bar (Krumhansl-Schmuckler, 24 keys)", "",
             "| bars | exact key | same signature | pairs |", "|---|---|---|---|"]
    ref = result["reference_key_agreement"]
    lines.append(f"| training data | {ref['exact']:.3f} | {ref['signature']:.3f} | {ref['pairs']:,} |")
    for name, value in result["generated"].items():
        ka = value["key_agreement"]
        lines.append(f"| {name} | {ka['exact']:.3f} | {ka['signature']:.3f} | {ka['pairs']:,} |")
    lines += ["", "## Density (fraction of active cells)", "", f"- training data: {result['reference_density']:.4f}"]
    lines += [f"- {name}: {value['density']:.4f}" for name, value in result["generated"].items()]
    if result.get("chain_density"):
        lines += ["", "## Chained bars: density at each position of the chains", "",
                  ("Each chain starts from a real bar; bar k is conditioned on the model's own bar k-1. "
                  f"Training data: {result['reference_density']:.4f}."), "",
                  "| bar | " + " | ".join(str(k + 1) for k in range(len(result["chain_density"]))) + " |",
                  "|---|" + "---|" * len(result["chain_density"]),
                  "| density | " + " | ".join(f"{d:.4f}" for d in result["chain_density"]) + " |"]
    if result.get("reference_note_shapes"):
        names = [n for n, v in result["generated"].items() if "note_shapes" in v]
        lines += ["", "## Note shapes (a diagnostic, not a target)", "",
                  "Share of each pitched track's notes that start off the eighth-note grid, and that last one step.", "",
                  "| track | measure | training data | " + " | ".join(names) + " |", "|---|" + "---|" * (2 + len(names))]
        for track, shapes in result["reference_note_shapes"].items():
            for measure, ref in shapes.items():
                cells = [f"{result['generated'][n]['note_shapes'].get(track, {}).get(measure, math.nan):.3f}" for n in names]
                lines.append(f"| {track} | {measure} | {ref:.3f} | " + " | ".join(cells) + " |")
    if result.get("reference_silence_kept"):
        names = [n for n, v in result["generated"].items() if "silence_kept" in v]
        lines += ["", "## Silent tracks stay silent (a diagnostic, not a target)", "",
                  ("Of the bars whose previous bar leaves a track silent, the share that leave it silent too "
                  "(conditioned bars; pairs in brackets)."), "",
                  "| track | training data | " + " | ".join(names) + " |", "|---|" + "---|" * (1 + len(names))]
        for track, ref in result["reference_silence_kept"].items():
            cells = [result["generated"][n]["silence_kept"][track] for n in names]
            lines.append(f"| {track} | {ref['kept']:.3f} ({ref['pairs']:,}) | "
                         + " | ".join(f"{c['kept']:.3f} ({c['pairs']:,})" for c in cells) + " |")
    lines += ["", "## Targets", ""]
    for name in result["generated"]:
        t = targets(result, name)
        lines.append(f"- {name}: metrics within tolerance: {'yes' if t['all_metrics_within'] else 'no'}"
                     f"{'' if not t['misses'] else ' (off: ' + '; '.join(t['misses']) + ')'}; "
                     f"conditioned agrees with the previous key more than unconditioned: "
                     f"{'yes' if t['key_agreement_better_conditioned'] else 'no'}")
    return "\n".join(lines) + "\n"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="GAN checkpoint (.pt) written by 'antiphon train gan'")
    parser.add_argument("--data", default="data", help="corpus cache written by 'antiphon train data' (default: data)")
    parser.add_argument("--source", default=None,
                        help="comma-separated sources (default: the ones the checkpoint was trained on)")
    parser.add_argument("--split", default="train", help="reference split (default: train, the training data)")
    parser.add_argument("--bars", type=int, default=DEFAULT_BARS, help=f"bars per column (default {DEFAULT_BARS:,})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chain", type=int, default=8,
                        help="also measure bars made in chains of this length, each on the model's own previous bar, "
                             "as the daemon plays them (default 8; 0 to skip)")
    add_decoding_arguments(parser)  # the bars are decoded and chosen as an exported file sets it
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--out", default=None, help="folder for eval.md and eval.json (default: the checkpoint's)")


def main(args: argparse.Namespace) -> int:
    import torch

    from training.gan.checkpoint import choose_among, load_checkpoint, with_floors
    from training.gan.data import GanDataError, load_bar_set

    torch.set_num_threads(max(1, args.threads))
    checkpoint = with_floors(choose_among(load_checkpoint(args.checkpoint, args.weights, args.voice_switch_cost),
                                          args.candidates, args.length_prior, args.data),
                             args.pitch_class_floor, args.restart_floor, args.hold_floor)
    selection = Selection.of(checkpoint)
    sources = (args.source.split(",") if args.source else list(checkpoint.training.get("sources", ["grooves"])))
    if args.bars < 1:
        raise GanDataError("--bars must be at least 1")
    reference = load_bar_set(args.data, sources, args.split, checkpoint.spec)
    any_row, costs = checkpoint.any_row, checkpoint.switch_costs
    log.info("evaluating %s on %d generated bars per column against %d %s bars", checkpoint.path, args.bars,
             len(reference), args.split)
    result = evaluate(checkpoint.generator, reference, args.bars, args.seed,
                      monophonic=checkpoint.training.get("monophonic_tracks", []), chain_length=args.chain,
                      any_row=any_row, switch_costs=costs, selection=selection)
    result["candidates"] = args.candidates
    result["length_prior"] = args.length_prior
    result["pitch_class_floor"] = dict(checkpoint.training.get("pitch_class_floor", {}))
    result["restart_floor"] = dict(checkpoint.training.get("restart_floor", {}))
    result["hold_floor"] = dict(checkpoint.training.get("hold_floor", {}))
    result["checkpoint"] = str(checkpoint.path)
    result["generator_weights"] = args.weights
    result["sources"] = sources
    result["split"] = args.split
    out = Path(args.out) if args.out else checkpoint.path.parent
    out.mkdir(parents=True, exist_ok=True)
    weights = " (trained weights)" if args.weights == "trained" else ""
    markdown = report_markdown(result, f"GAN evaluation: {checkpoint.path}{weights} vs {'+'.join(sources)} {args.split}")
    (out / "eval.md").write_text(markdown)
    (out / "eval.json").write_text(json.dumps(json_safe(result), indent=2))
    written = [out / "eval.md", out / "eval.json"]
    try:
        written.append(write_comparison(checkpoint.generator, reference, out / "compare.png", seed=args.seed,
                                        monophonic=result["monophonic_tracks"], any_row=any_row,
                                        switch_costs=costs, selection=selection))
    except ValueError as exc:  # pieces too short to draw: the metrics stand without the picture
        log.warning("no compare.png: %s", exc)
    print(markdown)
    log.info("wrote %s", ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":  # python -m training.gan.evaluate (the same as 'antiphon train gan-eval')
    from daemon.commands import run_module

    run_module("python -m training.gan.evaluate", __doc__.splitlines()[0], configure, main)
