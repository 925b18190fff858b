"""``antiphon train gan-chains``: how a GAN file plays for a long time, window by window.

What a listener hears of the band is a chain: every bar conditioned on the band's last. This
command plays ``--chains`` chains of ``--bars`` bars from an exported ``.onnx`` file exactly as
the daemon and ``antiphon bars`` do (:class:`daemon.models.gan_chain.BarChain`, with the rules
the file carries unless ``--no-rules``), over a chord progression (``--chords``, cycled bar by
bar, for a model that hears chords) or none, and measures each ``--window`` of bars:

* the per-track metrics of :mod:`training.gan.metrics` over every chain's bars of that window,
  beside the training bars' and beside the spread (5th-95th percentile) of the same metric over
  runs of ``--window`` consecutive real bars;
* per chain and window, how many bars leave each track empty (the worst chain-window is what a
  listener of one unlucky set hears);
* **harmony**: the share of the bass and chord tracks' notes whose pitch class is in the chord
  of their bar (ReaLchords' "harmony"), for the chains' bars and for the real grooves under the
  chords they were rendered over.

Writes ``chains.md``, ``chains.json`` and ``chain.png`` (one chain's first bars) to ``--out``.
No torch: it runs the file with onnxruntime.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from daemon.models.gan import GanModel, open_gan
from daemon.models.gan_chain import BarChain, ChainRules, TrackBounds, chain_rules_of, track_statistics
from daemon.models.gan_choice import CHORD_TRACK
from daemon.music.bar_stats import STATISTICS, bar_counts, summarise
from daemon.music.harmony import CHORD_DIM, Chord, chord_vector, parse_progression
from daemon.music.pianoroll import RollSpec
from training.gan.data import BarSet
from training.gan.metrics import all_metrics, relative_gap
from training.gan.options import DEFAULT_BOUNDS_PERCENT, add_chain_arguments

log = logging.getLogger(__name__)

WINDOW_TOLERANCE = 0.15  # a window's metric within 15 % of the training bars' (TD: within 0.1)
TD_TOLERANCE = 0.10
EMPTY_FACTOR = 2.0  # no chain-window may leave a pitched track empty more than twice as often as the data
DRUMS_PRESENT = 0.90  # drums in at least 90 % of the chains' bars
HARMONY_TRACKS = ("bass", "chords")
PICTURE_BARS = 32




def derive_rules(reference: BarSet, revive_after: str | dict[str, int], candidates: int,
                 percent: float = DEFAULT_BOUNDS_PERCENT, steer: bool = True, memory_bars: int = 32,
                 chord_tone_share: float = 0.0, restrike_from: str | dict[str, tuple[int, ...]] = "",
                 gap_weights: str | dict[str, float] = "", warm_up_bars: int = 0,
                 chord_tones: bool = True, tone_tracks: str | Sequence[str] = "") -> ChainRules:
    """Chain rules from the training bars: each track's bounds are the ``percent`` and
    ``100 - percent`` percentiles of its sounding bars' active cells and pitch classes;
    ``revive_after`` is ``{track: bars}`` or its text ``"drums=2,bass=4"`` (tracks left out: never).
    With ``steer``, the training bars' mean counts of every statistic, which candidates are chosen
    to keep the chain near (over ``memory_bars``). ``restrike_from`` is ``{track: steps}`` or its
    text ``"chords=0/8"``: the chosen bar re-struck from each step is a candidate too;
    ``gap_weights`` ``{"track.STAT": w}`` or ``"bass.PP=2"`` weighs those statistics' gaps. With
    ``steer`` and ``chord_tones``, also the chord track's mean steps in its bar's chord, and all its
    steps, over the bars that know their chord (the choice keeps the chain's share near it); and the
    same of each pitched track of ``tone_tracks`` (``"bass"``, or a list of names).

    Raises:
        GanDataError: a track the bars do not have, or a count that is not a whole number >= 0.
    """
    from training.gan.data import GanDataError

    spec = reference.spec
    names = [t.name for t in spec.tracks]
    limits = parse_track_counts(revive_after) if isinstance(revive_after, str) else dict(revive_after)
    restrikes = parse_track_steps(restrike_from) if isinstance(restrike_from, str) else dict(restrike_from)
    weights = parse_gap_weights(gap_weights) if isinstance(gap_weights, str) else dict(gap_weights)
    toned = [n.strip() for n in (tone_tracks.split(",") if isinstance(tone_tracks, str) else tone_tracks) if n.strip()]
    unknown = sorted((set(limits) | set(restrikes) | set(toned) | {k.partition(".")[0] for k in weights}) - set(names))
    if unknown:
        raise GanDataError(f"no track {', '.join(unknown)} in these bars (they have {', '.join(names)})")
    cells, pcs = track_statistics(reference.bars, spec)
    bounds: list[TrackBounds | None] = []
    for t, track in enumerate(spec.tracks):
        sounding = cells[:, t] > 0
        if not sounding.any():
            bounds.append(None)
            continue
        low, high = np.percentile(cells[sounding, t], [percent, 100 - percent])
        pc_range = None
        if not track.drums:
            pc_low, pc_high = np.percentile(pcs[sounding, t], [percent, 100 - percent])
            pc_range = (float(pc_low), float(pc_high))
        bounds.append(TrackBounds((float(low), float(high)), pc_range))
    counts = bar_counts(reference.bars, spec).mean(axis=0) if steer else None
    restrike = tuple(tuple(restrikes.get(n, ())) for n in names) if restrikes else ()
    table = tuple(tuple(float(weights.get(f"{n}.{s}", 1.0)) for s in STATISTICS) for n in names) if weights else ()
    if any(reference.spec.tracks[names.index(n)].drums or n == CHORD_TRACK for n in toned):
        raise GanDataError(f"chord tones are kept for pitched tracks other than {CHORD_TRACK}, not {', '.join(toned)}")
    tones = chord_tone_counts(reference) if steer and chord_tones else None
    others = tuple(chord_tone_counts(reference, n) if steer and n in toned else None for n in names)
    return ChainRules(tuple(int(limits.get(n, 0)) for n in names), tuple(bounds), candidates, counts, memory_bars,
                      chord_tone_share, restrike, table, warm_up_bars, tones,
                      others if any(p is not None for p in others) else ())


def chord_tone_counts(reference: BarSet, track: str = CHORD_TRACK) -> tuple[float, float] | None:
    """The track's mean (steps in its bar's chord, steps) per bar over the bars that know their
    chord (None: no such track, or no bar knows its chord)."""
    names = [t.name for t in reference.spec.tracks]
    if track not in names or reference.chords is None or not (reference.chords[:, -1] > 0).any():
        return None
    known = reference.chords[:, -1] > 0
    chroma = summarise(reference.bars[known], reference.spec).chroma[:, names.index(track)]  # (N, 12)
    inside = (chroma * (reference.chords[known, :12] > 0)).sum(axis=1)
    return float(inside.mean()), float(chroma.sum(axis=1).mean())


def parse_track_counts(text: str) -> dict[str, int]:
    """``"drums=2,bass=4"`` -> ``{"drums": 2, "bass": 4}``.

    Raises:
        GanDataError: an entry that is not ``track=N`` with N a whole number >= 0.
    """
    from training.gan.data import GanDataError

    out: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, value = part.partition("=")
        if not value.strip().isdigit():
            raise GanDataError(f"{part!r}: give track=N with N a whole number of bars, e.g. drums=2,bass=4")
        out[name.strip()] = int(value)
    return out


def parse_track_steps(text: str) -> dict[str, tuple[int, ...]]:
    """``"chords=0/8"`` -> ``{"chords": (0, 8)}``.

    Raises:
        GanDataError: an entry that is not ``track=STEP/STEP...`` with whole numbers >= 0.
    """
    from training.gan.data import GanDataError

    out: dict[str, tuple[int, ...]] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, value = part.partition("=")
        steps = [s.strip() for s in value.split("/")]
        if not all(s.isdigit() for s in steps):
            raise GanDataError(f"{part!r}: give track=STEP/STEP with whole numbers of steps, e.g. chords=0/8")
        out[name.strip()] = tuple(int(s) for s in steps)
    return out


def parse_gap_weights(text: str) -> dict[str, float]:
    """``"bass.PP=2"`` -> ``{"bass.PP": 2.0}``.

    Raises:
        GanDataError: an entry that is not ``track.STAT=W`` with a statistic of
            :data:`daemon.music.bar_stats.STATISTICS` and W a number >= 0.
    """
    from training.gan.data import GanDataError

    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, _, value = part.partition("=")
        stat = key.strip().partition(".")[2]
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if stat not in STATISTICS or not weight >= 0:
            raise GanDataError(f"{part!r}: give track.STAT=W with STAT one of {', '.join(STATISTICS)}, e.g. bass.PP=2")
        out[key.strip()] = weight
    return out


def play_chains(model: GanModel, n_chains: int, n_bars: int, seed: int, progression: tuple[Chord, ...] = (),
                rules: ChainRules | None = None, threshold: float = 0.5) -> tuple[np.ndarray, int]:
    """``n_chains`` chains of ``n_bars`` bars, bool ``(chains, bars, T, S, P)``, as the daemon plays
    them under ``rules``: a count-in bar, then each bar on the chain's own; and how many times a
    track was revived."""
    rng = np.random.default_rng(seed)
    chain = BarChain(model, rules, n_chains)
    chords = [chord_vector([c]) for c in progression] if model.hears_chords and progression else []
    chord = (lambda b: chords[b % len(chords)]) if chords else (lambda b: None)
    chain.start(rng, threshold, chord(0))  # the count-in: the bar the band has "just played"
    bars = [chain.step(rng, threshold, chord(b)) for b in range(n_bars)]
    return np.stack(bars, axis=1), chain.revived


def note_onsets(active: np.ndarray, spec: RollSpec, track: int) -> tuple[np.ndarray, np.ndarray]:
    """(bar index, pitch class) of every note of ``track`` in bool ``(N, T, S, P)`` bars."""
    roll = np.asarray(active, bool)[:, track]  # (N, S, P)
    before = np.concatenate([np.zeros_like(roll[:, :1]), roll[:, :-1]], axis=1)
    bar, _, row = np.nonzero(roll & ~before)
    return bar, (spec.tracks[track].lowest_pitch + row) % 12


def harmony(active: np.ndarray, chords: np.ndarray, spec: RollSpec,
            tracks: tuple[str, ...] = HARMONY_TRACKS) -> dict[str, float]:
    """Note-in-chord share of each of ``tracks`` and of them all, against ``chords`` ``(N, 13)``
    (bars whose chord flag is 0 are left out)."""
    names = [t.name for t in spec.tracks]
    hits = total = 0
    out: dict[str, float] = {}
    known = np.asarray(chords)[:, -1] > 0
    for name in tracks:
        if name not in names:
            continue
        bar, pc = note_onsets(active, spec, names.index(name))
        keep = known[bar]
        inside = np.asarray(chords)[bar[keep], pc[keep]] > 0
        out[name] = float(inside.mean()) if len(inside) else math.nan
        hits += int(inside.sum())
        total += len(inside)
    out["all"] = hits / total if total else math.nan
    return out


def real_runs(reference: BarSet, length: int) -> list[np.ndarray]:
    """Runs of ``length`` consecutive training bars (corpus order, across piece boundaries)."""
    n = len(reference) // length
    return [reference.bars[i * length:(i + 1) * length] for i in range(n)]


def flat_metrics(active: np.ndarray, spec: RollSpec) -> dict[str, float]:
    """``{"track metric": value}`` of :func:`all_metrics` (NaN entries left out)."""
    out: dict[str, float] = {}
    for track, metrics in all_metrics(active, spec).items():
        for name, value in metrics.items():
            if math.isfinite(value):
                out[f"{track} {name}" if track != "TD" else f"TD {name}"] = value
    return out


def within(name: str, value: float, reference: float) -> bool:
    if not math.isfinite(value):
        return False
    if name.startswith("TD "):
        return abs(value - reference) <= TD_TOLERANCE
    return relative_gap(value, reference) <= WINDOW_TOLERANCE


def evaluate_chains(model: GanModel, reference: BarSet, n_chains: int, n_bars: int, window: int, seed: int,
                    progression: tuple[Chord, ...] = (), rules: ChainRules | None = None) -> dict[str, Any]:
    """The per-window report (see the module docstring) as a JSON-able dict."""
    spec = model.spec
    bars, revived = play_chains(model, n_chains, n_bars, seed, progression, rules)
    names = [t.name for t in spec.tracks]
    ref = flat_metrics(reference.bars, spec)
    runs = [flat_metrics(run, spec) for run in real_runs(reference, window)]
    spread = {k: (float(np.nanpercentile([r.get(k, math.nan) for r in runs], 5)),
                  float(np.nanpercentile([r.get(k, math.nan) for r in runs], 95))) for k in ref}
    windows = []
    empty_rate = {t: float((~reference.bars[:, i].any(axis=(1, 2))).mean()) for i, t in enumerate(names)}
    for w in range(n_bars // window):
        part = bars[:, w * window:(w + 1) * window]  # (C, W, T, S, P)
        metrics = flat_metrics(part.reshape(-1, *spec.bar_shape), spec)
        empty = (~part.any(axis=(3, 4))).mean(axis=1)  # (C, T) per chain, share of the window's bars empty
        windows.append({"bars": [w * window + 1, (w + 1) * window], "metrics": metrics,
                        "off": [k for k in ref if not within(k, metrics.get(k, math.nan), ref[k])],
                        "worst_empty": {t: float(empty[:, i].max()) for i, t in enumerate(names)},
                        "drums_present": float(1 - empty[:, names.index("drums")].mean()) if "drums" in names else math.nan})
    pitched = [t for t, track in zip(names, spec.tracks, strict=True) if not track.drums]
    result: dict[str, Any] = {
        "chains": n_chains, "bars": n_bars, "window": window, "seed": seed, "rules": rules is not None,
        "chain_rules": None if rules is None else rules.to_dict(spec),
        "progression": [c.name for c in progression] if model.hears_chords else [],
        "revived": revived,
        "reference": ref, "reference_runs": {k: list(v) for k, v in spread.items()}, "reference_empty": empty_rate,
        "windows": windows,
        "drums_present": float(bars[:, :, names.index("drums")].any(axis=(2, 3)).mean()) if "drums" in names else math.nan,
    }
    result["checks"] = {
        "every window within tolerance": all(not w["off"] for w in windows),
        "no pitched track empty over twice the data's rate in any chain-window":
            all(w["worst_empty"][t] <= EMPTY_FACTOR * empty_rate[t] for w in windows for t in pitched),
        "drums in at least 90 % of bars": result["drums_present"] >= DRUMS_PRESENT,
    }
    if model.hears_chords and progression:
        chords = np.concatenate([chord_vector([progression[b % len(progression)]]) for b in range(n_bars)])
        flat = bars.reshape(-1, *spec.bar_shape)
        result["harmony"] = harmony(flat, np.tile(chords, (n_chains, 1)), spec)
    assert reference.chords is not None
    if reference.chords[:, -1].any():
        result["reference_harmony"] = harmony(reference.bars, reference.chords, spec)
    result["_bars"] = bars
    return result


def report_markdown(result: dict[str, Any], title: str) -> str:
    ref, spread = result["reference"], result["reference_runs"]
    lines = [f"# {title}", "",
             (f"{result['chains']} chains of {result['bars']} bars (seed {result['seed']}), windows of "
             f"{result['window']} bars; chain rules {'on' if result['rules'] else 'off'}"
             f"{': ' + json.dumps(result['chain_rules']) if result.get('chain_rules') else ''}; "
             f"progression {' '.join(result['progression']) or 'none'}. A window's metric is over all chains' bars "
             f"of that window; 'ok' within {WINDOW_TOLERANCE:.0%} of the training bars (TD within {TD_TOLERANCE}). "
             f"Real runs: 5th-95th percentile of the metric over runs of {result['window']} consecutive training bars."),
             "", "| metric | training bars | real runs | " + " | ".join(
                 f"{w['bars'][0]}-{w['bars'][1]}" for w in result["windows"]) + " |",
             "|---|---:|---:|" + "---:|" * len(result["windows"])]
    for key, value in ref.items():
        cells = [f"{w['metrics'].get(key, math.nan):.3f}{'' if key not in w['off'] else ' **off**'}"
                 for w in result["windows"]]
        lines.append(f"| {key} | {value:.3f} | {spread[key][0]:.3f}-{spread[key][1]:.3f} | " + " | ".join(cells) + " |")
    lines += ["", ("Worst chain-window: the share of a window's bars that leave the track empty, in the chain where "
              "it is highest (training bars' rate in brackets)."), "",
              "| track | data | " + " | ".join(f"{w['bars'][0]}-{w['bars'][1]}" for w in result["windows"]) + " |",
              "|---|---:|" + "---:|" * len(result["windows"])]
    for track, rate in result["reference_empty"].items():
        lines.append(f"| {track} | {rate:.3f} | " + " | ".join(f"{w['worst_empty'][track]:.3f}" for w in result["windows"]) + " |")
    lines += ["", f"Drums sound in {result['drums_present']:.1%} of the chains' bars; tracks revived: {result['revived']}."]
    if "harmony" in result or "reference_harmony" in result:
        lines += ["", "Harmony (share of notes whose pitch class is in the bar's chord):", ""]
        if "harmony" in result:
            lines.append("- chains over " + " ".join(result["progression"]) + ": " + ", ".join(
                f"{k} {v:.3f}" for k, v in result["harmony"].items()))
        if "reference_harmony" in result:
            lines.append("- real grooves under their own chords: " + ", ".join(
                f"{k} {v:.3f}" for k, v in result["reference_harmony"].items()))
    lines += ["", "## Checks", ""] + [f"- {name}: {'yes' if ok else 'NO'}" for name, ok in result["checks"].items()]
    return "\n".join(lines) + "\n"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="an exported GAN .onnx file (e.g. presets/gan-grooves.onnx)")
    parser.add_argument("--data", default="data", help="corpus cache written by 'antiphon train data' (default: data)")
    parser.add_argument("--source", default="grooves", help="comma-separated reference sources (default: grooves)")
    parser.add_argument("--split", default="train", help="reference split (default: train)")
    parser.add_argument("--chains", type=int, default=64, help="chains played side by side (default 64)")
    parser.add_argument("--bars", type=int, default=256, help="bars per chain (default 256)")
    parser.add_argument("--window", type=int, default=32, help="bars per window (default 32)")
    parser.add_argument("--chords", default="", help="chord progression, one chord a bar, cycled (e.g. 'C Am F G7'); "
                                                     "for a model that hears chords (default: none)")
    parser.add_argument("--no-rules", action="store_true", help="chain plainly, without the file's chain rules")
    add_chain_arguments(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="folder for chains.md, chains.json and chain.png")


def main(args: argparse.Namespace) -> int:
    from training.gan.data import GanDataError, load_bar_set
    from training.gan.plots import plot_rows

    if args.chains < 1 or args.window < 1 or args.bars < args.window:
        raise GanDataError("--chains must be at least 1 and --bars at least one --window")
    model = open_gan(args.model)
    progression = parse_progression(args.chords) if args.chords.strip() else ()
    if progression and not model.hears_chords:
        log.warning("%s hears no chords; --chords only measures its harmony", args.model)
    reference = load_bar_set(args.data, args.source.split(","), args.split, model.spec)
    rules = None if args.no_rules else chain_rules_of(model)
    if args.revive_after is not None:  # rules to try, from the training bars (as export writes them)
        rules = derive_rules(load_bar_set(args.data, args.source.split(","), "train", model.spec), args.revive_after,
                             args.chain_candidates, args.chain_bounds, not args.no_steer, args.memory_bars,
                             args.chord_tone_share, args.restrike_from, args.gap_weights, args.warm_up_bars,
                             tone_tracks=args.chord_tone_tracks)
    result = evaluate_chains(model, reference, args.chains, args.bars, args.window, args.seed, progression, rules)
    if progression and "harmony" not in result:
        chords = np.concatenate([chord_vector([progression[b % len(progression)]]) for b in range(args.bars)])
        result["harmony"] = harmony(result["_bars"].reshape(-1, *model.spec.bar_shape),
                                    np.tile(chords, (args.chains, 1)), model.spec)
    bars = result.pop("_bars")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    markdown = report_markdown(result, f"GAN chains: {args.model}")
    (out / "chains.md").write_text(markdown)
    (out / "chains.json").write_text(json.dumps(result, indent=2, default=float))
    shown = min(PICTURE_BARS, args.bars)
    plot_rows([bars[0, :shown], bars[0, -shown:]], model.spec, out / "chain.png",
              [f"bars 1-{shown}", f"bars {args.bars - shown + 1}-{args.bars}"],
              title=f"one chain of {args.bars} bars, its first and last {shown}")
    print(markdown)
    return 0 if all(result["checks"].values()) else 1


__all__ = ["CHORD_DIM", "evaluate_chains", "harmony", "play_chains"]
