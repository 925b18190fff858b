"""``antiphon train vae-eval``: measure a phrase VAE on the test split's 2-bar phrases.

Example::

    antiphon -v train vae-eval --checkpoint runs/vae-folk/best.pt --data data/ \\
        --out runs/vae-folk/eval.json --attributes-out runs/vae-folk/attributes.json

What it measures (``--out`` keeps every number; the log prints the tables):

* reconstruction: each test phrase (non-overlapping windows of the test tunes) encoded to its
  ``mu`` and decoded greedily (argmax each field); a note counts when the decoded phrase has a
  note of the same onset, pitch and duration. Reported over all notes, as the mean over tunes
  ("by piece") and as the share of phrases rebuilt exactly; with the teacher-forced NLL and
  per-field accuracy, KL per phrase and active units (dimensions whose ``mu`` varies across
  phrases by more than 0.01);
* the prior: ``--samples`` codes from N(0, I), decoded greedily and at temperature 1, against
  the real test phrases' spread (mean, standard deviation, 5th-95th percentile) of pitch-class
  entropy, scale consistency, notes per bar, groove consistency, polyphony, mean pitch, range;
* interpolation: ``--pairs`` pairs of test phrases from different tunes; the midpoint of the
  spherical interpolation between their codes, decoded greedily, against two naive blends (both
  note lists at once; bar 1 of one and bar 2 of the other), by the figure distance of
  :func:`training.vae.metrics.figure_distance` to each end;
* attribute vectors (``--attributes-out``): per attribute (density, register, busyness), the
  mean code of the top quarter of training phrases minus the bottom quarter's; major/minor from
  the key of each phrase's whole tune, parallel modes on the same tonic
  (:func:`training.vae.metrics.mode_vector`), and one major/minor vector per tonic, from every
  phrase moved to every tonic (written as ``attributes_by_tonic``); then test phrases moved along
  each by -1.5 ... +1.5 (the per-tonic vectors: the one of the phrase's key) and decoded: the
  Spearman correlation of the step with the attribute (``major``: the share of major thirds,
  sixths and sevenths on the tonic of the phrase moved), how often the mode flips, and how much
  the other attributes move.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

ATTRIBUTE_STEPS = (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5)
TRANSPOSITIONS = range(-5, 7)  # semitones each phrase is moved by to fit the per-tonic mode vectors (every tonic)
BY_TONIC = "by the phrase's tonic"  # the report row of the per-tonic major/minor vectors


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="the .pt written by 'antiphon train vae'")
    parser.add_argument("--data", type=Path, default=Path("data"), help="folder `antiphon train data` wrote")
    parser.add_argument("--out", type=Path, required=True, help="JSON file for every figure")
    parser.add_argument("--samples", type=int, default=1000, help="prior samples per decoding (default 1000)")
    parser.add_argument("--pairs", type=int, default=300, help="test phrase pairs interpolated (default 300)")
    parser.add_argument("--attributes-out", type=Path, default=None,
                        help="also fit attribute vectors on training phrases and write them here (JSON)")
    parser.add_argument("--attribute-phrases", type=int, default=8000, help="training phrases the vectors are fitted on")
    parser.add_argument("--attribute-tests", type=int, default=200, help="test phrases moved along each vector")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--morph-picture", type=Path, default=None,
                        help="also draw an 8-step greedy morph between two test phrases of different tunes (PNG)")
    parser.add_argument("--write-back", action="store_true", help="store the test figures in the checkpoint's metrics")


def _reconstruction(model: Any, codec: Any, phrases: list[Any], mus: np.ndarray, length: int) -> dict[str, Any]:
    import torch

    from training.vae.decoding import decode_phrases
    from training.vae.metrics import note_matches

    decoded: list[Any] = []
    for i in range(0, len(phrases), 256):
        decoded.extend(decode_phrases(model, torch.from_numpy(mus[i:i + 256]), codec, length))
    by_tune: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    exact = hits_all = total_all = 0
    for phrase, again in zip(phrases, decoded):
        hits, total = note_matches(phrase.notes, again)
        by_tune[phrase.piece][0] += hits
        by_tune[phrase.piece][1] += total
        hits_all, total_all = hits_all + hits, total_all + total
        exact += int(hits == total and len(again) == total)
    per_tune = [h / t for h, t in by_tune.values() if t]
    return {"note_accuracy": hits_all / max(1, total_all), "note_accuracy_by_tune": float(np.mean(per_tune)),
            "note_accuracy_by_tune_std": float(np.std(per_tune)), "exact_phrases": exact / max(1, len(phrases)),
            "notes": total_all, "tunes": len(per_tune)}


def _prior(model: Any, codec: Any, count: int, length: int, seed: int, bar: int,
           real: dict[str, Any]) -> dict[str, Any]:
    import torch

    from training.vae.decoding import decode_phrases
    from training.vae.metrics import figure_spread, phrase_figures

    out = {}
    for name, temperature in (("greedy", 0.0), ("temperature_1", 1.0)):
        generator = torch.Generator().manual_seed(seed)
        z = torch.randn(count, model.config.latent, generator=generator)
        phrases = []
        for i in range(0, count, 256):
            phrases.extend(decode_phrases(model, z[i:i + 256], codec, length, temperature, generator))
        rows = [phrase_figures(p, bar) for p in phrases if p]
        spread = figure_spread(rows)
        within = {k: bool(real[k]["p5"] <= v["mean"] <= real[k]["p95"]) for k, v in spread.items()}
        out[name] = {"figures": spread, "within_real_p5_p95": within, "empty": count - len(rows)}
    return out


def _interpolation(model: Any, codec: Any, phrases: list[Any], mus: np.ndarray, pairs: int, length: int,
                   bar: int, scale: dict[str, float], rng: np.random.Generator) -> dict[str, Any]:
    import torch

    from daemon.models.vae import slerp
    from training.vae.decoding import decode_phrases
    from training.vae.metrics import crossfade, figure_distance, nan_mean, phrase_figures, splice

    chosen = []
    while len(chosen) < pairs:
        i, j = (int(v) for v in rng.integers(0, len(phrases), 2))
        if phrases[i].piece != phrases[j].piece:
            chosen.append((i, j))
    mids = np.stack([slerp(mus[i], mus[j], 0.5) for i, j in chosen]).astype(np.float32)
    decoded = decode_phrases(model, torch.from_numpy(mids), codec, length)
    results: dict[str, list[tuple[float, float]]] = {"vae_midpoint": [], "crossfade": [], "splice": []}
    figures: dict[str, list[dict[str, float]]] = {k: [] for k in results}
    for (i, j), mid in zip(chosen, decoded):
        a, b = phrases[i].notes, phrases[j].notes
        fa, fb = phrase_figures(a, bar), phrase_figures(b, bar)
        for name, blend in (("vae_midpoint", mid), ("crossfade", crossfade(a, b)), ("splice", splice(a, b, bar))):
            f = phrase_figures(blend, bar)
            figures[name].append(f)
            results[name].append((figure_distance(f, fa, scale), figure_distance(f, fb, scale)))
    out: dict[str, Any] = {"pairs": pairs}
    vae = np.array(results["vae_midpoint"])
    for name, values in results.items():
        d = np.array(values)
        worse = np.where(np.isnan(d).any(axis=1), np.nan, d.max(axis=1))
        out[name] = {"mean_distance_to_ends": float(nan_mean(d)), "mean_farther_end": float(nan_mean(worse)),
                     "polyphony": float(nan_mean([f["polyphony"] for f in figures[name]])),
                     "scale_consistency": float(nan_mean([f["scale_consistency"] for f in figures[name]]))}
        if name != "vae_midpoint":
            closer = (vae[:, 0] < d[:, 0]) & (vae[:, 1] < d[:, 1])
            out[name]["vae_closer_to_both_share"] = float(closer.mean())
    return out


def _attributes(model: Any, codec: Any, train_phrases: list[Any], test_phrases: list[Any], test_mus: np.ndarray,
                length: int, args: argparse.Namespace, rng: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch

    from daemon.music.keys import estimate_key
    from training.vae.decoding import decode_phrases, encode_phrases
    from training.vae.metrics import ATTRIBUTES, attribute_values, attribute_vectors, nan_mean, spearman

    pick = rng.choice(len(train_phrases), size=min(args.attribute_phrases, len(train_phrases)), replace=False)
    fit = [train_phrases[int(i)] for i in pick]
    mus, _ = encode_phrases(model, [p.tokens for p in fit], codec)
    values = [attribute_values(p.notes) for p in fit]
    tune_notes: dict[str, list[Any]] = defaultdict(list)
    for phrase in train_phrases:
        tune_notes[phrase.piece].extend(phrase.notes)
    tune_keys = {piece: estimate_key(notes) for piece, notes in tune_notes.items()}
    fit_keys = [tune_keys[p.piece] for p in fit]
    vectors = attribute_vectors(mus, values, tune_keys=fit_keys)
    by_tonic = _mode_by_tonic(model, codec, fit, fit_keys)
    std = {k: float(np.nanstd([v[k] for v in values])) for k in ATTRIBUTES}
    tests = rng.choice(len(test_phrases), size=min(args.attribute_tests, len(test_phrases)), replace=False)
    keys = [estimate_key(test_phrases[int(i)].notes) for i in tests]
    tonics = [None if key is None else key.root for key in keys]  # a moved phrase is judged on its origin's tonic
    moves = {name: (name, np.broadcast_to(vector, test_mus[tests].shape)) for name, vector in vectors.items()}
    if by_tonic is not None:
        zero = np.zeros(by_tonic.shape[1], np.float32)
        moves[f"major {BY_TONIC}"] = ("major", np.stack([zero if t is None else by_tonic[t] for t in tonics]))
    report: dict[str, Any] = {}
    for row, (name, vector) in moves.items():
        by_step: dict[float, list[dict[str, float]]] = {}
        for step in ATTRIBUTE_STEPS:
            z = torch.from_numpy((test_mus[tests] + step * vector).astype(np.float32))
            decoded = decode_phrases(model, z, codec, length)
            by_step[step] = [attribute_values(p, tonic) for p, tonic in zip(decoded, tonics)]
        correlations = []
        for k in range(len(tests)):
            correlations.append(spearman(ATTRIBUTE_STEPS, [by_step[s][k][name] for s in ATTRIBUTE_STEPS]))
        means = {str(s): {a: float(nan_mean([r[a] for r in rows])) for a in ATTRIBUTES} for s, rows in by_step.items()}
        moved = {a: abs(means["1.0"][a] - means["-1.0"][a]) / std[a] if std[a] > 0 else float("nan")
                 for a in ATTRIBUTES}
        report[row] = {"spearman_mean": float(nan_mean(correlations)),
                        "monotonic_share": float(np.mean(np.array(correlations) > 0.8)),
                        "mode_flips": _mode_flips(by_step, keys),
                        "means_by_step": means, "change_per_std_from_-1_to_+1": moved,
                        "vector_norm": float(np.linalg.norm(vector, axis=-1).mean())}
    payload = {"attributes": {k: v.tolist() for k, v in vectors.items()},
               "attributes_by_tonic": {} if by_tonic is None else {"major": by_tonic.tolist()},
               "definition": "mean mu of the top quarter of training phrases minus the bottom quarter (major: phrases "
                             "of major tunes minus those of minor tunes on the same tonic, by the key estimate of the "
                             "whole tune, averaged over the tonics with 20 of each; attributes_by_tonic: one such "
                             "vector per tonic C..B, from every training phrase moved to every tonic)",
               "fitted_on_phrases": len(fit), "attribute_std": std}
    return report, payload


def _mode_by_tonic(model: Any, codec: Any, fit: list[Any], fit_keys: list[Any]) -> np.ndarray | None:
    """One major/minor vector per tonic ``(12, Z)``: every fitted phrase is moved by each of
    :data:`TRANSPOSITIONS` (its tune's key with it) and encoded; on each tonic, the phrases of major
    tunes minus those of minor tunes (:func:`training.vae.metrics.mode_differences`). None when a
    tonic lacks a mode."""
    from daemon.music.keys import Key
    from training.vae.data import allowed_shift
    from training.vae.decoding import encode_phrases
    from training.vae.metrics import mode_differences

    mus, keys = [], []
    for shift in TRANSPOSITIONS:
        rows = [i for i, p in enumerate(fit) if fit_keys[i] is not None
                and allowed_shift(p.tokens, (shift, shift)) == (shift, shift)]
        tokens = []
        for i in rows:
            moved = fit[i].tokens.copy()
            moved[moved[:, 1] < 128, 1] += shift
            tokens.append(moved)
            key = fit_keys[i]
            keys.append(Key((key.root + shift) % 12, key.minor, key.correlation))
        mus.append(encode_phrases(model, tokens, codec)[0])
    differences, counts = mode_differences(np.concatenate(mus), keys)
    return None if (counts == 0).any() else differences.astype(np.float32)


def _mode_flips(by_step: dict[float, list[dict[str, float]]], keys: list[Any]) -> dict[str, float]:
    """Shares of the test phrases in major keys decoded mostly minor (``major`` below 0.5 on their
    tonic) at -1.5, and of those in minor keys decoded mostly major at +1.5, beside the same at 0."""
    low, high = ATTRIBUTE_STEPS[0], ATTRIBUTE_STEPS[-1]
    major = [i for i, k in enumerate(keys) if k is not None and not k.minor]
    minor = [i for i, k in enumerate(keys) if k is not None and k.minor]

    def share(step: float, rows: list[int], to_major: bool) -> float:
        got = [by_step[step][i]["major"] for i in rows]
        got = [v for v in got if not np.isnan(v)]
        return float(np.mean([(v > 0.5) if to_major else (v < 0.5) for v in got])) if got else float("nan")

    return {f"major_to_minor_at_{low:g}": share(low, major, False), "major_to_minor_at_0": share(0.0, major, False),
            f"minor_to_major_at_{high:g}": share(high, minor, True), "minor_to_major_at_0": share(0.0, minor, True),
            "major_phrases": len(major), "minor_phrases": len(minor)}


def _picture(model: Any, codec: Any, phrases: list[Any], mus: np.ndarray, length: int, path: Path,
             rng: np.random.Generator, steps: int = 8) -> dict[str, Any]:
    import torch

    from daemon.models.vae import slerp
    from training.vae.decoding import decode_phrases
    from training.vae.picture import morph_picture

    while True:
        i, j = (int(v) for v in rng.integers(0, len(phrases), 2))
        if phrases[i].piece != phrases[j].piece:
            break
    z = np.stack([slerp(mus[i], mus[j], t / (steps - 1)) for t in range(steps)]).astype(np.float32)
    decoded = decode_phrases(model, torch.from_numpy(z), codec, length)
    a, b = phrases[i], phrases[j]
    title = (f"{steps}-step morph (greedy, from mu) from {a.piece} beat {a.start // codec.grid.ticks_per_beat + 1} to "
             f"{b.piece} beat {b.start // codec.grid.ticks_per_beat + 1}; real phrases outlined in orange")
    morph_picture(path, decoded, a.notes, b.notes, length, codec.grid.ticks_per_beat, title)
    return {"path": str(path), "from": [a.piece, a.start], "to": [b.piece, b.start]}


def main(args: argparse.Namespace) -> int:
    import torch

    from training.vae.checkpoint import load_vae, save_checkpoint
    from training.vae.data import FOLK_SOURCES, load_phrases
    from training.vae.metrics import figure_spread, phrase_figures
    from training.vae.steps import active_units, measure

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    ckpt = load_vae(args.checkpoint)
    model, codec = ckpt.model, ckpt.codec
    length = int(ckpt.phrase["ticks"])
    bar = length // int(ckpt.phrase["bars"])
    sources, voices = tuple(ckpt.phrase.get("sources", FOLK_SOURCES)), str(ckpt.phrase.get("voices", "melody"))
    test = load_phrases(args.data, "test", codec, stride_bars=2, sources=sources, voices=voices)
    log.info("test: %s", test.summary())
    measured = measure(model, [p.tokens for p in test.phrases], codec)
    _, variance = active_units(measured.mus)
    real_rows = [phrase_figures(p.notes, bar) for p in test.phrases]
    real = figure_spread(real_rows)
    scale = {k: v["std"] for k, v in real.items()}
    result: dict[str, Any] = {
        "checkpoint": str(args.checkpoint), "step": ckpt.metrics.get("step"),
        "test": {"phrases": len(test.phrases), "tunes": test.pieces, "skipped": dict(test.skipped)},
        "teacher_forced": {"nll_per_phrase": measured.nll, "accuracy": measured.accuracy},
        "kl_per_phrase": {"mean": measured.kl, "std": float(measured.kl_per_phrase.std())},
        "active_units": measured.active, "latent": model.config.latent,
        "mu_variance_sorted": sorted((float(v) for v in variance), reverse=True),
        "reconstruction": _reconstruction(model, codec, test.phrases, measured.mus, length),
        "real_figures": real,
        "prior": _prior(model, codec, args.samples, length, args.seed, bar, real),
        "interpolation": _interpolation(model, codec, test.phrases, measured.mus, args.pairs, length, bar, scale, rng),
    }
    if args.morph_picture is not None:
        result["morph_picture"] = _picture(model, codec, test.phrases, measured.mus, length, args.morph_picture, rng)
    if args.attributes_out is not None:
        train = load_phrases(args.data, "train", codec, stride_bars=2, sources=sources, voices=voices)
        result["attributes"], payload = _attributes(model, codec, train.phrases, test.phrases, measured.mus, length,
                                                    args, rng)
        args.attributes_out.parent.mkdir(parents=True, exist_ok=True)
        args.attributes_out.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(summary(result))
    if args.write_back:
        payload = ckpt.payload
        metrics = {**payload.get("metrics", {}), "test": {k: result[k] for k in
                   ("teacher_forced", "kl_per_phrase", "active_units", "reconstruction")}}
        save_checkpoint(args.checkpoint, model, codec, payload.get("phrase", {}), payload.get("training", {}), metrics)
    print(f"wrote {args.out}" + (f" and {args.attributes_out}" if args.attributes_out else ""))
    return 0


def summary(result: dict[str, Any]) -> str:
    """The figures as plain-text tables."""
    rec, tf = result["reconstruction"], result["teacher_forced"]
    lines = [f"test: {result['test']['phrases']} phrases from {result['test']['tunes']} tunes",
             (f"reconstruction from mu (greedy): notes {rec['note_accuracy']:.3f}, by tune {rec['note_accuracy_by_tune']:.3f}"
             f" (std {rec['note_accuracy_by_tune_std']:.3f}), exact phrases {rec['exact_phrases']:.3f}"),
             f"teacher-forced: nll {tf['nll_per_phrase']:.2f} nats/phrase, accuracy "
             + ", ".join(f"{k} {v:.3f}" for k, v in tf["accuracy"].items()),
             (f"KL {result['kl_per_phrase']['mean']:.2f} nats/phrase (std {result['kl_per_phrase']['std']:.2f}), "
             f"active units {result['active_units']}/{result['latent']}"),
             f"{'figure':<22}{'real mean':>10}{'real p5-p95':>16}{'prior greedy':>14}{'prior T=1':>11}"]
    for k, v in result["real_figures"].items():
        g, t = result["prior"]["greedy"]["figures"][k], result["prior"]["temperature_1"]["figures"][k]
        lines.append(f"{k:<22}{v['mean']:>10.2f}{v['p5']:>8.2f}-{v['p95']:<7.2f}{g['mean']:>14.2f}{t['mean']:>11.2f}")
    inter = result["interpolation"]
    for name in ("vae_midpoint", "crossfade", "splice"):
        row = inter[name]
        extra = f", VAE closer to both ends in {row['vae_closer_to_both_share']:.2f}" if "vae_closer_to_both_share" in row else ""
        lines.append(f"midpoint {name:<13} distance to ends {row['mean_distance_to_ends']:.3f}, farther end "
                     f"{row['mean_farther_end']:.3f}, polyphony {row['polyphony']:.2f}, scale {row['scale_consistency']:.2f}"
                     + extra)
    for name, row in result.get("attributes", {}).items():
        moved = ", ".join(f"{k} {v:.2f}" for k, v in row["change_per_std_from_-1_to_+1"].items())
        lines.append(f"attribute {name:<9} spearman {row['spearman_mean']:+.2f}, monotonic {row['monotonic_share']:.2f};"
                     f" change -1 -> +1 in stds: {moved}")
        if name.startswith("major"):
            lines.append("  mode flips: " + ", ".join(f"{k} {v:.2f}" for k, v in row["mode_flips"].items()))
    return "\n".join(lines)
